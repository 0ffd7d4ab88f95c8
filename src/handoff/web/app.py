"""The HTTP application: JSON API under /api/v1 (OpenAPI at /api/v1/openapi.json) and the
server-rendered UI for sales, finance, auditors and admins. Each capability brings its own API
routes and pages; this shell mounts them with the session, error handling and the body limit.

Webhook intake stores the event in the inbox and acknowledges only once it is stored (group
commit: concurrent events share one transaction), so an acknowledged event is never lost; events
are applied by the inline processor or by `handoff worker`s, and a redelivery is recognised by its
event id.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handoff.approvals import api as approvals_api
from handoff.approvals import ui as approvals_ui
from handoff.audit import api as audit_api
from handoff.cash import api as cash_api
from handoff.cash import ui as cash_ui
from handoff.context import AppContext
from handoff.contracts import api as contracts_api
from handoff.contracts import api_change_orders as contracts_api_change_orders
from handoff.contracts import api_contracts as contracts_api_contracts
from handoff.contracts import ui as contracts_ui
from handoff.customers import api as customers_api
from handoff.customers import ui as customers_ui
from handoff.deals import api as deals_api
from handoff.deals import ui as deals_ui
from handoff.invoicing import api as invoicing_api
from handoff.invoicing import ui as invoicing_ui
from handoff.invoicing.service import einvoicing
from handoff.projects import api as projects_api
from handoff.projects import api_health as projects_api_health
from handoff.projects import api_signals as projects_api_signals
from handoff.projects import ui as projects_ui
from handoff.reporting import api as reporting_api
from handoff.reporting import api_forecast as reporting_api_forecast
from handoff.reporting import ui as reporting_ui
from handoff.usage import api as usage_api
from handoff.usage import ui as usage_ui
from handoff.users import api as users_api
from handoff.users import ui as users_ui
from handoff.web import pages
from handoff.web.errors import ApiError, error, http_error, on_api_error, on_validation_error
from handoff.web.security import SecurityHeaders
from handoff.worker.applier import ApplierProcess, InlineProcessor
from handoff.worker.group_commit import GroupCommitter

MAX_BODY = 1_000_000
STATIC = Path(__file__).parent / "static"
SESSION_HOURS = 12

intake = APIRouter(prefix="/api/v1")


@intake.get("/health", tags=["intake"])
def health() -> dict[str, str]:
    return {"status": "ok"}


class BodyLimit:
    """Refuses request bodies over `limit` bytes with 413 before any route reads them (the
    declared length is checked first; a chunked body is counted as it arrives)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY, larger: dict[str, int] | None = None) -> None:
        self.app, self.limit, self.larger = app, limit, dict(larger or {})  # paths that take bigger batches

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await error(413, "too_large", f"body over {limit} bytes")(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # client went away: let the app see it
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await error(413, "too_large", f"body over {limit} bytes")(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _sqlite_file(ctx: AppContext) -> bool:
    database = ctx.engine.url.database
    return ctx.engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"


def _mount(api: FastAPI, *routers: APIRouter) -> None:
    """One package's routers (its API, its pages), in order."""
    for router in routers:
        api.include_router(router)


def create_app(
    ctx: AppContext,
    webhook_token: str | Sequence[str] | None = None,
    *,
    insecure_open_intake: bool = False,
    secret_key: str | None = None,
    https_only: bool | None = None,
    process_inline: bool | None = None,
    make_context: Callable[[], AppContext] | None = None,
) -> FastAPI:
    """The web app on `ctx`. `secret_key` signs session cookies (default HANDOFF_SECRET_KEY, else a
    random key: sessions then end when the process does). `process_inline` applies received events
    without workers (default; HANDOFF_PROCESS_INLINE=0 when `handoff worker` processes do it): on a
    thread of this process or, on a SQLite file and given `make_context` (a picklable callable that
    builds the same context again), in a child process. `webhook_token`: what the deal webhook's
    `X-Handoff-Token` must be (default HANDOFF_WEBHOOK_TOKEN; several while senders move to a new
    one); without one the webhook is closed, unless `insecure_open_intake` opens it for local use
    (every page then says so)."""
    api = FastAPI(
        title="handoff",
        version="0.1.0",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        swagger_ui_oauth2_redirect_url="/api/v1/docs/oauth2-redirect",
        redoc_url=None,
        description="From closed-won to cash: deals, exceptions, finance tasks, invoices, "
        "payments, metrics and the audit trail. Authenticate with `Authorization: Bearer <token>` "
        "(create one in the UI or with `handoff users token`).",
    )
    api.state.ctx = ctx
    given = os.environ.get("HANDOFF_WEBHOOK_TOKEN", "") if webhook_token is None else webhook_token
    api.state.webhook_tokens = tokens = tuple(t for t in ((given,) if isinstance(given, str) else given) if t)
    api.state.webhook_token = tokens[0] if tokens else ""
    api.state.insecure_open_intake = insecure_open_intake and not tokens
    if process_inline is None:
        process_inline = os.environ.get("HANDOFF_PROCESS_INLINE", "1") != "0"
    api.state.committer = committer = GroupCommitter(ctx)
    processor: InlineProcessor | ApplierProcess | None = None
    if process_inline and make_context is not None and _sqlite_file(ctx):
        processor = ApplierProcess(ctx, make_context, committer.waiting_count)
    elif process_inline:
        processor = InlineProcessor(ctx, busy=lambda: committer.waiting > 0)
    api.state.processor = processor
    api.router.add_event_handler("shutdown", api.state.committer.close)
    # the e-invoice rule sets compile on a background thread: start-up does not wait for them
    api.router.add_event_handler("startup", einvoicing.warm_in_background)
    if api.state.processor is not None:
        api.router.add_event_handler("startup", api.state.processor.start)
        api.router.add_event_handler("shutdown", api.state.processor.stop)
    key = secret_key or os.environ.get("HANDOFF_SECRET_KEY") or secrets.token_urlsafe(32)
    secure = https_only if https_only is not None else os.environ.get("HANDOFF_HTTPS_ONLY", "") == "1"
    api.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie="handoff_session",
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=secure,
    )
    larger = {**projects_api_signals.LARGE_BODIES, **usage_api.LARGE_BODIES}  # paths taking batches of 10,000
    api.add_middleware(BodyLimit, limit=MAX_BODY, larger=larger)
    api.add_middleware(SecurityHeaders, docs_paths=("/api/v1/docs", "/api/v1/docs/oauth2-redirect"))

    async def on_invalid(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return await on_validation_error(request, exc)
        return pages.error_page(request, 404, "That address does not lead to a page (a number or filter is invalid).")

    api.add_exception_handler(RequestValidationError, on_invalid)
    api.add_exception_handler(ApiError, on_api_error)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path.startswith("/api/"):
            return http_error(exc, request)
        return pages.error_page(request, exc.status_code, str(exc.detail))

    api.add_exception_handler(StarletteHTTPException, on_http_error)
    pages.install(api)
    _mount(api, intake, pages.router)
    _mount(api, deals_api.router(ctx), deals_ui.router)
    _mount(api, invoicing_api.router, invoicing_ui.router)
    _mount(api, cash_api.router, cash_ui.router)
    _mount(api, contracts_api.router, contracts_api_contracts.router, contracts_ui.router)
    _mount(api, contracts_api_change_orders.router)
    _mount(api, approvals_api.router, approvals_ui.router)
    _mount(api, users_api.router, users_ui.router)
    _mount(api, reporting_api.router, reporting_api_forecast.router, reporting_ui.router)
    _mount(api, audit_api.router)
    _mount(api, projects_api.router, projects_api_signals.router)
    _mount(api, projects_api_health.router, projects_ui.router)
    _mount(api, customers_api.router, customers_ui.router)
    _mount(api, usage_api.router, usage_ui.router)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    return api
