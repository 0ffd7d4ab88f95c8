"""API: deals/orders and the exception queue.

Sales users see and fix only their own deals; finance, auditors and admins see all."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from handoff.context import AppContext
from handoff.deals.api.schemas import ExceptionPage, OrderDetail, OrderPage, OrderStateName
from handoff.deals.service import queries as deal_queries
from handoff.deals.service.orders import OrderError, update_fields
from handoff.users.service import Role, User
from handoff.web.auth import ALL, api_user, check_deal_access
from handoff.web.deps import Ctx, DealId, Filter, Limit, Offset
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import BillingFix, page_out, plain

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
EDITORS = (Role.SALES, Role.FINANCE, Role.ADMIN)


def _own_filter(user: User, owner: str | None) -> str | None:
    if user.role is Role.SALES:
        if owner and owner.strip().lower() != user.email:
            raise ApiError(403, "forbidden", "sales users see only their own deals", "owner")
        return user.email
    return owner


@router.get("/orders", response_model=OrderPage, tags=["orders"])
def list_orders(
    ctx: Ctx,
    limit: Limit = 50,
    offset: Offset = 0,
    state: OrderStateName | None = None,
    owner: Filter = None,
    customer: Filter = None,
    text: Filter = None,
    user: User = api_user(*ALL),
) -> Any:
    """Deals, newest first, filtered by state, owner, customer (id or part of the name) and text."""
    page = deal_queries.list_orders(
        ctx, state=state, owner=_own_filter(user, owner), customer=customer, text=text, limit=limit, offset=offset
    )
    return page_out(page)


def _detail(ctx: AppContext, deal_id: str) -> Any:
    detail = deal_queries.order_detail(ctx, deal_id)
    if detail is None:
        raise ApiError(404, "not_found", f"no deal {deal_id}", "deal_id")
    return plain(detail)


@router.get("/orders/{deal_id}", response_model=OrderDetail, tags=["orders"])
def get_order(ctx: Ctx, deal_id: DealId, user: User = api_user(*ALL)) -> Any:
    check_deal_access(ctx, user, deal_id)
    return _detail(ctx, deal_id)


@router.patch("/orders/{deal_id}", response_model=OrderDetail, tags=["orders"])
def fix_order(ctx: Ctx, deal_id: DealId, fix: BillingFix, user: User = api_user(*EDITORS)) -> Any:
    """Correct billing fields. The deal is re-checked at once: fixed deals leave the exception
    queue and move on (ready, drafted) in the same request."""
    check_deal_access(ctx, user, deal_id)
    changes = fix.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise ApiError(422, "invalid_request", "send at least one field to change")
    try:
        update_fields(ctx, deal_id, changes, user.email)
    except OrderError as exc:  # well-formed, but not possible now (a new owner who is no active user)
        raise ApiError(409, "conflict", str(exc), exc.field) from exc
    return _detail(ctx, deal_id)


@router.get("/exceptions", response_model=ExceptionPage, tags=["exceptions"])
def list_exceptions(
    ctx: Ctx,
    limit: Limit = 50,
    offset: Offset = 0,
    owner: Filter = None,
    reason: Filter = None,
    min_age_days: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    max_age_days: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    user: User = api_user(*ALL),
) -> Any:
    """Open exceptions, oldest first; `reason` is a problem's field (`po_number`) or code (`missing`)."""
    page = deal_queries.list_exceptions(
        ctx,
        owner=_own_filter(user, owner),
        reason=reason,
        min_age_days=min_age_days,
        max_age_days=max_age_days,
        limit=limit,
        offset=offset,
    )
    return page_out(page)
