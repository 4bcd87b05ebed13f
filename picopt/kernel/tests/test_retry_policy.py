"""Which failures are waited out, how long the waits are, and the bounds the settings keep."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import grpc
import psycopg
import pytest
import sqlalchemy as sa
import sqlalchemy.exc

from picopt.events.v1 import events_pb2
from picopt.kernel.messaging import (
    EVENTS,
    DeadLetterPolicy,
    OutboxPolicy,
    PermanentError,
    PublishError,
    RetryPolicy,
    TransientError,
    is_transient,
)
from picopt.kernel.messaging.policy import MAX_DLQ_IMAGE_TTL_S, MAX_DLQ_TTL_S
from picopt.kernel.settings import Env, SettingsError


class _Rpc(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


def _raised(exc: BaseException, cause: BaseException | None = None) -> BaseException:
    try:
        raise exc from cause
    except BaseException as caught:
        return caught


def test_a_database_that_is_down_or_busy_is_transient(tmp_path: Path) -> None:
    with pytest.raises(sa.exc.OperationalError) as refused:
        engine = sa.create_engine("postgresql+psycopg://u@127.0.0.1:1/x")
        engine.connect()
    assert is_transient(refused.value)

    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with pytest.raises(sa.exc.OperationalError) as locked, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    assert is_transient(locked.value)
    holder.close()


def test_a_bug_or_a_bad_row_is_not_transient(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(sa.exc.OperationalError) as missing, engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert not is_transient(missing.value)  # SQLITE_ERROR: retrying will not create the table
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE u (x PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO u VALUES (1)"))
    with pytest.raises(sa.exc.IntegrityError) as duplicate, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO u VALUES (1)"))
    assert not is_transient(duplicate.value)
    assert not is_transient(ValueError("bad payload"))
    assert not is_transient(KeyError("job"))


def test_postgres_sqlstates_decide() -> None:
    def pg(sqlstate: str) -> sa.exc.StatementError:
        orig = psycopg.errors.lookup(sqlstate)("x")
        wrapped = sa.exc.DBAPIError.instance("SELECT 1", {}, orig, psycopg.Error)
        assert isinstance(wrapped, sa.exc.DBAPIError)
        return wrapped

    assert is_transient(pg("40P01"))  # deadlock detected
    assert is_transient(pg("40001"))  # serialization failure
    assert is_transient(pg("57P01"))  # admin shutdown (failover)
    assert is_transient(pg("08006"))  # connection failure
    assert not is_transient(pg("23505"))  # unique violation
    assert not is_transient(pg("42P01"))  # undefined table


def test_grpc_broker_and_network_failures() -> None:
    for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        assert is_transient(_Rpc(code))
    for code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
        assert not is_transient(_Rpc(code))
    assert is_transient(PublishError("broker unavailable"))
    assert is_transient(ConnectionRefusedError())
    assert is_transient(TimeoutError())
    assert is_transient(TransientError("provider busy"))


def test_the_nearest_verdict_in_the_chain_wins() -> None:
    # An error raised while handling a lost connection is as transient as the loss...
    assert is_transient(_raised(RuntimeError("wrapped"), ConnectionResetError()))
    # ... unless the handler says retrying cannot help.
    assert not is_transient(_raised(PermanentError("unsupported"), ConnectionResetError()))
    assert is_transient(_raised(TransientError("later"), ValueError()))


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    policy = RetryPolicy(base_s=1, max_delay_s=300)
    assert policy.levels_ms() == [
        1000,
        2000,
        4000,
        8000,
        16000,
        32000,
        64000,
        128000,
        256000,
        300000,
    ]
    rng = random.Random(7)
    for retries, level in [(0, 1000), (3, 8000), (9, 300000), (50, 300000)]:
        delays = [policy.delay_ms(retries, rng) for _ in range(200)]
        assert {lvl for lvl, _ in delays} == {level}
        jittered = [d for _, d in delays]
        assert level / 2 <= min(jittered) and max(jittered) <= level
        assert len(set(jittered)) > 100, "events that failed together must not come back together"


def test_settings_are_read_and_bounded() -> None:
    env = Env(
        {
            "EVENT_RETRY_BASE_S": "0.5",
            "EVENT_RETRY_MAX_DELAY_S": "60",
            "EVENT_MAX_ATTEMPTS": "4",
            "EVENT_RETRY_TRANSIENT_FOR_S": "3600",
        }
    )
    assert RetryPolicy.from_env(env) == RetryPolicy(0.5, 60, 4, 3600)
    with pytest.raises(SettingsError):
        RetryPolicy.from_env(Env({"EVENT_RETRY_BASE_S": "10", "EVENT_RETRY_MAX_DELAY_S": "5"}))
    with pytest.raises(SettingsError):
        DeadLetterPolicy.from_env(Env({"EVENT_DLQ_IMAGE_TTL_S": str(MAX_DLQ_IMAGE_TTL_S + 1)}))
    with pytest.raises(SettingsError):
        DeadLetterPolicy.from_env(Env({"EVENT_DLQ_TTL_S": str(MAX_DLQ_TTL_S + 1)}))
    # Processed ids must outlive dead letters, or a replay could run an event twice.
    with pytest.raises(SettingsError):
        OutboxPolicy.from_env(Env({"OUTBOX_KEEP_DAYS": "1"}), DeadLetterPolicy())
    assert OutboxPolicy.from_env(Env({"OUTBOX_KEEP_DAYS": "14"}), DeadLetterPolicy()).keep_s == (
        14 * 86400
    )


def test_dead_letters_of_image_content_expire_well_within_the_image_promise() -> None:
    policy = DeadLetterPolicy()
    assert 2 * policy.ttl_for("job.analyzed") <= 24 * 3600
    assert 2 * policy.ttl_for("job.completed") <= 30 * 24 * 3600
    assert [t for t, k in EVENTS.items() if k.image_content] == ["job.analyzed"]


def test_every_event_payload_is_in_the_catalog() -> None:
    payloads = {
        name
        for name, desc in events_pb2.DESCRIPTOR.message_types_by_name.items()
        if name != "Envelope"
    }
    assert {kind.payload.DESCRIPTOR.name for kind in EVENTS.values()} == payloads
