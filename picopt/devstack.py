"""A small supervisor for the one-machine stack, driven by the repo's Procfile.

`python -m picopt.devstack` (what `make up` runs) starts every process in the
foreground with prefixed output and stops them all on Ctrl-C or SIGTERM. A process
that dies (a non-zero status: a crash, the OOM killer's SIGKILL) is restarted after
a pause that doubles with each restart, as Compose and Kubernetes would; one that
dies more than DEVSTACK_MAX_RESTARTS times within DEVSTACK_RESTART_WINDOW_S makes
the supervisor give up and stop everything. The integration tests and the demo use
the same `Stack` class with their own ports and database.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
import pika
from grpc_health.v1 import health_pb2, health_pb2_grpc

from picopt.kernel import logs
from picopt.kernel.settings import DEFAULT_GRPC_PORTS, Env

log = logs.get_logger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
GRPC_SERVICES = tuple(DEFAULT_GRPC_PORTS)
# What one machine runs unless told otherwise: the processor's API process also runs the jobs,
# one at a time, and no separate worker process; one gunicorn worker with threads. Each
# process costs ~100 MB whatever it does, so the worker's own process is saved; a second job
# at once adds its own decoder child (~130 MB at 1 MP) and on two cores no throughput: vision
# holds the other core (bench.throughput, 24 jobs of 1 MP: 1.32 jobs/s with one job at a time,
# 1.25 with two; peak RSS 1155 against 1283 MB). PROCESSOR_WORKERS adds worker processes. A
# cluster scales by pods instead (the services' own defaults: API and workers apart).
ONE_MACHINE = {
    "PROCESSOR_WORKERS": "0",
    "PROCESSOR_API_RUNS_JOBS": "true",
    "WORKER_CONCURRENCY": "1",
    "GATEWAY_WORKERS": "1",
}


class StackError(RuntimeError):
    """The stack could not start; the message says what to do."""


def read_procfile(path: Path = PROCFILE) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, command = line.partition(":")
        entries[name.strip()] = command.strip()
    return entries


def _answers(port: int) -> bool:
    """Whether something accepts connections on this loopback port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


# Ports handed out below the kernel's ephemeral range (Linux: 32768-60999 by default): a port
# that bind(0) returns is free only until the kernel hands it out again, to another bind(0) or
# as an outgoing connection's source port, and with two test processes starting stacks side
# by side a service once found its port taken that way.
_FREE_PORTS = range(20000, 32768)
# A stack picks all its ports before any of its services binds one, so a port is handed out
# once per process (two services of one stack once drew the same port); and each test process
# of a parallel run (pytest-xdist's PYTEST_XDIST_WORKER) draws from its own share of the range.
_HANDED_OUT: set[int] = set()


def _own_ports() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or not worker[2:].isdigit() or count < 2:
        return _FREE_PORTS
    share = len(_FREE_PORTS) // count
    start = _FREE_PORTS.start + int(worker[2:]) % count * share
    return range(start, start + share)


def free_port() -> int:
    """A loopback port nothing listens on now and not handed out before by this process, picked
    at random below the ephemeral range (within this test process's share of it)."""
    ports = _own_ports()
    for _ in range(200):
        port = random.choice(ports)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as s:  # that range is full: let the kernel pick
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def amqp_reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether an AMQP handshake with the broker completes within `timeout` seconds."""
    params = pika.URLParameters(url)
    params.socket_timeout = timeout
    params.stack_timeout = timeout
    params.connection_attempts = 1
    try:
        pika.BlockingConnection(params).close()
    except Exception:
        return False
    return True


def _wait_for_busy_broker(url: str, patience_s: float) -> None:
    deadline = time.monotonic() + patience_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            params = pika.URLParameters(url)
            raise StackError(
                f"something accepts connections at AMQP_URL ({params.host}:{params.port}) but "
                f"no AMQP handshake completed within {patience_s:g} s (AMQP_STARTUP_TIMEOUT_S): "
                "a broker too busy to answer, or not a broker"
            )
        log.warning("broker_slow_to_answer", waiting_s=round(remaining))
        if amqp_reachable(url, timeout=min(15.0, max(remaining, 0.5))):
            return
        time.sleep(min(1.0, max(deadline - time.monotonic(), 0.0)))


@dataclass
class PrivateBroker:
    """A rabbitmq-server started for this run, with its data under var/rabbitmq."""

    process: subprocess.Popen[bytes]
    node: str

    def stop(self) -> None:
        ctl = shutil.which("rabbitmqctl")
        if ctl:
            subprocess.run(
                [ctl, "-n", self.node, "stop"], capture_output=True, check=False, timeout=60
            )
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=60)


def broker_listening(url: str, timeout: float = 3.0) -> bool:
    """Whether anything accepts connections at the broker's address (refused: nothing runs)."""
    params = pika.URLParameters(url)
    try:
        socket.create_connection((params.host, params.port), timeout=timeout).close()
    except OSError:
        return False
    return True


