"""The generic deal webhook: `POST /api/v1/webhooks/deals/{source}` takes one deal event (or a bare
deal) from any sender that can post JSON, authenticated by the `X-Handoff-Token` header.

The event is checked alone, then stored in the inbox through the web app's group commit (events
arriving together share one transaction) and acknowledged once stored: 202, or 200 for a
redelivery. Applying it happens after the answer (the app's applier is woken).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from handoff.deals.domain.orders import DealEvent
from handoff.deals.formats.files import DealRow, IntakeError, deal_input, parse_time
from handoff.web.errors import ERROR_RESPONSES, error

MAX_BODY = 1_000_000

router = APIRouter(prefix="/api/v1")


class WebhookReceipt(BaseModel):
    status: str = Field(description="accepted | duplicate")
    event_id: str


WEBHOOK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "an event envelope, or a bare deal (the generic deal fields)",
                "properties": {
                    "event_id": {"type": "string"},
                    "occurred_at": {"type": "string", "format": "date-time"},
                    "deal": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        }
    },
}


@router.post(
    "/webhooks/deals/{source}",
    status_code=202,
    tags=["intake"],
    response_model=WebhookReceipt,
    responses={**ERROR_RESPONSES, 200: {"model": WebhookReceipt, "description": "a redelivery"}},
    openapi_extra={"requestBody": WEBHOOK_BODY},
)
async def deal_webhook(source: str, request: Request) -> Any:
    """Receive one deal event: `{"event_id", "occurred_at", "deal": {...}}` (or a bare deal,
    whose content hash is its event id and arrival its time). Authenticated by `X-Handoff-Token`
    when a webhook token is configured."""
    token: str = request.app.state.webhook_token
    if token and not hmac.compare_digest(request.headers.get("x-handoff-token", "").encode(), token.encode()):
        return error(401, "unauthenticated", "missing or wrong X-Handoff-Token")
    body = await request.body()
    if len(body) > MAX_BODY:
        return error(413, "too_large", f"body over {MAX_BODY} bytes")
    if b"\x00" in body or b"\\u0000" in body:
        return error(422, "invalid_event", "body contains NUL characters")
    try:
        raw = json.loads(body, parse_float=str)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        return error(400, "invalid_json", f"body is not JSON: {exc}")
    if not isinstance(raw, dict):
        return error(422, "invalid_event", "body must be a JSON object")
    if len(source) > 40 or not source.isprintable():
        return error(422, "invalid_event", "source must be at most 40 printable characters", "source")
    try:
        deal = deal_input("webhook", DealRow(1, raw))
        if not deal.deal_id:
            return error(422, "invalid_event", "deal_id is missing", "deal_id")
        stamp = raw.get("occurred_at")
        occurred = parse_time(str(stamp), "webhook", None, "occurred_at") if stamp else datetime.now(UTC)
    except IntakeError as exc:
        return error(422, "invalid_event", exc.message)
    event_id = str(raw.get("event_id") or hashlib.sha256(body).hexdigest())
    if len(event_id) > 200 or len(deal.deal_id) > 200:
        return error(422, "invalid_event", "event_id and deal_id have at most 200 characters")
    # group commit: concurrent events share one transaction (one fsync); answered once stored
    if not await request.app.state.committer.submit(DealEvent(f"webhook:{source}", event_id, occurred, deal)):
        return JSONResponse({"status": "duplicate", "event_id": event_id}, status_code=200)
    if request.app.state.processor is not None:
        request.app.state.processor.wake()
    return {"status": "accepted", "event_id": event_id}
