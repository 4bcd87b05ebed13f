"""`make up`: the one-machine supervisor starts everything, restarts what dies, gives up on a
crash loop, and stops everything on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from structlog.testing import capture_logs

from picopt.devstack import (
    GRPC_SERVICES,
    ROOT,
    RestartPolicy,
    Stack,
    StackError,
    ensure_broker,
    free_port,
    health_status,
)
from tests.integration.harness import fresh_database, fresh_vhost, infrastructure
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def reachable_tmp() -> Iterator[Path]:
    """A work dir the broker's own user can reach (pytest's tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="picopt-up-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def one_machine_env(tmp_path: Path, amqp_url: str) -> dict[str, str]:
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "AMQP_URL": amqp_url}
    env["GATEWAY_PORT"] = str(free_port())
    for service in GRPC_SERVICES:
        port = free_port()
        env[f"{service.upper()}_GRPC_PORT"] = str(port)
        env[f"{service.upper()}_ADDR"] = f"127.0.0.1:{port}"
    env.pop("DATABASE_URL", None)  # embedded SQLite defaults
    return env


@pytest.mark.skipif(
    shutil.which("rabbitmq-server") is None, reason="needs a rabbitmq-server installation"
)
def test_up_starts_a_private_broker_when_none_answers_and_stops_all_on_sigterm(
    reachable_tmp: Path,
) -> None:
    tmp_path = reachable_tmp
    env = one_machine_env(tmp_path, f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "picopt.devstack"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}/healthz"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "up.log").read_text()[-2000:]
            try:
                if requests.get(gateway, timeout=1).ok and all(
                    health_status(env[f"{s.upper()}_ADDR"]) == "SERVING" for s in GRPC_SERVICES
                ):
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "stack did not become healthy"
            time.sleep(0.5)
        assert (tmp_path / "var" / "rabbitmq" / "rabbitmq.conf").exists()
        assert (tmp_path / "var" / "auth.db").exists(), "SQLite is the embedded default"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        log.close()
    output = (tmp_path / "up.log").read_text()
    assert code == 0, output[-2000:]
    # One machine's default: the processor's API process runs the jobs, one at a time, and no
    # worker process starts.
    assert "worker.1 |" not in output
    processor = [line for line in output.splitlines() if " processor | " in line]
    consumers = [line for line in processor if '"consumer_started"' in line]
    assert sum("processor.job.submitted" in line for line in consumers) == 1
    for service in GRPC_SERVICES:
        assert health_status(env[f"{service.upper()}_ADDR"]) == "UNREACHABLE"
    with pytest.raises(requests.RequestException):
        requests.get(gateway, timeout=1)
    broker_dir = str(tmp_path / "var" / "rabbitmq")
    assert not [cmd for cmd in command_lines() if broker_dir in cmd], "the private broker must stop"


