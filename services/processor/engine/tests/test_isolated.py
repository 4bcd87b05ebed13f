"""optimize_isolated: a child process enforces timeout and memory ceiling; errors stay clean."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.processor.engine import (
    EngineError,
    EngineInterrupted,
    Limits,
    OptimizeOptions,
    optimize_isolated,
)
from services.processor.engine.isolated import CHILD_ENV_KEYS, Sandbox

from .conftest import encode, photo


def test_returns_the_same_kind_of_result() -> None:
    result = optimize_isolated(encode(photo(), "PNG"), OptimizeOptions(format="webp"), Limits())
    assert result.main.format == "webp" and result.main.data.startswith(b"RIFF")


def test_corrupt_input_fails_with_its_code_and_the_next_job_runs() -> None:
    data = encode(photo(), "JPEG")
    with pytest.raises(EngineError) as err:
        optimize_isolated(data[: len(data) // 3], OptimizeOptions(), Limits())
    assert err.value.code == "corrupt_image"
    assert optimize_isolated(data, OptimizeOptions(), Limits()).main.data


def test_timeout() -> None:
    data = encode(photo(600, 400), "PNG")
    with pytest.raises(EngineError) as err:
        optimize_isolated(data, OptimizeOptions(format="avif"), Limits(timeout_s=0.01))
    assert err.value.code == "timeout"


def test_memory_ceiling() -> None:
    data = encode(photo(2000, 2000), "PNG")
    with pytest.raises(EngineError) as err:
        optimize_isolated(data, OptimizeOptions(), Limits(max_memory_mb=60))
    assert err.value.code == "too_large"


def test_oversized_input_is_refused_before_spawning() -> None:
    with pytest.raises(EngineError) as err:
        optimize_isolated(b"\xff\xd8\xff" + b"0" * 2000, OptimizeOptions(), Limits(max_bytes=1000))
    assert err.value.code == "too_large"


SECRETS = {
    "MASTER_KEY": "master-key-secret",
    "DATABASE_URL": "postgresql://user:db-secret@db/picopt",
    "AMQP_URL": "amqp://user:amqp-secret@broker/",
    "AWS_SECRET_ACCESS_KEY": "s3-secret",
    "AWS_ACCESS_KEY_ID": "s3-key-id",
}


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.fixture
def fresh_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A host started from a process whose environment holds every secret a worker has."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    box = Sandbox("auto")
    yield box
    box.close()


def _slow_job(box: Sandbox) -> tuple[threading.Thread, list[BaseException]]:
    """A job that runs for seconds, so its child can be looked at (or killed)."""
    errors: list[BaseException] = []
    data = encode(photo(1200, 900), "PNG")

    def run() -> None:
        try:
            box.optimize(data, OptimizeOptions(accept=("avif",)), Limits(timeout_s=60))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _wait_for_child(host: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if children := _children(host):
            return children[0]
        time.sleep(0.05)
    raise AssertionError("the job's child never appeared")


def test_the_decoder_sees_no_secret_and_no_network(fresh_sandbox: Sandbox) -> None:
    status = fresh_sandbox.start()
    thread, _ = _slow_job(fresh_sandbox)
    child = _wait_for_child(status.pid)
    try:
        for pid in (status.pid, child):
            environment = _environ(pid)
            assert set(environment) <= set(CHILD_ENV_KEYS)
            raw = Path(f"/proc/{pid}/environ").read_bytes()
            assert not any(secret.encode() in raw for secret in SECRETS.values())
            ours = os.readlink("/proc/self/ns/net")
            if status.network == "isolated":
                assert os.readlink(f"/proc/{pid}/ns/net") != ours
            else:  # the platform refused: the reason is in the status (and the log)
                assert status.how.startswith("unshare refused")
    finally:
        fresh_sandbox.close()  # kills the job's child with its host
        thread.join()
    assert status.environment == tuple(sorted(set(CHILD_ENV_KEYS) & set(os.environ)))


def test_a_killed_child_is_a_clean_error_and_the_next_job_runs(fresh_sandbox: Sandbox) -> None:
    status = fresh_sandbox.start()
    thread, errors = _slow_job(fresh_sandbox)
    os.kill(_wait_for_child(status.pid), signal.SIGKILL)
    thread.join()
    assert isinstance(errors[0], EngineError) and errors[0].code == "corrupt_image"
    assert "exit code -9" in errors[0].message
    result = fresh_sandbox.optimize(encode(photo(), "PNG"), OptimizeOptions(), Limits())
    assert result.main.data


def test_one_host_runs_jobs_of_several_threads_at_once(fresh_sandbox: Sandbox) -> None:
    """A worker with WORKER_CONCURRENCY > 1 shares its host: each job gets its own child at
    the same time, and one child's end is only its own job's."""
    status = fresh_sandbox.start()
    jobs = [_slow_job(fresh_sandbox) for _ in range(2)]
    deadline = time.monotonic() + 30
    while len(_children(status.pid)) < 2:
        assert time.monotonic() < deadline, "the two jobs never ran at once"
        time.sleep(0.05)
    first, second = _children(status.pid)[:2]
    os.kill(first, signal.SIGKILL)
    os.kill(second, signal.SIGKILL)
    for thread, errors in jobs:
        thread.join()
        assert isinstance(errors[0], EngineError) and errors[0].code == "corrupt_image"
    assert fresh_sandbox.start().pid == status.pid


def test_a_dead_host_is_started_again(fresh_sandbox: Sandbox) -> None:
    first = fresh_sandbox.start()
    os.kill(first.pid, signal.SIGKILL)
    time.sleep(0.2)
    result = fresh_sandbox.optimize(encode(photo(), "PNG"), OptimizeOptions(), Limits())
    assert result.main.data
    assert fresh_sandbox.status is not None and fresh_sandbox.status.pid != first.pid


_REFUSING_PLATFORM = (
    "echo 0 > /proc/sys/user/max_net_namespaces && "
    "echo 0 > /proc/sys/user/max_user_namespaces && exec {python} -c {code}"
)
_START = (
    "import sys; from services.processor.engine.isolated import Sandbox\n"
    "try:\n    print(Sandbox(sys.argv[1]).start())\n"
    "except RuntimeError as exc:\n    print('refused:', exc)"
)


def _on_a_platform_without_namespaces(mode: str) -> str:
    """Start a sandbox inside a user namespace allowed no new namespaces at all: unshare fails
    there as it does in a container without the capability (skipped where user namespaces
    cannot be made, e.g. inside such a container)."""
    if shutil.which("unshare") is None:
        pytest.skip("util-linux unshare is not installed")
    script = _REFUSING_PLATFORM.format(python=sys.executable, code=shlex.quote(_START))
    run = subprocess.run(
        ["unshare", "--user", "--map-root-user", "sh", "-c", f"{script} {mode}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[4],
    )
    if run.returncode != 0 and "unshare failed" in run.stderr:
        pytest.skip("this platform allows no user namespace to test in")
    assert run.returncode == 0, run.stderr
    return run.stdout + run.stderr


def test_auto_falls_back_and_says_so_where_namespaces_are_refused() -> None:
    out = _on_a_platform_without_namespaces("auto")
    assert "network='shared'" in out and "unshare refused: No space left on device" in out
    assert "engine_sandbox_started" in out


def test_required_refuses_to_start_where_namespaces_are_refused() -> None:
    out = _on_a_platform_without_namespaces("required")
    assert "refused: the decoder host did not start: unshare refused" in out


def test_a_host_stopped_under_a_job_interrupts_it_without_failing_it(
    fresh_sandbox: Sandbox,
) -> None:
    """Not the image's doing: the worker leaves such a job for another attempt."""
    status = fresh_sandbox.start()
    thread, errors = _slow_job(fresh_sandbox)
    _wait_for_child(status.pid)
    os.kill(status.pid, signal.SIGKILL)
    thread.join()
    assert isinstance(errors[0], EngineInterrupted)
    result = fresh_sandbox.optimize(encode(photo(), "PNG"), OptimizeOptions(), Limits())
    assert result.main.data


