"""A database outage longer than the old retry budget is waited out: the event is handled
once the database is back, never dead-lettered. Real RabbitMQ, real PostgreSQL behind a
proxy the test cuts."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database
from picopt.kernel.messaging import HandlerContext, RetryPolicy, Subscription
from picopt.kernel.tests.bus import JOB, MIGRATIONS, Bus, job, running, wait_for
from picopt.kernel.tests.demo_models import Widget
from tests.integration.harness import infrastructure
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

# Scaled down: the old consumer gave up after 5 tries 2 s apart (10 s); with these settings
# it would have given up after 3 tries 0.1 s apart. The outage lasts 3 s.
POLICY = RetryPolicy(base_s=0.1, max_delay_s=0.8, max_attempts=3, transient_for_s=60)
OUTAGE_S = 3.0


def test_a_database_outage_is_waited_out_and_the_event_handled_once() -> None:
    admin = urlsplit(infrastructure().postgres_admin_url)
    bus = Bus()
    with TcpProxy(admin.hostname or "127.0.0.1", admin.port or 5432) as proxy:
        url = f"postgresql+psycopg://{admin.username}@127.0.0.1:{proxy.port}{admin.path}"
        db = Database(url, f"t_{uuid.uuid4().hex[:12]}")
        db.migrate(MIGRATIONS)
        handled: list[int] = []

        def handler(ctx: HandlerContext) -> None:
            assert ctx.session is not None
            ctx.session.add(Widget(name=ctx.payload.job_id))
            handled.append(ctx.attempt)

        consumer = bus.consumer(
            [Subscription(JOB, events_pb2.JobSubmitted, handler)], db=db, retry=POLICY
        )
        queue = consumer.queues[0]
        down = False
        try:
            with capture_logs() as logs, running(consumer):
                proxy.cut()
                down, cut_at = True, time.monotonic()
                publisher = bus.publisher()
                publisher.publish(job("during-outage"))
                publisher.close()

                def failures() -> list[dict[str, Any]]:
                    return [line for line in logs if line["event"] == "event_handler_failed"]

                # More failures than the old budget allowed, and the outage goes on.
                wait_for(
                    lambda: len(failures()) > POLICY.max_attempts or bus.count(f"{queue}.dlq"),
                    what="failures",
                )
                time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
                assert bus.count(f"{queue}.dlq") == 0 and not handled
                proxy.restore()
                down = False
                wait_for(lambda: handled, timeout=30, what="the event handled after the outage")
                wait_for(lambda: bus.count(queue) == 0 and bus.delayed() == 0)
            waits = [line["delay_ms"] for line in logs if line["event"] == "event_retry_scheduled"]
            assert bus.count(f"{queue}.dlq") == 0
            assert handled == [1], "transient failures do not use up attempts"
            assert {f["transient"] for f in failures()} == {True}
            assert {f["error_type"] for f in failures()} == {"OperationalError"}
            # Exponential: each wait's ceiling doubles up to the cap (jitter stays below it).
            assert max(waits) <= 800 and waits[-1] >= 400, waits
            with db.session() as session:
                assert session.scalars(sa.select(Widget.name)).all() == ["during-outage"]
        finally:
            if down:
                proxy.restore()
            with db.engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{db.schema}" CASCADE'))
            db.dispose()
            bus.close()
