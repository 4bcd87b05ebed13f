"""Run the gateway: `python -m services.gateway` (gunicorn, threaded workers)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from picopt.kernel import logs
from picopt.kernel.settings import Settings
from services.gateway.app import create_app


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Built in each worker after fork: gRPC channels must not cross a fork.
        settings = Settings.load("gateway")
        logs.configure("gateway", settings.log_level)
        return create_app(settings)


def main() -> None:
    settings = Settings.load("gateway")
    logs.configure("gateway", settings.log_level)
    env = settings.env
    host = env.str("GATEWAY_HOST", "127.0.0.1")
    port = env.int("GATEWAY_PORT", 8080)
    _Gunicorn(
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
        }
    ).run()


if __name__ == "__main__":
    main()
