"""Slack interactivity: `POST /slack/interactions`, where Slack sends Approve / Reject clicks.

The request is checked first (Slack's v0 signature with the signing secret, 5-minute window);
then the Slack user is mapped to a handoff user through `notifications.slack_users` (Slack user
id -> e-mail), who must be an active finance user or admin. The decision is the same use case as
in the API and CLI, so four-eyes holds here too. Slack shows nothing of the HTTP answer to a
button click: the decision is answered at the click's response_url through the outbox (in the
decision's own transaction), replacing the buttons with who decided; a refused click is answered
to the clicker alone, and a click on a request already decided elsewhere also replaces the buttons.

The signing secret is put on `app.state.slack_signing_secret` by the composition root
(HANDOFF_SLACK_SIGNING_SECRET); without it the route answers 404.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from handoff.approvals import service as approvals
from handoff.approvals.service import ApprovalError
from handoff.notifications import service as notices
from handoff.notifications.channels.slack import InteractionError, parse_interaction
from handoff.users import service as users
from handoff.users.service import Role
from handoff.web.auth import context
from handoff.web.errors import error

logger = logging.getLogger("handoff.approvals.api.slack")
MAX_BODY = 100_000
DECIDERS = (Role.FINANCE, Role.ADMIN)
REPLY_CHANNEL = "slack_reply"  # the outbox channel that answers at a click's response_url


def _answer(text: str, ok: bool, status: int = 200) -> JSONResponse:
    return JSONResponse({"ok": ok, "text": text}, status_code=status)


def router() -> APIRouter:
    r = APIRouter()

    @r.post("/slack/interactions", include_in_schema=False)
    async def slack_interactions(request: Request) -> Any:
        ctx = context(request)
        secret = str(getattr(request.app.state, "slack_signing_secret", "") or "")
        if not secret:
            return error(404, "not_found", "Slack interactivity is not configured")
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(413, "too_large", f"body over {MAX_BODY} bytes")
        try:
            click = parse_interaction(secret, body, request.headers, ctx.clock())
        except InteractionError as exc:
            logger.warning("slack interaction refused: %s", exc)
            return error(
                401 if exc.unauthenticated else 422,
                "unauthenticated" if exc.unauthenticated else "invalid_request",
                str(exc),
            )
        reply = (
            notices.Reply(REPLY_CHANNEL, click.response_url, {"message_blocks": list(click.message_blocks)})
            if click.response_url
            else None
        )

        async def refused(text: str, *, in_place: bool = False) -> JSONResponse:
            if reply is not None:
                await run_in_threadpool(approvals.answer_refusal, ctx, reply, click.approval_id, text, in_place)
            return _answer(text, ok=False)

        email = ctx.config.model.notifications.slack_users.get(click.slack_user, "")
        user = await run_in_threadpool(users.user_by_email, ctx, email) if email else None
        if user is None or user.role not in DECIDERS:
            reason = (
                "is not mapped to a handoff user (notifications.slack_users)"
                if not email
                else f"maps to {email}, who is not an active finance user or admin"
            )
            return await refused(f"Slack user {click.slack_user} {reason}: decide in handoff instead.")
        try:
            if click.action == "approve":
                await run_in_threadpool(
                    approvals.approve, ctx, click.approval_id, user.actor, "approved in Slack", reply
                )
            else:
                await run_in_threadpool(
                    approvals.reject, ctx, click.approval_id, user.actor, "rejected in Slack", reply
                )
        except ApprovalError as exc:
            # decided meanwhile (in handoff or by another click): its buttons go, with what happened
            return await refused(str(exc), in_place=exc.code == "not_pending")
        return _answer(f"approval {click.approval_id} {click.action}d by {user.email}", ok=True)

    return r
