"""free_port(): the ports the test stacks bind, picked before any service binds one."""

from __future__ import annotations

import socket

import pytest

from picopt import devstack


def test_a_port_is_handed_out_once_per_process() -> None:
    # A stack draws all its ports first: the same draw twice made two services fight for one.
    ports = [devstack.free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
    assert all(20000 <= p < 32768 for p in ports)


def test_a_port_something_listens_on_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        monkeypatch.setattr(devstack, "_FREE_PORTS", range(taken, taken + 2))
        monkeypatch.setattr(devstack, "_HANDED_OUT", set())
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
        got = [devstack.free_port() for _ in range(3)]
        assert taken not in got


@pytest.mark.parametrize(("worker", "low", "high"), [("gw0", 20000, 26384), ("gw1", 26384, 32768)])
def test_each_test_process_draws_from_its_own_share(
    monkeypatch: pytest.MonkeyPatch, worker: str, low: int, high: int
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert all(low <= devstack.free_port() < high for _ in range(200))
