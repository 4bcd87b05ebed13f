"""A consumer in its own process, for the SIGKILL and SIGTERM tests.

usage: python -m picopt.kernel.tests.consumer_proc AMQP_URL SERVICE EXCHANGE DLX MARKER_DIR MODE
    [DELIVERY_LIMIT]
MODE "block": mark the event as started, then hang (the test SIGKILLs us).
MODE "slow": mark started, work for a second, mark done (the test sends SIGTERM meanwhile).
MODE "crash": die mid-handler like a segfaulting image decoder would.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from picopt.events.v1 import events_pb2
from picopt.kernel.messaging import Consumer, HandlerContext, Subscription


def main() -> None:
    amqp_url, service, exchange, dlx, marker_dir, mode = sys.argv[1:7]
    delivery_limit = int(sys.argv[7]) if len(sys.argv) > 7 else 10
    markers = Path(marker_dir)

    def handler(ctx: HandlerContext) -> None:
        (markers / f"started-{ctx.envelope.event_id}").touch()
        if mode == "crash":
            os._exit(70)
        if mode == "block":
            time.sleep(3600)
        time.sleep(1.0)
        (markers / f"done-{ctx.envelope.event_id}").touch()

    consumer = Consumer(
        amqp_url,
        service,
        [Subscription("job.submitted", events_pb2.JobSubmitted, handler)],
        exchange=exchange,
        dlx=dlx,
        delivery_limit=delivery_limit,
    )
    signal.signal(signal.SIGTERM, lambda _sig, _frame: consumer.stop())
    consumer.run()


if __name__ == "__main__":
    main()
