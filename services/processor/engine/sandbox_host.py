"""The decoder host: the process every isolated optimisation is forked from.

`isolated.Sandbox` starts it with a scrubbed environment (no database, broker, storage or
master-key settings). Before anything else it leaves the network: a new network namespace
(only a loopback that is down), when the platform allows it, directly (CAP_SYS_ADMIN) or inside
a new user namespace. It then loads the engine once and forks one child per job, which sets its
memory ceiling, runs `optimize` and answers on the job's own socket. The host reports each
child's end there too, and kills a child that outlives its deadline. It exits when its parent
goes (the control socket closes).

    python -m services.processor.engine.sandbox_host CONTROL_FD SYS_PATH_JSON NETWORK LOG_LEVEL
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_PDEATHSIG = 1
# The host kills a child at its deadline; its caller waits this much longer for the news.
KILL_GRACE_S = 2.0
JOB_MESSAGE = struct.Struct("<d")  # the job's timeout in seconds, sent with the job's socket


@dataclass(frozen=True)
class NetworkState:
    isolated: bool
    how: str


def isolate_network(mode: str) -> NetworkState:
    """Leave the network unless `mode` is "off"; must run while the process has one thread
    (a new user namespace requires it). "required" makes a refusal fatal."""
    if mode == "off":
        return NetworkState(False, "ENGINE_NETWORK_ISOLATION=off")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) == 0:
        return NetworkState(True, "new network namespace")
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        _map_ids(uid, gid)
        return NetworkState(True, "new user and network namespaces")
    return NetworkState(False, f"unshare refused: {os.strerror(ctypes.get_errno())}")


def _map_ids(uid: int, gid: int) -> None:
    """Keep the same user and group ids inside the new user namespace."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")


def load_engine() -> None:
    """Set up this process for optimising, as every job finds it, then load the engine once
    (each forked child shares it). Two heaps for all threads: libvips' workers and the
    metric's pool otherwise keep a heap of freed image buffers each; a 36 MP photo to 2048 px
    peaked at 233 MB, 207 MB with two, at the same CPU time."""
    from picopt.kernel import malloc

    malloc.limit_heaps(2)
    from PIL import Image
    from PIL import features as _features  # noqa: F401

    from . import pipeline  # noqa: F401
    from .predict import models

    # What a job would otherwise do first, in every child: Pillow imports all its plugins on
    # the first open or save of a format it has not registered yet, and the predictor's
    # parameters are read once. Neither starts a thread (a thread made here would not exist
    # in the forked children). The six 1 MP camera photos of bench.throughput through the
    # host, six alternating rounds: 418 -> 407 ms a job at API defaults, 326 -> 313 at `fast`.
    Image.init()
    models()


def main(argv: list[str]) -> int:
    control_fd, sys_path, network_mode, log_level = argv
    sys.path[:0] = [p for p in json.loads(sys_path) if p not in sys.path]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the host stops
    network = isolate_network(network_mode)
    control = socket.socket(fileno=int(control_fd))
    if not network.isolated and network_mode == "required":
        control.sendall(json.dumps({"network": "refused", "how": network.how}).encode() + b"\n")
        return 1
    from picopt.kernel import logs

    logs.configure("engine-sandbox", level=log_level)
    load_engine()

    status = {"network": "isolated" if network.isolated else "shared", "how": network.how}
    control.sendall(json.dumps(status).encode() + b"\n")
    _serve(control)
    return 0


def _serve(control: socket.socket) -> None:
    """Fork a child per job received on `control`; report ends and kill overdue children."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    jobs: dict[int, tuple[socket.socket, float]] = {}
    overdue: set[int] = set()
    while True:
        deadlines = [deadline for _, deadline in jobs.values()]
        wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        for key, _ in selector.select(wait):
            if key.fileobj is control:
                message, fds, _, _ = socket.recv_fds(control, JOB_MESSAGE.size, 1)
                if not message or not fds:
                    _stop(jobs)
                    return
                job = socket.socket(fileno=fds[0])
                (timeout_s,) = JOB_MESSAGE.unpack(message)
                pid = os.fork()
                if pid == 0:
                    os.close(wake_r)
                    os.close(wake_w)
                    for other, _ in jobs.values():
                        other.close()
                    _child(job, control)
                jobs[pid] = (job, time.monotonic() + timeout_s)
            else:
                os.read(wake_r, 4096)
        _reap(jobs, overdue)
        now = time.monotonic()
        for pid, (_, deadline) in jobs.items():
            if deadline <= now and pid not in overdue:
                os.kill(pid, signal.SIGKILL)
                overdue.add(pid)


def _reap(jobs: dict[int, tuple[socket.socket, float]], overdue: set[int]) -> None:
    """Tell each finished child's caller how it ended (a child that answered is already done)."""
    while jobs:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        job, _ = jobs.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        ending = ("timeout", None) if pid in overdue else ("exit", code)
        overdue.discard(pid)
        conn = Connection(job.detach())
        try:
            conn.send(ending)
        except OSError:
            pass  # the caller has its answer already, or has gone
        finally:
            conn.close()


def _stop(jobs: dict[int, tuple[socket.socket, float]]) -> None:
    for pid in jobs:
        os.kill(pid, signal.SIGKILL)
    for pid in jobs:
        os.waitpid(pid, 0)


def _child(job: socket.socket, control: socket.socket) -> None:
    """One job: memory ceiling, optimize, answer, exit. Never returns."""
    code = 0
    try:
        # Die with the host: nothing else would enforce this child's deadline.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        control.close()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        from .api import EngineError
        from .pipeline import optimize

        conn = Connection(job.detach())
        data, options, limits = conn.recv()
        ceiling = limits.max_memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            answer: tuple[str, object] = ("ok", optimize(data, options, limits))
        except EngineError as exc:
            answer = ("error", (exc.code, exc.message))
        except MemoryError:
            answer = ("error", ("too_large", "The image needs more memory than the job may use."))
        conn.send(answer)
        conn.close()
    except BaseException:  # the host reports the exit code; nothing may unwind into its loop
        code = 70
    finally:
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
