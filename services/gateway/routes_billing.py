"""Credit balance."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from picopt.billing.v1 import billing_pb2
from services.gateway.backends import calling
from services.gateway.identity import current_user_id

bp = Blueprint("billing", __name__)


@bp.get("/v1/billing/balance")
def balance() -> Response:
    user_id = current_user_id()
    with calling("billing"):
        reply = current_app.extensions["backends"].billing.GetBalance(
            billing_pb2.GetBalanceRequest(user_id=user_id)
        )
    return jsonify({"available": reply.available, "reserved": reply.reserved})
