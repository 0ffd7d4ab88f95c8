"""The deals pages: sales work their exception queue and fix billing fields inline; everyone
with access lists deals and reads a deal with its timeline from the audit trail. Sales users see
and fix only their own deals. Admins see the deal events that failed to apply and retry them once
the cause is fixed (`deals.service.inbox`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from handoff.audit import service as audit
from handoff.deals.service import inbox
from handoff.deals.service import queries as deal_queries
from handoff.deals.service.inbox import InboxEvent, InboxStatus, RetryRefused, RetryReport
from handoff.deals.service.orders import EDITABLE, OrderError, update_fields
from handoff.reporting.service.digest import AGE_BUCKETS
from handoff.users.service import Role, User
from handoff.web.auth import ALL, context, may_see_deal, ui_user
from handoff.web.pages import PAGE, STATE_LABELS, error_page, flash_message, render, safe_next, see_other
from handoff.web.schemas import BillingFix

router = APIRouter(include_in_schema=False)
AGE_FILTERS = {label: (lo, hi) for lo, hi, label in AGE_BUCKETS}
INBOX_PAGE = "/admin/inbox"
REASON_LENGTH = 500


@router.get("/exceptions")
def exceptions_page(
    request: Request,
    owner: str = "",
    reason: str = "",
    age: str = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    user: User = ui_user(*ALL),
) -> Response:
    ctx = context(request)
    if user.role is Role.SALES:
        owner = user.email
    lo, hi = AGE_FILTERS.get(age, (None, None))
    found = deal_queries.list_exceptions(
        ctx,
        owner=owner or None,
        reason=reason or None,
        min_age_days=lo,
        max_age_days=hi if hi is None or hi < 10**6 else None,
        limit=PAGE,
        offset=(page - 1) * PAGE,
    )
    everything = deal_queries.list_exceptions(ctx, owner=user.email if user.role is Role.SALES else None, limit=1)
    owners = (
        sorted({r["owner"] for r in deal_queries.list_exceptions(ctx, limit=1000).items})
        if user.role is not Role.SALES
        else []
    )
    return render(
        request,
        "exceptions.html",
        user,
        page=found,
        page_no=page,
        owner=owner,
        reason=reason,
        age=age,
        ages=list(AGE_FILTERS),
        owners=owners,
        open_total=everything.total,
        reasons=sorted(EDITABLE),
        can_fix=user.role in (Role.SALES, Role.FINANCE, Role.ADMIN),
    )


@router.post("/deals/{deal_id}/fix")
async def fix_deal(
    request: Request, deal_id: str, user: User = ui_user(Role.SALES, Role.FINANCE, Role.ADMIN)
) -> Response:
    ctx = context(request)
    owner = deal_queries.order_owner(ctx, deal_id)
    if owner is None:
        return error_page(request, 404, f"There is no deal {deal_id}.")
    if not may_see_deal(user, owner):
        return error_page(request, 403, "Sales users can fix only their own deals.")
    form = await request.form()
    back = safe_next(str(form.get("back", ""))) or f"/deals/{deal_id}"
    changes = {k: str(v).strip() for k, v in form.items() if k in EDITABLE and str(v).strip()}
    if not changes:
        flash_message(request, "warn", f"{deal_id}: nothing to save — fill in at least one field.")
        return see_other(back)
    try:
        BillingFix.model_validate(changes)
        update_fields(ctx, deal_id, changes, user.email)
    except (ValidationError, OrderError) as exc:
        flash_message(request, "error", f"{deal_id}: not saved — {exc}")
        return see_other(back)
    detail = deal_queries.order_detail(ctx, deal_id) or {}
    if detail.get("problems"):
        left = "; ".join(p["message"] for p in detail["problems"])
        flash_message(request, "warn", f"{deal_id} saved, still blocked: {left}")
    else:
        flash_message(
            request, "ok", f"{deal_id} is ready to bill — it left the exception queue and finance has a task."
        )
    return see_other(back)


@router.get("/deals")
def deals_page(
    request: Request,
    state: str = "",
    owner: str = "",
    text: str = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    user: User = ui_user(*ALL),
) -> Response:
    ctx = context(request)
    if user.role is Role.SALES:
        owner = user.email
    found = deal_queries.list_orders(
        ctx, state=state or None, owner=owner or None, text=text or None, limit=PAGE, offset=(page - 1) * PAGE
    )
    return render(
        request,
        "deals.html",
        user,
        page=found,
        page_no=page,
        state=state,
        owner=owner,
        text=text,
        states=list(STATE_LABELS),
    )


@router.get("/deals/{deal_id}")
def deal_page(request: Request, deal_id: str, user: User = ui_user(*ALL)) -> Response:
    ctx = context(request)
    detail = deal_queries.order_detail(ctx, deal_id)
    if detail is None:
        return error_page(request, 404, f"There is no deal {deal_id}.")
    if not may_see_deal(user, detail["owner_email"]):
        return error_page(request, 403, "Sales users see only their own deals.")
    return render(
        request,
        "deal.html",
        user,
        deal=detail,
        timeline=audit.history(ctx, "order", deal_id)[::-1],
        can_fix=user.role in (Role.SALES, Role.FINANCE, Role.ADMIN),
        editable=sorted(EDITABLE),
    )


@router.get(INBOX_PAGE)
def inbox_page(
    request: Request, page: Annotated[int, Query(ge=1, le=10_000)] = 1, user: User = ui_user(Role.ADMIN)
) -> Response:
    failed = inbox.list_failed(context(request), limit=PAGE, offset=(page - 1) * PAGE)
    return render(request, "inbox.html", user, page=failed, page_no=page)


@router.post(INBOX_PAGE + "/{inbox_id}/retry")
async def retry_inbox_event(request: Request, inbox_id: int, user: User = ui_user(Role.ADMIN)) -> Response:
    try:
        report = inbox.retry(context(request), inbox_id, user.actor, await _reason(request))
    except RetryRefused as exc:
        flash_message(request, "error", f"Not retried: {exc}.")
        return see_other(INBOX_PAGE)
    [outcome] = report.outcomes
    kind, told = _told(outcome)
    flash_message(request, kind, told)
    return see_other(INBOX_PAGE)


@router.post(INBOX_PAGE + "/retry-all")
async def retry_all_inbox_events(request: Request, user: User = ui_user(Role.ADMIN)) -> Response:
    report = inbox.retry_all(context(request), user.actor, await _reason(request))
    if not report.outcomes:
        flash_message(request, "warn", "No failed events to retry.")
    elif len(report.outcomes) == 1:
        flash_message(request, *_told(report.outcomes[0]))
    else:
        flash_message(request, *_summary(report))
    return see_other(INBOX_PAGE)


async def _reason(request: Request) -> str:
    form = await request.form()
    return str(form.get("reason", "")).strip()[:REASON_LENGTH]


def _told(o: InboxEvent) -> tuple[str, str]:
    """How one retried event went, as a flash message (kind, text)."""
    name = f"Event {o.source}/{o.event_id} (deal {o.deal_id})"
    if o.status is InboxStatus.APPLIED:
        return "ok", f"{name} was applied."
    if o.status is InboxStatus.STALE:
        return "ok", f"{name} was stale: a newer version of the deal was applied already."
    if o.status is InboxStatus.FAILED:
        return "error", f"{name} failed again: {o.error}"
    return "warn", f"{name} is pending again: a worker is applying it."


def _summary(report: RetryReport) -> tuple[str, str]:
    labels = {InboxStatus.FAILED: "failed again", InboxStatus.PENDING: "still pending"}
    parts = [f"{report.count(s)} {labels.get(s, s.value)}" for s in InboxStatus if report.count(s)]
    kind = "error" if report.count(InboxStatus.FAILED) else "ok"
    return kind, f"{len(report.outcomes)} events retried: {', '.join(parts)}."
