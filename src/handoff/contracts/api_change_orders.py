"""API: change orders. Finance and admins apply a signed change order to a contract
(`POST /api/v1/contracts/{contract_id}/change-orders`): the contract's next version, its pending
schedule replanned, and adjustments (debits and credits, exact decimal strings) for the periods
already billed, billed by the next run. The same change order again answers what it made
(`repeated`); another one under a used key is a 409.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import Field

from handoff.contracts.domain.change_orders import ChangeOrder
from handoff.contracts.domain.model import ContractError
from handoff.contracts.service.change_orders import amend
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import LINE, In, Out, Text

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["contracts"])
WRITERS = (Role.FINANCE, Role.ADMIN)

ContractId = Annotated[str, Path(min_length=1, max_length=200, pattern=LINE)]
Key = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/+@-]*$")]
LineKey = Annotated[str, Field(min_length=1, max_length=100, pattern=LINE)]
# contract dates stay within two centuries: the schedule is planned day by day up to them
Day = Annotated[dt.date, Field(ge=dt.date(1970, 1, 1), le=dt.date(2199, 12, 31))]
Number = Annotated[str, Field(pattern=r"^[0-9]{1,13}(\.[0-9]{1,6})?$", description="an exact decimal")]


class ChangeIn(In):
    """One change (the fields its `type` uses; see `contracts.domain.change_orders`)."""

    type: Literal["add_line", "remove_line", "change_quantity", "change_price", "extend", "terminate", "shift_dates"]
    line_key: LineKey | None = Field(None, description="every type but add_line and terminate; extend: none = all")
    quantity: Number | None = Field(None, description="change_quantity: above 0")
    unit_price: Number | None = Field(None, description="change_price")
    new_end: Day | None = Field(None, description="extend: the first day no longer billed")
    on: Day | None = Field(None, description="terminate: the first day no longer billed")
    days: int | None = Field(None, ge=-3660, le=3660, description="shift_dates")
    line: dict[str, Any] | None = Field(None, description="add_line: a contract line as the contract JSON has it")


class ChangeOrderIn(In):
    key: Key = Field(description="the change order's id: used once per contract")
    effective: Day = Field(description="the first day under the new terms")
    reason: Text = Field(min_length=1, description="why (audited, kept with the change order)")
    changes: list[ChangeIn] = Field(min_length=1, max_length=200)


class AdjustmentOut(Out):
    line_key: str
    period_key: str = Field(description="adjust:<change order>:<period billed>")
    amount: str = Field(description="net; negative: a credit")


class AmendedOut(Out):
    contract_id: str
    change_order: str
    version: int
    content_hash: str = Field(description="SHA-256 of the version's canonical JSON")
    superseded: int = Field(description="pending schedule items the change replaced")
    planned: int = Field(description="items of the new version planned")
    adjustments: list[AdjustmentOut]
    adjustment_total: str
    repeated: bool = Field(description="the same change order was applied before: nothing changed now")


def _document(body: ChangeOrderIn) -> dict[str, Any]:
    changes = []
    for change in body.changes:
        doc: dict[str, Any] = {"type": change.type}
        for name in ("line_key", "quantity", "unit_price", "days", "line"):
            value = getattr(change, name)
            if value is not None:
                doc[name] = value
        for name in ("new_end", "on"):
            value = getattr(change, name)
            if value is not None:
                doc[name] = value.isoformat()
        changes.append(doc)
    return {"key": body.key, "effective": body.effective.isoformat(), "reason": body.reason, "changes": changes}


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


@router.post("/contracts/{contract_id}/change-orders", response_model=AmendedOut)
def apply_change_order(ctx: Ctx, contract_id: ContractId, body: ChangeOrderIn, user: User = api_user(*WRITERS)) -> Any:
    """Apply a change order: 404 for an unknown contract, 409 for a key used by another change
    order, 422 naming the field for one that cannot apply (before the contract's start, an unknown
    line, a version that would not be billable)."""
    try:
        order = ChangeOrder.from_json(_document(body))
        done = amend(ctx, contract_id, order, user.actor, body.reason)
    except ContractError as exc:
        if exc.field == "contract_id":
            raise ApiError(404, "not_found", str(exc), "contract_id") from exc
        if exc.field == "key" and "duplicate" in str(exc):
            raise ApiError(409, "conflict", str(exc), "key") from exc
        raise ApiError(422, "invalid_request", str(exc), exc.field or None) from exc
    return {
        "contract_id": done.contract_id,
        "change_order": done.change_order,
        "version": done.version,
        "content_hash": done.content_hash,
        "superseded": done.superseded,
        "planned": done.planned,
        "adjustments": [
            {"line_key": line, "period_key": period, "amount": _money(amount)}
            for line, period, amount in done.adjustments
        ],
        "adjustment_total": _money(done.adjustment_total),
        "repeated": done.repeated,
    }
