"""The HTTP application: JSON API under /api/v1 (OpenAPI at /api/v1/openapi.json).

Webhook intake stores the event in the inbox and acknowledges before any processing, so an
acknowledged event is never lost; the event is applied right after the response (and by any
`handoff worker`), and a redelivery is recognised by its event id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse

from handoff.app.context import AppContext
from handoff.app.intake import process_pending, receive
from handoff.connectors.intake.files import DealRow, IntakeError, deal_input, parse_time
from handoff.domain.orders import DealEvent
from handoff.web import webhooks

MAX_BODY = 1_000_000


def error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)


def create_app(ctx: AppContext, webhook_token: str | None = None) -> FastAPI:
    api = FastAPI(title="handoff", version="0.1.0", openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs")
    api.include_router(webhooks.router(ctx))
    token = webhook_token if webhook_token is not None else os.environ.get("HANDOFF_WEBHOOK_TOKEN", "")

    @api.get("/api/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/api/v1/webhooks/deals/{source}", status_code=202)
    async def deal_webhook(source: str, request: Request, background: BackgroundTasks) -> Any:
        """Receive one deal event: `{"event_id", "occurred_at", "deal": {...}}` (or a bare deal,
        whose content hash is its event id and arrival its time)."""
        if token and not hmac.compare_digest(request.headers.get("x-handoff-token", ""), token):
            return error(401, "unauthenticated", "missing or wrong X-Handoff-Token")
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(413, "too_large", f"body over {MAX_BODY} bytes")
        try:
            raw = json.loads(body, parse_float=str)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return error(400, "invalid_json", f"body is not JSON: {exc}")
        if not isinstance(raw, dict):
            return error(422, "invalid_event", "body must be a JSON object")
        try:
            deal = deal_input("webhook", DealRow(1, raw))
            if not deal.deal_id:
                return error(422, "invalid_event", "deal_id is missing", "deal_id")
            stamp = raw.get("occurred_at")
            occurred = parse_time(str(stamp), "webhook", None, "occurred_at") if stamp else datetime.now(UTC)
        except IntakeError as exc:
            return error(422, "invalid_event", exc.message)
        event_id = str(raw.get("event_id") or hashlib.sha256(body).hexdigest())
        report = receive(ctx, [DealEvent(f"webhook:{source}", event_id, occurred, deal)])
        if report.duplicates:
            return JSONResponse({"status": "duplicate", "event_id": event_id}, status_code=200)
        background.add_task(process_pending, ctx)
        return {"status": "accepted", "event_id": event_id}

    return api