def ensure_broker(env: dict[str, str], var_dir: Path) -> PrivateBroker | None:
    """Use AMQP_URL if reachable; else start a private RabbitMQ under var/ if installed.

    A broker that accepts connections but is slow to finish the handshake (a loaded machine)
    is waited for, never replaced: a private broker would not hold the virtual host, users
    and queues the caller set up there."""
    url = env.setdefault("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    if amqp_reachable(url, timeout=1.0):
        return None
    if broker_listening(url):
        _wait_for_busy_broker(url, float(env.get("AMQP_STARTUP_TIMEOUT_S", "120")))
        return None
    server = shutil.which("rabbitmq-server")
    if server is None:
        raise StackError(
            "no RabbitMQ answers at AMQP_URL and rabbitmq-server is not installed; "
            "install it (apt-get install rabbitmq-server) or set AMQP_URL to a running broker"
        )
    port = free_port()
    node = f"picopt{port}@localhost"
    base = (var_dir / "rabbitmq").resolve()
    base.mkdir(parents=True, exist_ok=True)
    config = base / "rabbitmq.conf"
    # Our own config file: the system one may pin the listener to the default port.
    config.write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
    _hand_to_broker_user(base)
    broker_env = {
        **os.environ,
        "RABBITMQ_CONFIG_FILE": str(config),
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_FEATURE_FLAGS_FILE": str(base / "feature_flags"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": str(base / "plugins"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        "RABBITMQ_QUORUM_DIR": str(base / "quorum"),
    }
    proc = subprocess.Popen(
        [server], env=broker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    env["AMQP_URL"] = f"amqp://guest:guest@127.0.0.1:{port}/%2F"
    deadline = time.monotonic() + 90
    while not amqp_reachable(env["AMQP_URL"], timeout=1.0):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise StackError(
                f"a private rabbitmq-server did not start; see {base / 'log'} "
                "(when started as root it runs as the rabbitmq user, who must be able to reach it)"
            )
        time.sleep(1)
    return PrivateBroker(proc, node)


def _hand_to_broker_user(base: Path) -> None:
    """Debian's rabbitmq-server switches to the `rabbitmq` user when started as root."""
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam("rabbitmq")
    except KeyError:
        return
    for path in [base, *base.rglob("*")]:
        shutil.chown(path, "rabbitmq", "rabbitmq")


@dataclass(frozen=True)
class RestartPolicy:
    """Restart a dead process after `first_delay_s`, doubling per recent restart up to
    `max_delay_s`; give up when it died more than `max_restarts` times within `window_s`."""

    max_restarts: int = 5
    window_s: float = 600.0
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RestartPolicy:
        e = Env(env)
        return cls(
            max_restarts=e.int("DEVSTACK_MAX_RESTARTS", cls.max_restarts),
            window_s=e.float("DEVSTACK_RESTART_WINDOW_S", cls.window_s),
        )

    def delay(self, recent_restarts: int) -> float:
        return float(min(self.max_delay_s, self.first_delay_s * 2**recent_restarts))


@dataclass
class Process:
    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = None
    # Stopped on purpose (Stack.kill, stop, a clean exit): never restarted.
    expected_exit: bool = False
    # When the supervisor starts it again, once it has noticed it died.
    restart_at: float | None = None


@dataclass
class Stack:
    """The whole system as local processes, supervised."""

    env: dict[str, str]
    workers: int = 2
    log_dir: Path | None = None
    echo: bool = True
    processes: dict[str, Process] = field(default_factory=dict)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    procfile: Path = PROCFILE
    # (process name, exit status) of every unexpected death, in order.
    exits: list[tuple[str, int]] = field(default_factory=list)
    # Restart times (monotonic) per process name.
    restarts: dict[str, list[float]] = field(default_factory=dict)
    # Why the supervisor gave up and stopped everything; None while it has not.
    gave_up: str | None = None
    _broker: PrivateBroker | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _supervisor: threading.Thread | None = None

    @classmethod
    def from_environment(
        cls, overrides: Mapping[str, str] | None = None, **kwargs: object
    ) -> Stack:
        env = {**os.environ, **(overrides or {})}
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("SESSION_COOKIE_SECURE", "false")
        for name, value in ONE_MACHINE.items():
            env.setdefault(name, value)
        workers = int(env["PROCESSOR_WORKERS"])
        kwargs.setdefault("restart_policy", RestartPolicy.from_env(env))
        return cls(env=env, workers=workers, **kwargs)  # type: ignore[arg-type]

    def plan(self) -> list[Process]:
        python = sys.executable
        plan = []
        for name, command in read_procfile(self.procfile).items():
            argv = [python if part == "python" else part for part in command.split()]
            copies = self.workers if name == "worker" else 1
            for i in range(copies):
                plan.append(Process(f"{name}.{i + 1}" if name == "worker" else name, argv))
        return plan

    def ports(self, plan: list[Process]) -> dict[int, str]:
        """The fixed ports the planned processes will listen on, with what each is for."""
        names = {p.name for p in plan}
        ports: dict[int, str] = {}
        if "gateway" in names:
            ports[int(self.env.get("GATEWAY_PORT", "8080"))] = "the gateway (GATEWAY_PORT)"
        for service, default in DEFAULT_GRPC_PORTS.items():
            if service in names:
                setting = f"{service.upper()}_GRPC_PORT"
                ports[int(self.env.get(setting, str(default)))] = f"{service} gRPC ({setting})"
        return ports

    def _refuse_taken_ports(self, plan: list[Process]) -> None:
        """A stack left running answers on the same ports: say so, rather than let every
        service fail to bind and the supervisor give up after a restart loop."""
        taken = [f"{port} ({what})" for port, what in self.ports(plan).items() if _answers(port)]
        if taken:
            raise StackError(
                "something already listens on "
                + ", ".join(taken)
                + ": probably a stack from an earlier `make up` or `make demo`; stop it "
                "(Ctrl-C in its terminal, or `pkill -f picopt.devstack`) or set those ports"
            )

    def start(self) -> None:
        var_dir = Path(self.env.get("VAR_DIR", "var"))
        plan = self.plan()
        self._refuse_taken_ports(plan)
        self._broker = ensure_broker(self.env, var_dir)
        with self._lock:
            for proc in plan:
                self._spawn(proc)
        self._supervisor = threading.Thread(
            target=self._supervise, name="devstack-supervisor", daemon=True
        )
        self._supervisor.start()

    def _supervise(self) -> None:
        while not self._stopping.wait(0.2):
            with self._lock:
                for proc in list(self.processes.values()):
                    if self._tend(proc):
                        break
            if self.gave_up is not None:
                self.stop()
                return

    def _tend(self, proc: Process) -> bool:
        """Notice a death, or restart when its pause is over; True when giving up."""
        assert proc.popen is not None
        status = proc.popen.poll()
        if status is None or proc.expected_exit or self._stopping.is_set():
            return False
        now = time.monotonic()
        if proc.restart_at is not None:
            if now >= proc.restart_at:
                self.restarts.setdefault(proc.name, []).append(now)
                self._spawn(Process(proc.name, proc.argv))
                log.info("process_restarted", process=proc.name, pid=self._pid(proc.name))
            return False
        if status == 0:
            proc.expected_exit = True
            log.info("process_exited", process=proc.name, status=0, restart=False)
            return False
        self.exits.append((proc.name, status))
        window = self.restart_policy.window_s
        recent = [t for t in self.restarts.get(proc.name, []) if now - t < window]
        if len(recent) >= self.restart_policy.max_restarts:
            self.gave_up = (
                f"{proc.name} exited ({status}) after {len(recent)} restarts within {window:.0f}s"
            )
            log.error(
                "process_restart_limit_reached",
                process=proc.name,
                status=status,
                restarts=len(recent),
                window_s=window,
            )
            return True
        delay = self.restart_policy.delay(len(recent))
        proc.restart_at = now + delay
        log.warning(
            "process_exited",
            process=proc.name,
            status=status,
            restart_in_s=delay,
            restarts=len(recent),
        )
        return False

    def _pid(self, name: str) -> int | None:
        popen = self.processes[name].popen
        return popen.pid if popen is not None else None

    def _spawn(self, proc: Process) -> None:
        out: int | IO[bytes] = subprocess.PIPE
        proc.popen = subprocess.Popen(
            proc.argv,
            env=self.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.pump = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        proc.pump.start()
        self.processes[proc.name] = proc

    def _pump(self, proc: Process) -> None:
        assert proc.popen is not None and proc.popen.stdout is not None
        log_file = open(self.log_dir / f"{proc.name}.log", "ab") if self.log_dir else None  # noqa: SIM115
        try:
            for line in proc.popen.stdout:
                if log_file:
                    log_file.write(line)
                    log_file.flush()
                if self.echo:
                    sys.stdout.write(f"{proc.name:>12} | {line.decode(errors='replace')}")
                    sys.stdout.flush()
        finally:
            if log_file:
                log_file.close()

    def grpc_address(self, service: str) -> str:
        return self.env.get(f"{service.upper()}_ADDR", f"127.0.0.1:{DEFAULT_GRPC_PORTS[service]}")

    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env.get('GATEWAY_PORT', '8080')}"

    def wait_healthy(
        self, timeout: float = 60.0, services: tuple[str, ...] = GRPC_SERVICES
    ) -> None:
        """Block until every gRPC service answers SERVING and the gateway answers /healthz."""
        import requests

        deadline = time.monotonic() + timeout
        pending = set(services)
        gateway_up = "gateway" not in self.processes
        while pending or not gateway_up:
            self._check_alive()
            for service in list(pending):
                if health_status(self.grpc_address(service)) == "SERVING":
                    pending.discard(service)
            if not gateway_up:
                try:
                    gateway_up = requests.get(self.gateway_url() + "/healthz", timeout=1).ok
                except requests.RequestException:
                    gateway_up = False
            if time.monotonic() > deadline:
                raise StackError(
                    f"not healthy after {timeout:.0f}s: {sorted(pending) or ['gateway']}"
                )
            time.sleep(0.2)

    def _check_alive(self) -> None:
        """While waiting to be healthy, a death is an error (it is restarted all the same)."""
        if self.gave_up is not None:
            raise StackError(f"gave up: {self.gave_up}")
        with self._lock:
            dead = [
                p
                for p in self.processes.values()
                if p.popen is not None and not p.expected_exit and p.popen.poll() is not None
            ]
        for proc in dead:
            assert proc.popen is not None
            raise StackError(
                f"{proc.name} exited with status {proc.popen.returncode}{self._log_tail(proc)}"
            )

    def _log_tail(self, proc: Process, lines: int = 5) -> str:
        """The end of a dead process's log, so a failed start explains itself."""
        if self.log_dir is None:
            return ""
        if proc.pump is not None:
            proc.pump.join(timeout=2)
        path = self.log_dir / f"{proc.name}.log"
        if not path.exists():
            return ""
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        return "; last log lines:\n" + "\n".join(line[:500] for line in tail)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Stop one process on purpose: the supervisor leaves it down until `restart`."""
        with self._lock:
            proc = self.processes[name]
            proc.expected_exit = True
        assert proc.popen is not None
        _signal_group(proc.popen, sig)
        proc.popen.wait(timeout=30)

    def restart(self, name: str) -> None:
        proc = self.processes[name]
        if proc.popen is not None and proc.popen.poll() is None:
            self.kill(name, signal.SIGTERM)
        with self._lock:
            self._spawn(Process(proc.name, proc.argv))

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM everyone, wait, then SIGKILL stragglers; the private broker last."""
        self._stopping.set()
        with self._lock:
            procs = list(self.processes.values())
            for proc in procs:
                proc.expected_exit = True
        for proc in procs:
            if proc.popen is not None:
                _signal_group(proc.popen, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            if proc.popen is None:
                continue
            try:
                proc.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(proc.popen, signal.SIGKILL)
                proc.popen.wait()
        broker, self._broker = self._broker, None
        if broker is not None:
            broker.stop()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout=5)

    def run_foreground(self) -> int:
        """Run until a signal, or until the supervisor gives up; always stop everything."""
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.start()
        try:
            while not stop.wait(0.5) and self.gave_up is None:
                pass
        finally:
            self.stop()
        return 0 if self.gave_up is None else 1


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the process and its children (a decoder child, gunicorn workers), if alive."""
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, sig)


def health_status(address: str, timeout: float = 1.0) -> str:
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
            return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
    except grpc.RpcError:
        return "UNREACHABLE"


def main() -> int:
    logs.configure("devstack", os.environ.get("LOG_LEVEL", "info"))
    try:
        return Stack.from_environment().run_foreground()
    except StackError as err:
        print(f"devstack: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
