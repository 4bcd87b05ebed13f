"""A loopback TCP forwarder a test can cut and restore, to make a real backend unreachable.

Cutting closes the listening socket and every forwarded connection, so clients see
what they would see when the backend's host goes away (connection reset, then
connection refused); restoring listens again on the same port. `before_forwarding`, if
given, runs as each connection is accepted, before anything it sends is forwarded: a test
can bring the backend into a state of its choosing first.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

from picopt.devstack import free_port


class TcpProxy:
    def __init__(
        self,
        target_host: str,
        target_port: int,
        before_forwarding: Callable[[], None] | None = None,
    ) -> None:
        self.target = (target_host, target_port)
        self.before_forwarding = before_forwarding
        self.port = free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []

    def __enter__(self) -> TcpProxy:
        self.restore()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cut()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        for sock in [listener, *connections]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._forward, args=(listener, client), daemon=True).start()

    def _forward(self, listener: socket.socket, client: socket.socket) -> None:
        if self.before_forwarding is not None:
            self.before_forwarding()
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            if self._listener is not listener:
                client.close()
                upstream.close()
                return
            self._connections += [client, upstream]
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
