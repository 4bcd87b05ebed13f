"""Processing sessions: a batch of uploads whose images all go when the session ends.

Retention owns sessions (it owns expiry); the gateway only translates and stays
stateless. A job joins a session with the form field `session_id`; the job's
deadline is then capped at the session's expiry.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from pydantic import BaseModel, Field

from picopt.kernel.protos import from_timestamp
from picopt.processor.v1 import processor_pb2
from picopt.retention.v1 import retention_pb2
from services.gateway.backends import calling
from services.gateway.identity import current_user_id
from services.gateway.openapi import operation
from services.gateway.problems import Problem

bp = Blueprint("sessions", __name__)


def privacy_service() -> Any:
    """Retention's PrivacyService client (retention owns sessions)."""
    return current_app.extensions["backends"].retention


MAX_TTL_S = 86_400


class SessionBody(BaseModel):
    """0 (the default) for the service's session lifetime; at most the image limit."""

    ttl_seconds: int = Field(0, ge=0, le=MAX_TTL_S)


class SessionReply(BaseModel):
    """A processing session; status is open, expired or closed."""

    id: str
    status: str
    created_at: str
    expires_at: str
    ended_at: str | None
    images_deleted: int


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _reply(session: retention_pb2.ProcessingSession) -> dict[str, Any]:
    return SessionReply(
        id=session.id,
        status=session.status,
        created_at=_iso(from_timestamp(session.created_at)) or "",
        expires_at=_iso(from_timestamp(session.expires_at)) or "",
        ended_at=_iso(from_timestamp(session.ended_at)),
        images_deleted=session.images_deleted,
    ).model_dump(mode="json")


def _checked_id(session_id: str) -> str:
    try:
        return str(uuid.UUID(session_id))
    except ValueError as exc:
        raise Problem(
            400, "invalid-option", "session_id must be a session id", field="session_id"
        ) from exc


@bp.post("/v1/sessions")
@operation(
    "Open a processing session: every image of its jobs is deleted when it expires or closes",
    tags=["sessions"],
    body=SessionBody,
    responses={201: SessionReply},
)
def open_session(body: SessionBody) -> tuple[Response, int, dict[str, str]]:
    user_id = current_user_id()
    with calling("retention"):
        reply = privacy_service().OpenSession(
            retention_pb2.OpenSessionRequest(user_id=user_id, ttl_seconds=body.ttl_seconds)
        )
    location = f"/v1/sessions/{reply.session.id}"
    return jsonify(_reply(reply.session)), 201, {"Location": location}


@bp.get("/v1/sessions/<session_id>")
@operation(
    "A processing session's status",
    tags=["sessions"],
    responses={200: SessionReply},
    problems=[404],
)
def get_session(session_id: str) -> Response:
    return jsonify(_reply(_get(current_user_id(), session_id)))


@bp.delete("/v1/sessions/<session_id>")
@operation(
    "Close a processing session now: every image of its jobs is deleted at once",
    tags=["sessions"],
    responses={200: SessionReply},
    problems=[404],
)
def close_session(session_id: str) -> Response:
    user_id = current_user_id()
    with calling("retention"):
        reply = privacy_service().CloseSession(
            retention_pb2.CloseSessionRequest(user_id=user_id, session_id=_found_id(session_id))
        )
    return jsonify(_reply(reply.session))


def _found_id(session_id: str) -> str:
    """A malformed id in a path names no session: 404, like another user's."""
    try:
        return str(uuid.UUID(session_id))
    except ValueError as exc:
        raise Problem(404, "session-not-found", "processing session not found") from exc


def _get(user_id: str, session_id: str) -> retention_pb2.ProcessingSession:
    with calling("retention"):
        return (
            privacy_service()
            .GetSession(
                retention_pb2.GetSessionRequest(user_id=user_id, session_id=_found_id(session_id))
            )
            .session
        )


def join_session(
    user_id: str, session_id: str, options: processor_pb2.JobOptions, deadline: datetime
) -> datetime:
    """Put a job into the user's open session; its deadline becomes at most the session's end.

    No session_id: the deadline is unchanged. Another user's or an unknown session: 404.
    An ended session: 409, and nothing is reserved or stored.
    """
    if not session_id.strip():
        return deadline
    session = _get(user_id, _checked_id(session_id.strip()))
    if session.status != "open":
        raise Problem(409, "session-ended", f"the processing session is {session.status}")
    options.session_id = session.id
    expires = from_timestamp(session.expires_at)
    return min(deadline, expires) if expires else deadline
