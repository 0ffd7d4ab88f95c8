"""The contract and catalog pages: contracts (sales users see those of the deals they own), one
contract with its terms, lines, a schedule timeline (each line's periods as a row of cells by date:
billed ones link to their invoice; due, planned and superseded ones marked), its versions with their
change orders and content hashes, and the milestone acceptance form (finance and admins); the
product catalog with the list price in force per currency, one product with its versions and
prices, the form that sets a price and the one that changes the product (finance and admins).
Plain HTML and CSS, no script."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from handoff.contracts.api_contracts import default_event_id
from handoff.contracts.service import catalog
from handoff.contracts.service import queries as contract_queries
from handoff.contracts.service.contracts import ContractError, accept_milestone
from handoff.usage.service.queries import current_usage
from handoff.users.service import Role, User
from handoff.web.auth import ALL, context, may_see_deal, ui_user
from handoff.web.pages import FINANCE, PAGE, WRITERS, error_page, flash_message, render, see_other
from handoff.web.schemas import LINE

router = APIRouter(include_in_schema=False)

ContractId = Annotated[str, Path(min_length=1, max_length=200, pattern=LINE)]
MilestoneKey = Annotated[str, Path(min_length=1, max_length=100, pattern=LINE)]
Sku = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/+-]*$")]
Text = Annotated[str | None, Query(max_length=200, pattern=LINE)]
REASON_LENGTH = 500


def _status(item: dict[str, Any]) -> str:
    """What a schedule cell is marked as: billed, due, planned, superseded, intake, or awaiting
    (a milestone not accepted yet)."""
    if item["status"] == "planned":
        if item["due"]:
            return "due"
        return "awaiting" if item["bill_date"] is None else "planned"
    return str(item["status"])


def timeline(detail: dict[str, Any]) -> dict[str, Any]:
    """The schedule as a grid: one column per day a period starts (across every line), one row per
    line (the current version's, then any line only earlier versions had), each cell the items of
    that line starting that day."""
    items = detail["schedule"]
    days = sorted({i["period_start"] for i in items})
    keys = [ln["key"] for ln in detail["lines"]]
    keys += sorted({i["line_key"] for i in items} - set(keys))
    names = {ln["key"]: ln["description"] for ln in detail["lines"]}
    rows = []
    for key in keys:
        cells: dict[date, list[dict[str, Any]]] = {}
        for i in items:
            if i["line_key"] == key:
                last = i["period_end"] - timedelta(days=1)
                cells.setdefault(i["period_start"], []).append({**i, "mark": _status(i), "last_day": last})
        rows.append({"key": key, "description": names.get(key, ""), "cells": [cells.get(d, []) for d in days]})
    return {"days": days, "rows": rows}


def _back(contract_id: str) -> str:
    return "/contracts/" + quote(contract_id, safe="")


@router.get("/contracts")
def contracts_page(
    request: Request,
    customer: Text = None,
    status: Annotated[str | None, Query(pattern="^(|active|ended|terminated)$")] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    user: User = ui_user(*ALL),
) -> Response:
    found = contract_queries.list_contracts(
        context(request),
        customer_id=customer or None,
        status=status or None,
        owner=user.email if user.role is Role.SALES else None,
        limit=PAGE,
        offset=(page - 1) * PAGE,
    )
    return render(
        request, "contracts.html", user, page=found, page_no=page, customer=customer or "", status=status or ""
    )


@router.get("/contracts/{contract_id}")
def contract_page(request: Request, contract_id: ContractId, user: User = ui_user(*ALL)) -> Response:
    ctx = context(request)
    exists, owner = contract_queries.contract_owner(ctx, contract_id)
    if exists and not may_see_deal(user, owner):
        return error_page(request, 403, "Sales users see only the contracts of their own deals.")
    detail = contract_queries.contract_detail(ctx, contract_id) if exists else None
    if detail is None:
        return error_page(request, 404, f"There is no contract {contract_id}.")
    return render(
        request,
        "contract.html",
        user,
        c=detail,
        grid=timeline(detail),
        today=ctx.clock().date(),
        can_accept=user.role in WRITERS,
        sees_invoices=user.role in FINANCE,
        usage=current_usage(ctx, contract_id=contract_id),  # the "Usage this period" section
    )


@router.post("/contracts/{contract_id}/milestones/{key}/accept")
async def accept_page(
    request: Request, contract_id: ContractId, key: MilestoneKey, user: User = ui_user(*WRITERS)
) -> Response:
    """Finance records a milestone's acceptance (the same use case as the API and the CLI): the
    billing run bills it from that day on."""
    form = await request.form()
    back = _back(contract_id)
    reason = str(form.get("reason", "")).strip()[:REASON_LENGTH]
    try:
        on = date.fromisoformat(str(form.get("accepted_on", "")).strip())
    except ValueError:
        flash_message(request, "error", f"Milestone {key} not accepted: accepted on must be a date (YYYY-MM-DD).")
        return see_other(back)
    if not reason:
        flash_message(request, "error", f"Milestone {key} not accepted: say why (the customer's sign-off, say).")
        return see_other(back)
    try:
        done = accept_milestone(
            context(request),
            contract_id,
            key,
            on,
            user.actor,
            default_event_id("ui", contract_id, key, on),
            reason=reason,
        )
    except ContractError as exc:
        if exc.field == "contract_id":
            return error_page(request, 404, f"There is no contract {contract_id}.")
        flash_message(request, "error", f"Not accepted: {exc}")
        return see_other(back)
    flash_message(request, "ok", f"Milestone {key} accepted on {done.accepted_on}: it bills from that day.")
    return see_other(back)


# -- the catalog ------------------------------------------------------------------------------------


@router.get("/catalog")
def catalog_page(
    request: Request,
    text: Text = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    user: User = ui_user(*ALL),
) -> Response:
    ctx = context(request)
    found = catalog.list_products(ctx, text=text or None, limit=PAGE, offset=(page - 1) * PAGE)
    prices = contract_queries.prices_in_force(ctx, [p["sku"] for p in found.items], ctx.clock().date())
    return render(request, "catalog.html", user, page=found, page_no=page, text=text or "", prices=prices)


@router.get("/catalog/{sku}")
def product_page(request: Request, sku: Sku, user: User = ui_user(*ALL)) -> Response:
    ctx = context(request)
    product = catalog.show_product(ctx, sku)
    if product is None:
        return error_page(request, 404, f"There is no product {sku} in the catalog.")
    prices = contract_queries.prices_in_force(ctx, [sku], ctx.clock().date()).get(sku, {})
    return render(
        request,
        "product.html",
        user,
        p=product,
        prices=sorted(prices.items()),
        today=ctx.clock().date(),
        can_price=user.role in WRITERS,
    )


@router.post("/catalog/{sku}/prices")
async def price_page(request: Request, sku: Sku, user: User = ui_user(*WRITERS)) -> Response:
    """Finance sets a list price from a day on (the same use case as the API): earlier days keep theirs."""
    form = await request.form()
    back = "/catalog/" + quote(sku, safe="")
    currency = str(form.get("currency", "")).strip().upper()
    raw_price = str(form.get("unit_price", "")).strip()
    reason = str(form.get("reason", "")).strip()[:REASON_LENGTH]
    try:
        price = Decimal(raw_price)
        if not price.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        flash_message(request, "error", f"Price not set: unit price {raw_price!r} is not a number.")
        return see_other(back)
    valid_from = str(form.get("valid_from", "")).strip()
    try:
        day = date.fromisoformat(valid_from) if valid_from else None
    except ValueError:
        flash_message(request, "error", "Price not set: valid from must be a date (YYYY-MM-DD).")
        return see_other(back)
    try:
        changed = catalog.set_price(
            context(request), sku, currency, price, day, user.actor, reason or "set in the catalog page"
        )
    except catalog.CatalogError as exc:
        if exc.field == "sku" and "not in the catalog" in exc.problem:
            return error_page(request, 404, f"There is no product {sku} in the catalog.")
        flash_message(request, "error", f"Price not set: {exc}")
        return see_other(back)
    shown = day or context(request).clock().date()
    said = f"{sku} costs {price} {currency} from {shown}." if changed else "That price was set already."
    flash_message(request, "ok", said)
    return see_other(back)


@router.post("/catalog/{sku}")
async def change_product_page(request: Request, sku: Sku, user: User = ui_user(*WRITERS)) -> Response:
    """Finance changes a product (the same use case as the API): a new version from today on."""
    form = await request.form()
    back = "/catalog/" + quote(sku, safe="")
    reason = str(form.get("reason", "")).strip()[:REASON_LENGTH]
    if not reason:
        flash_message(request, "error", f"Product {sku} not changed: say why (reason).")
        return see_other(back)
    ctx = context(request)
    if catalog.show_product(ctx, sku) is None:
        return error_page(request, 404, f"There is no product {sku} in the catalog.")
    changes: dict[str, Any] = {
        name: str(form.get(name, "")).strip()[:REASON_LENGTH]
        for name in ("name", "unit_code", "tax_category", "gl_account", "revenue_rule")
    }
    changes["active"] = form.get("active") is not None
    try:
        done = catalog.change_product(ctx, sku, changes, user.actor, reason)
    except catalog.CatalogError as exc:
        flash_message(request, "error", f"Product {sku} not changed: {exc}")
        return see_other(back)
    flash_message(
        request, "ok", f"Product {sku} changed: version {done.version}." if done.changed else "Nothing changed."
    )
    return see_other(back)
