"""Run the gateway: `python -m services.gateway` (gunicorn, threaded workers).

Metrics: the workers share PROMETHEUS_MULTIPROC_DIR, prepared here before any of
them (and before prometheus_client is imported: it picks its storage at import),
so a scrape sees every worker; the master serves them on the metrics port.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from picopt.kernel import logs, malloc, production
from picopt.kernel.settings import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Built in each worker after fork (gRPC channels must not cross a fork), from the
        # settings the master loaded once.
        from services.gateway.app import create_app

        logs.configure("gateway", self.settings.log_level)
        return create_app(self.settings)


def _prepare_multiprocess_dir() -> Path | None:
    """A clean directory for the workers' metric files; returns it if we created it."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    created = Path(tempfile.mkdtemp(prefix="picopt-gateway-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(created)
    return created


def _metrics_hooks(settings: Settings, created: Path | None) -> dict[str, Any]:
    def when_ready(_server: Any) -> None:
        if settings.metrics_port:
            from picopt.kernel import metrics

            metrics.serve(settings.metrics_port, settings.metrics_host)

    def child_exit(_server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    def on_exit(_server: Any) -> None:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)

    return {"when_ready": when_ready, "child_exit": child_exit, "on_exit": on_exit}


def main() -> None:
    malloc.release_large_blocks()  # in the master, so every forked worker has it too
    settings = Settings.load("gateway")
    logs.configure("gateway", settings.log_level)
    production.refuse_to_start_if_incomplete("gateway", settings.env)
    env = settings.env
    host = env.str("GATEWAY_HOST", "127.0.0.1")
    port = env.int("GATEWAY_PORT", 8080)
    hooks = _metrics_hooks(settings, _prepare_multiprocess_dir())
    _Gunicorn(
        settings,
        {
            "bind": f"{host}:{port}",
            "workers": env.int("GATEWAY_WORKERS", 2),
            "worker_class": "gthread",
            "threads": env.int("GATEWAY_THREADS", 8),
            "timeout": 120,
            "graceful_timeout": 20,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "picopt-gateway",
            **hooks,
        },
    ).run()


if __name__ == "__main__":
    main()