def command_lines() -> list[str]:
    lines = []
    for proc_dir in Path("/proc").iterdir():
        if proc_dir.name.isdigit():
            try:
                lines.append(
                    (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
                )
            except OSError:
                continue
    return lines


def refused_up(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`make up` expected to refuse before starting anything: its exit and what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "picopt.devstack"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_up_fails_fast_with_advice_when_no_broker_can_be_had(tmp_path: Path) -> None:
    env = one_machine_env(tmp_path, f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")
    env["PATH"] = str(Path(sys.executable).parent)  # no rabbitmq-server on it
    result = refused_up(env)
    assert result.returncode == 2
    assert "rabbitmq-server is not installed" in result.stderr
    assert "AMQP_URL" in result.stderr


def test_up_refuses_at_once_when_a_stack_left_running_holds_its_ports(tmp_path: Path) -> None:
    """`make up` twice: the second names the taken ports and starts nothing."""
    env = one_machine_env(tmp_path, infrastructure().amqp_base + "/%2F")
    with socket.create_server(("127.0.0.1", 0)) as auth_port:
        env["AUTH_GRPC_PORT"] = str(auth_port.getsockname()[1])
        result = refused_up(env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{env['AUTH_GRPC_PORT']} (auth gRPC (AUTH_GRPC_PORT))" in result.stderr
    assert "earlier `make up`" in result.stderr


def test_a_broker_slow_to_answer_is_waited_for_never_replaced_by_a_private_one(
    tmp_path: Path,
) -> None:
    """Under load the shared broker took longer than the probe to finish a handshake, and the
    stack started a private broker instead (without the test's vhost): the vision tests'
    third stack failed to start. Something listening at AMQP_URL is a broker to wait for."""
    with TcpProxy("127.0.0.1", free_port(), before_forwarding=lambda: time.sleep(30)) as silent:
        env = {
            "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{silent.port}/%2F",
            "AMQP_STARTUP_TIMEOUT_S": "1",
        }
        with pytest.raises(StackError, match="no AMQP handshake completed within 1 s"):
            ensure_broker(env, tmp_path / "var")
    assert env["AMQP_URL"].endswith(f":{silent.port}/%2F")
    assert not (tmp_path / "var" / "rabbitmq").exists(), "no private broker"
    broker = urlsplit(infrastructure().amqp_base)
    with TcpProxy(
        broker.hostname or "127.0.0.1", broker.port or 5672, lambda: time.sleep(4)
    ) as slow:
        env = {"AMQP_URL": f"amqp://guest:guest@127.0.0.1:{slow.port}/%2F"}
        assert ensure_broker(env, tmp_path / "var") is None  # slower than the 1 s probe
    assert not (tmp_path / "var" / "rabbitmq").exists(), "no private broker"


def test_a_service_started_before_its_broker_waits_for_it(tmp_path: Path) -> None:
    """The broker may come up after the services (a node restart, a rollout): they wait."""
    name = f"picopt_late_{uuid.uuid4().hex[:8]}"
    port = free_port()
    with fresh_database(name) as db_url:
        env = {
            **os.environ,
            "VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": db_url,
            # A vhost that does not exist yet: the broker refuses, as if it were not up.
            "AMQP_URL": f"{infrastructure().amqp_base}/{name}",
            "AUTH_GRPC_PORT": str(port),
            "AUTH_SECRET": "test-secret",
        }
        log_path = tmp_path / "auth.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.auth"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + 60
                while b"broker_unavailable_retrying" not in log_path.read_bytes():
                    assert proc.poll() is None, log_path.read_text()[-2000:]
                    assert time.monotonic() < deadline, "the service never tried the broker"
                    time.sleep(0.2)
                with fresh_vhost(name):
                    deadline = time.monotonic() + 60
                    while health_status(f"127.0.0.1:{port}") != "SERVING":
                        assert proc.poll() is None, log_path.read_text()[-2000:]
                        assert time.monotonic() < deadline, (
                            "the service did not start after the broker"
                        )
                        time.sleep(0.2)
                    proc.send_signal(signal.SIGTERM)
                    assert proc.wait(timeout=60) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()


def supervised(tmp_path: Path, procfile: str, policy: RestartPolicy) -> Stack:
    """A stack of stand-in processes (the real broker, nothing else) under the supervisor."""
    (tmp_path / "Procfile").write_text(procfile)
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var")}
    return Stack(env=env, echo=False, restart_policy=policy, procfile=tmp_path / "Procfile")


IDLE = "idle: python -m http.server --bind 127.0.0.1 0\n"


def test_a_process_killed_from_outside_is_restarted_and_logged(tmp_path: Path) -> None:
    stack = supervised(tmp_path, IDLE, RestartPolicy(first_delay_s=0.2))
    with capture_logs() as logs:
        stack.start()
        try:
            first = stack.processes["idle"].popen
            assert first is not None
            os.killpg(first.pid, signal.SIGKILL)  # as the OOM killer would
            deadline = time.monotonic() + 20
            while stack.processes["idle"].popen is first or not logs_with(
                logs, "process_restarted"
            ):
                assert time.monotonic() < deadline, "not restarted"
                time.sleep(0.05)
            again = stack.processes["idle"].popen
            assert again is not None and again.poll() is None
            assert stack.exits == [("idle", -signal.SIGKILL)]
            # Stopped on purpose through the stack (tests do): it stays down.
            stack.kill("idle", signal.SIGTERM)
            time.sleep(1.0)
            assert stack.processes["idle"].popen is again and again.poll() is not None
        finally:
            stack.stop()
    (exited,) = logs_with(logs, "process_exited")
    assert exited["status"] == -9 and exited["restart_in_s"] == 0.2


def test_a_crash_loop_makes_the_supervisor_give_up_and_stop_all(tmp_path: Path) -> None:
    procfile = IDLE + "broken: python -m picopt_no_such_module\n"
    stack = supervised(tmp_path, procfile, RestartPolicy(max_restarts=2, first_delay_s=0.05))
    with capture_logs() as logs:
        assert stack.run_foreground() == 1  # what `make up` exits with
    assert stack.gave_up is not None and stack.gave_up.startswith("broken exited (1)")
    assert [name for name, _ in stack.exits] == ["broken"] * 3
    assert [line["restart_in_s"] for line in logs_with(logs, "process_exited")] == [0.05, 0.1]
    assert logs_with(logs, "process_restart_limit_reached")
    assert all(p.popen is not None and p.popen.poll() is not None for p in stack.processes.values())


def logs_with(logs: list[dict[str, object]], event: str) -> list[dict[str, object]]:
    return [line for line in logs if line["event"] == event]
