"""The HTTP application: JSON API under /api/v1 (OpenAPI at /api/v1/openapi.json).

Webhook intake stores the event in the inbox and acknowledges before any processing, so an
acknowledged event is never lost; the event is applied right after the response (and by any
`handoff worker`), and a redelivery is recognised by its event id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from handoff.app.context import AppContext
from handoff.app.intake import process_pending
from handoff.connectors.intake.files import DealRow, IntakeError, deal_input, parse_time
from handoff.domain.orders import DealEvent
from handoff.web import webhooks
from handoff.web.group_commit import GroupCommitter

MAX_BODY = 1_000_000
log = logging.getLogger("handoff.web")


def error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)


class InlineProcessor:
    """Applies received events in the API process, on one background thread. It waits `linger`
    seconds after being woken so that events arriving together are applied in one transaction:
    fewer, larger transactions leave the SQLite write lock free for acknowledgements most of the
    time, which keeps webhook latency low under load."""

    def __init__(self, ctx: AppContext, linger: float = 0.1, batch: int = 50) -> None:
        self.ctx, self.linger, self.batch = ctx, linger, batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="handoff-inline-processor", daemon=True)
        self._thread.start()
        self._wake.set()  # apply whatever was left pending by an earlier run

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._stop.wait(self.linger)
            self._wake.clear()
            try:
                process_pending(self.ctx, batch=self.batch)
            except Exception:  # the events stay pending; the next wake-up tries again
                log.exception("inline processing failed")


def create_app(ctx: AppContext, webhook_token: str | None = None, process_inline: bool | None = None) -> FastAPI:
    """`process_inline`: apply events in the API process (the default, for a single-process setup);
    off when `handoff worker` processes run (env HANDOFF_PROCESS_INLINE=0)."""
    api = FastAPI(title="handoff", version="0.1.0", openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs")
    api.include_router(webhooks.router(ctx))
    token = webhook_token if webhook_token is not None else os.environ.get("HANDOFF_WEBHOOK_TOKEN", "")
    if process_inline is None:
        process_inline = os.environ.get("HANDOFF_PROCESS_INLINE", "1") != "0"
    processor = InlineProcessor(ctx) if process_inline else None
    committer = GroupCommitter(ctx)
    api.router.add_event_handler("shutdown", committer.close)
    if processor is not None:
        api.router.add_event_handler("startup", processor.start)
        api.router.add_event_handler("shutdown", processor.stop)

    @api.get("/api/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/api/v1/webhooks/deals/{source}", status_code=202)
    async def deal_webhook(source: str, request: Request) -> Any:
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
        is_new = await committer.submit(DealEvent(f"webhook:{source}", event_id, occurred, deal))
        if not is_new:
            return JSONResponse({"status": "duplicate", "event_id": event_id}, status_code=200)
        if processor is not None:
            processor.wake()
        return {"status": "accepted", "event_id": event_id}

    return api
