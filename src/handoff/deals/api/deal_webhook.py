"""The generic deal webhook: `POST /api/v1/webhooks/deals/{source}` takes one deal event (or a bare
deal) from any sender that can post JSON, authenticated by the `X-Handoff-Token` header. Without a
configured token the webhook is closed (401), unless the app was started with an open intake for
local use (`handoff serve --insecure-open-intake`).

The event is checked alone (`deals.service.admission.check`: text and lengths the database takes,
a time not ahead of the clock), then stored in the inbox through the web app's group commit (events
arriving together share one transaction) and acknowledged once stored: 202, 200 for a redelivery,
409 for an event id already used for another deal. Applying it happens after the answer (the
app's applier is woken).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from handoff.context import AppContext
from handoff.deals.domain.orders import LINE_FIELDS, DealEvent
from handoff.deals.formats.files import DealRow, IntakeError, deal_input, parse_time
from handoff.deals.service import admission
from handoff.deals.service.admission import Receipt
from handoff.web.errors import ERROR_RESPONSES, ErrorBody, error

MAX_BODY = 1_000_000
PREFIX = "webhook:"  # the stored source is `webhook:<source>`, within the column's 40 characters
MAX_SOURCE = admission.LIMITS["source"] - len(PREFIX)
# A sender's name: letters, digits, `.`, `_`, `-`; documented in the schema and checked from it.
SOURCE = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_SOURCE - 1}}}$"

router = APIRouter(prefix="/api/v1")


class WebhookReceipt(BaseModel):
    status: str = Field(description="accepted | duplicate")
    event_id: str


# What the route takes, as it takes it: plain values (numbers and booleans are read as text), no
# NUL, the lengths of `admission.LIMITS`, a deal id that is not blank, `lines` a list of objects.
_NO_NUL = r"^[^\x00]*$"
_VALUE = {"type": ["string", "number", "boolean", "null"], "pattern": _NO_NUL}
_LIMITED = {f: {**_VALUE, "maxLength": n} for f, n in admission.LIMITS.items() if f not in ("source", "event_id")}
_DEAL_ID = {"type": ["string", "number", "boolean"], "pattern": r"\S", "maxLength": admission.LIMITS["deal_id"]}
# a line's own fields are read (other keys are ignored); an empty value means no lines
_LINES = {
    "anyOf": [
        {"type": "array", "items": {"type": "object", "properties": dict.fromkeys(LINE_FIELDS, _VALUE)}},
        {"enum": [None, "", False, 0]},
        {"type": "object", "maxProperties": 0},
    ]
}
_STAMP = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"const": ""}, {"type": "null"}],
    "description": "when the deal changed (RFC 3339, not ahead of the clock); empty: on arrival",
}
_EVENT_ID = {**_VALUE, "maxLength": admission.LIMITS["event_id"], "description": "empty: the body's SHA-256"}
_DEAL_FIELDS: dict[str, object] = {**_LIMITED, "deal_id": _DEAL_ID, "lines": _LINES}
_DEAL = {
    "type": "object",
    "description": "the generic deal fields; other keys are kept as custom fields",
    "required": ["deal_id"],
    "properties": _DEAL_FIELDS,
    "additionalProperties": _VALUE,
    "propertyNames": {"pattern": _NO_NUL},
}
WEBHOOK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "description": "an event envelope, or a bare deal (the generic deal fields)",
                "anyOf": [
                    {
                        "type": "object",
                        "required": ["deal"],
                        "properties": {"event_id": _EVENT_ID, "occurred_at": _STAMP, "deal": _DEAL},
                    },
                    {
                        **_DEAL,
                        "properties": {**_DEAL_FIELDS, "event_id": _EVENT_ID, "occurred_at": _STAMP},
                    },
                ],
            }
        }
    },
}


RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {"model": WebhookReceipt, "description": "a redelivery"},
    503: {"model": ErrorBody, "description": "the inbox could not be reached: deliver again later"},
}


@router.post(
    "/webhooks/deals/{source}",
    status_code=202,
    tags=["intake"],
    response_model=WebhookReceipt,
    responses=RESPONSES,
    openapi_extra={"requestBody": WEBHOOK_BODY},
)
async def deal_webhook(source: Annotated[str, Path(pattern=SOURCE)], request: Request) -> Any:
    """Receive one deal event: `{"event_id", "occurred_at", "deal": {...}}` (or a bare deal,
    whose content hash is its event id and arrival its time). Authenticated by `X-Handoff-Token`;
    an event id already used for another deal is answered 409."""
    state = request.app.state
    tokens: tuple[str, ...] = state.webhook_tokens
    if not tokens and not state.insecure_open_intake:
        return error(401, "unauthenticated", "intake is closed: no webhook token is configured (HANDOFF_WEBHOOK_TOKEN)")
    given = request.headers.get("x-handoff-token", "").encode()
    if tokens and not any(hmac.compare_digest(given, token.encode()) for token in tokens):
        return error(401, "unauthenticated", "missing or wrong X-Handoff-Token")
    body = await request.body()
    if len(body) > MAX_BODY:
        return error(413, "too_large", f"body over {MAX_BODY} bytes")
    try:
        raw = json.loads(body, parse_float=str)
    except RecursionError:
        return error(400, "invalid_json", "body is nested too deeply")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return error(400, "invalid_json", f"body is not JSON: {exc}")
    if not isinstance(raw, dict):
        return error(422, "invalid_event", "body must be a JSON object")
    ctx: AppContext = state.ctx
    try:
        deal = deal_input("webhook", DealRow(1, raw))
        if not deal.deal_id:
            return error(422, "invalid_event", "deal_id is missing", "deal_id")
        stamp = raw.get("occurred_at")
        stamped = stamp is not None and stamp != ""  # as documented: only null or "" mean "on arrival"
        occurred = parse_time(str(stamp), "webhook", None, "occurred_at") if stamped else ctx.clock()
    except IntakeError as exc:
        return error(422, "invalid_event", exc.message, exc.field)
    given_id = raw.get("event_id")
    if isinstance(given_id, dict | list):
        return error(422, "invalid_event", "event_id must be a string", "event_id")
    event = DealEvent(f"{PREFIX}{source}", str(given_id or hashlib.sha256(body).hexdigest()), occurred, deal)
    refused = admission.check(ctx, event) if stamped else admission.refusal(event)
    if refused is not None:
        return error(422, "invalid_event", str(refused), refused.field)
    # group commit: concurrent events share one transaction (one fsync); answered once stored
    try:
        receipt = await state.committer.submit(event)
    except Exception as exc:
        if not admission.transient(exc):
            raise
        return error(
            503, "unavailable", "the inbox could not be reached; deliver again later", None, {"Retry-After": "5"}
        )
    if receipt is Receipt.DUPLICATE:
        return JSONResponse({"status": "duplicate", "event_id": event.event_id}, status_code=200)
    if receipt is Receipt.CONFLICT:
        message = f"event_id {event.event_id!r} was used already for another version of the deal: send a new event id"
        return error(409, "conflict", message, "event_id")
    if state.processor is not None:
        state.processor.wake()
    return {"status": "accepted", "event_id": event.event_id}