HEAPS_AFTER_A_JOB = """
import sys
from pathlib import Path
from picopt.kernel import malloc
from services.processor.engine.sandbox_host import load_engine
from services.processor.engine import optimize

if sys.argv[2] == "host":
    load_engine()
optimize(Path(sys.argv[1]).read_bytes())
print(malloc.heaps())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_the_host_makes_every_job_share_two_heaps(tmp_path: Path) -> None:
    """libvips' workers and the metric's pool allocate on threads of their own: set up as the
    decoder host is, a job's threads share two heaps instead of keeping one each."""
    source = tmp_path / "photo.png"
    source.write_bytes(encode(photo(1200, 800), "PNG"))

    def heaps(setup: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", HEAPS_AFTER_A_JOB, str(source), setup],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return int(run.stdout.strip().splitlines()[-1])

    assert heaps("plain") > 2  # the setting is what keeps it at two
    assert heaps("host") <= 2


def test_the_decoder_host_loads_the_engine_warm_and_without_threads() -> None:
    """What every child would otherwise do first (Pillow's plugins, the predictor's
    parameters) is done once in the host, and it starts no thread beyond those the libraries
    start on import (OpenBLAS's, which handle fork): a thread made before the fork does not
    exist in the children, and a pool that thinks it has one waits for ever."""
    probe = (
        "import os\n"
        "from services.processor.engine import pipeline\n"
        "before = len(os.listdir('/proc/self/task'))\n"
        "from services.processor.engine.sandbox_host import load_engine\n"
        "load_engine()\n"
        "from PIL import Image\n"
        "from services.processor.engine.predict import models\n"
        "print(before, len(os.listdir('/proc/self/task')), Image._initialized,"
        " models.cache_info().currsize)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    before, after, initialized, cached = done.stdout.split()
    assert after == before
    assert initialized == "2" and cached == "1"
