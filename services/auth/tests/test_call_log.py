"""The API call log (services/auth/call_log.py)."""

from __future__ import annotations

from datetime import timedelta

from picopt.kernel.db import utcnow
from services.auth.call_log import ApiCall
from services.auth.tests.support import Env


def test_call_log_lists_newest_first_and_purges_by_age(env: Env) -> None:
    user = env.signed_up()
    old, recent = utcnow() - timedelta(days=100), utcnow()
    env.service.call_log.record_api_calls(
        [
            ApiCall(user.id, "GET", "/v1/jobs/<job_id>", 200, 5, old),
            ApiCall(user.id, "POST", "/v1/jobs", 202, 40, recent, key_id="k1"),
        ]
    )
    calls = env.service.call_log.list_api_calls(user.id, 10)
    assert [c.route for c in calls] == ["/v1/jobs", "/v1/jobs/<job_id>"]
    assert env.service.call_log.list_api_calls("someone-else", 10) == []
    with env.db.session() as s:
        counts = env.service.call_log.purge_logs(s, utcnow() - timedelta(days=90))
    assert counts["api_calls"] == 1
    assert [c.route for c in env.service.call_log.list_api_calls(user.id, 10)] == ["/v1/jobs"]
