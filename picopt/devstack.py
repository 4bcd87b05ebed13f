"""A small supervisor for the one-machine stack, driven by the repo's Procfile.

`python -m picopt.devstack` (what `make up` runs) starts every process in the
foreground with prefixed output and stops them all on Ctrl-C or SIGTERM, or
when one of them dies. The integration tests and the demo use the same
`Stack` class with their own ports and database.
"""

from __future__ import annotations

import os
import pwd
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

from picopt.kernel.settings import DEFAULT_GRPC_PORTS

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
GRPC_SERVICES = tuple(DEFAULT_GRPC_PORTS)


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def amqp_reachable(url: str, timeout: float = 3.0) -> bool:
    params = pika.URLParameters(url)
    params.socket_timeout = timeout
    params.connection_attempts = 1
    try:
        pika.BlockingConnection(params).close()
    except Exception:
        return False
    return True


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


def ensure_broker(env: dict[str, str], var_dir: Path) -> PrivateBroker | None:
    """Use AMQP_URL if reachable; else start a private RabbitMQ under var/ if installed."""
    url = env.setdefault("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    if amqp_reachable(url):
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


@dataclass
class Process:
    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = None


@dataclass
class Stack:
    """The whole system as local processes."""

    env: dict[str, str]
    workers: int = 2
    log_dir: Path | None = None
    echo: bool = True
    processes: dict[str, Process] = field(default_factory=dict)
    _broker: PrivateBroker | None = None

    @classmethod
    def from_environment(
        cls, overrides: Mapping[str, str] | None = None, **kwargs: object
    ) -> Stack:
        env = {**os.environ, **(overrides or {})}
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("SESSION_COOKIE_SECURE", "false")
        workers = int(env.get("PROCESSOR_WORKERS", "2"))
        return cls(env=env, workers=workers, **kwargs)  # type: ignore[arg-type]

    def plan(self) -> list[Process]:
        python = sys.executable
        plan = []
        for name, command in read_procfile().items():
            argv = [python if part == "python" else part for part in command.split()]
            copies = self.workers if name == "worker" else 1
            for i in range(copies):
                plan.append(Process(f"{name}.{i + 1}" if name == "worker" else name, argv))
        return plan

    def start(self) -> None:
        var_dir = Path(self.env.get("VAR_DIR", "var"))
        self._broker = ensure_broker(self.env, var_dir)
        for proc in self.plan():
            self._spawn(proc)

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
        for proc in self.processes.values():
            if proc.popen is not None and proc.popen.poll() is not None:
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
        proc = self.processes[name]
        assert proc.popen is not None
        os.killpg(proc.popen.pid, sig)
        proc.popen.wait(timeout=30)

    def restart(self, name: str) -> None:
        proc = self.processes[name]
        if proc.popen is not None and proc.popen.poll() is None:
            self.kill(name, signal.SIGTERM)
        self._spawn(Process(proc.name, proc.argv))

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM everyone, wait, then SIGKILL stragglers; the private broker last."""
        for proc in self.processes.values():
            if proc.popen is not None and proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            if proc.popen is None:
                continue
            try:
                proc.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()
        if self._broker is not None:
            self._broker.stop()

    def run_foreground(self) -> int:
        """Run until a signal or a dead process; always stop everything."""
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.start()
        status = 0
        try:
            while not stop.wait(0.5):
                for proc in self.processes.values():
                    assert proc.popen is not None
                    if proc.popen.poll() is not None:
                        print(
                            f"devstack: {proc.name} exited ({proc.popen.returncode}); stopping all"
                        )
                        status = 1
                        stop.set()
        finally:
            self.stop()
        return status


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
    try:
        return Stack.from_environment().run_foreground()
    except StackError as err:
        print(f"devstack: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
