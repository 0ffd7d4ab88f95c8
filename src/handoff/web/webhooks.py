"""Signed webhooks of configured sources (time-tracking tools, usage platforms): one check for all.

A sender puts `X-Handoff-Timestamp` (Unix seconds) and `X-Handoff-Signature: sha256=<hex of
HMAC-SHA256(secret, timestamp + "." + body)>` on each request; a request is taken when its source
has a secret, the timestamp is within `WINDOW` of the clock and the signature matches. Closed by
default: a source without a secret is unknown (404); anything else wrong is 401, logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Mapping

from fastapi import Request

from handoff.context import AppContext
from handoff.web.auth import context
from handoff.web.errors import ApiError

WINDOW = dt.timedelta(minutes=5)
logger = logging.getLogger("handoff.web.webhooks")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body): what a sender puts in X-Handoff-Signature."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


async def verified(request: Request, secrets: Mapping[str, str], source: str, kind: str) -> str:
    """`source`, once the request is shown to come from it (`secrets`: each configured source's
    secret; `kind` names the webhook in messages: "delivery", "usage")."""
    secret = secrets.get(source)
    if secret is None:
        raise ApiError(404, "unknown_source", f"no {kind} source {source!r} is configured", "source")
    given = request.headers.get("x-handoff-signature", "")
    stamp = request.headers.get("x-handoff-timestamp", "")
    client = request.client.host if request.client else "-"
    problem = ""
    if not given or not stamp:
        problem = "missing X-Handoff-Signature or X-Handoff-Timestamp"
    elif not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        problem = "X-Handoff-Timestamp is not Unix seconds"
    else:
        ctx: AppContext = context(request)
        age = ctx.clock() - dt.datetime.fromtimestamp(int(stamp), dt.UTC)
        if abs(age) > WINDOW:
            problem = f"timestamp outside the 5-minute window ({age.total_seconds():.0f}s old)"
        elif not hmac.compare_digest(sign(secret, stamp, await request.body()).encode(), given.encode()):
            problem = "X-Handoff-Signature does not match"
    if problem:
        logger.warning("%s webhook %s from %s rejected: %s", kind, source, client, problem)
        raise ApiError(401, "unauthenticated", problem)
    return source
