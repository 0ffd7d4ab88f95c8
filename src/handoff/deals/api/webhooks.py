"""CRM webhooks: `POST /api/v1/webhooks/crm/{source}` for each configured CRM source.

The request is authenticated first (the vendor's signature and timestamp window, or basic auth);
a failure answers 401 and is logged with the reason, never with a secret or the expected value.
An authentic request becomes canonical deal events (fetching from the CRM what the webhook does
not carry) that are stored in the inbox before the answer (`app.intake.receive`): a redelivered
event id is a no-op. An event the inbox cannot take (text or lengths the database refuses, a time
too far ahead of the clock: `deals.service.admission.check`) refuses the request with 422 naming
the event and field, before anything is stored. A CRM API that cannot be reached answers 503, so
the CRM delivers again.

Sources are built in the composition root and put on `app.state.crm_sources`; the public base URL
that the CRM calls (needed for HubSpot's signature behind a proxy) on `app.state.public_url`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from handoff.context import AppContext
from handoff.deals.connectors import FetchError, InboundRequest, PayloadError, SignatureError, WebhookSource
from handoff.deals.service import admission
from handoff.deals.service.intake import receive
from handoff.web.errors import ERROR_RESPONSES, ErrorBody, error

logger = logging.getLogger("handoff.deals.api.webhooks")
MAX_BODY = 1_000_000


def _public_url(request: Request) -> str:
    base = str(getattr(request.app.state, "public_url", "") or "").rstrip("/")
    if not base:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base}{request.url.path}{query}"


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/api/v1/webhooks/crm", tags=["webhooks"])

    responses: dict[int | str, dict[str, Any]] = {
        **ERROR_RESPONSES,
        200: {"description": "a notification that carries no deal change (ignored)"},
        404: {"model": ErrorBody, "description": "no CRM source of that name is configured"},
        503: {"model": ErrorBody, "description": "the CRM's API could not be reached: deliver again later"},
    }

    @r.post("/{source}", status_code=202, responses=responses)
    async def crm_webhook(source: str, request: Request) -> Any:
        """Receive a CRM's deal notification (HubSpot, Pipedrive, generic JSON)."""
        sources: dict[str, WebhookSource] = getattr(request.app.state, "crm_sources", {}) or {}
        handler = sources.get(source)
        if handler is None:
            return error(404, "unknown_source", f"no CRM source {source!r} is configured")
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(413, "too_large", f"body over {MAX_BODY} bytes")
        inbound = InboundRequest(
            request.method, _public_url(request), {k.lower(): v for k, v in request.headers.items()}, body
        )
        now = ctx.clock()
        try:
            handler.verify(inbound, now)
        except SignatureError as exc:
            client = request.client.host if request.client else "-"
            logger.warning("webhook %s from %s rejected: %s", source, client, exc)
            return error(401, "unauthenticated", str(exc))
        try:
            events = await run_in_threadpool(handler.events, inbound, now)
        except PayloadError as exc:
            logger.warning("webhook %s: unusable payload: %s", source, exc)
            return error(422, "invalid_event", str(exc))
        except FetchError as exc:
            logger.warning("webhook %s: CRM API unavailable, asking for redelivery: %s", source, exc)
            return error(503, "crm_unavailable", "the CRM's API could not be reached; deliver again later")
        if not events:
            return JSONResponse({"status": "ignored", "events": 0}, status_code=200)
        for event in events:
            if (refused := admission.check(ctx, event)) is not None:
                name = admission.printable(event.event_id)[:200]
                logger.warning("webhook %s: event %s refused: %s", source, name, refused)
                return error(422, "invalid_event", f"event {name}: {refused}", refused.field)
        report = await run_in_threadpool(receive, ctx, events)
        processor = getattr(request.app.state, "processor", None)
        if report.received and processor is not None:
            processor.wake()
        return {
            "status": "accepted",
            "events": len(events),
            "received": report.received,
            "duplicates": report.duplicates,
        }

    return r
