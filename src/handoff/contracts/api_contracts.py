"""API: contracts and the billing run.

Finance, auditors and admins read every contract; sales users read the contracts of the deals they
own (a contract locked from a deal has the deal's id), as they read those deals. Finance and admins
accept milestones (the billing run bills an accepted milestone from its day on) and start a billing
run by hand (the worker runs it daily). Amounts are exact decimal strings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BeforeValidator, Field

from handoff.contracts.service import queries as contract_queries
from handoff.contracts.service.billing_run import run_billing
from handoff.contracts.service.contracts import ContractError, accept_milestone
from handoff.users.service import Role, User
from handoff.web.auth import ALL, api_user, may_see_deal
from handoff.web.deps import Ctx, Filter, Limit, Offset
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import LINE, In, Out, Page, Text, page_out, plain

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["contracts"])
WRITERS = (Role.FINANCE, Role.ADMIN)
MAX_RUN_AHEAD_DAYS = 366  # a run further ahead would draft years of invoices at once (a mistyped year)

ContractId = Annotated[str, Path(min_length=1, max_length=200, pattern=LINE)]
MilestoneKey = Annotated[str, Path(min_length=1, max_length=100, pattern=LINE)]


def _day_text(value: Any) -> Any:
    """A day as the document says (YYYY-MM-DD), not also the seconds since 1970 pydantic would take."""
    if not isinstance(value, str | dt.date):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_day_text)]
EventId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/+@-]*$")]


class ContractSummary(Out):
    contract_id: str = Field(description="the deal id for a contract locked from a deal")
    customer_id: str
    customer_name: str
    legal_entity: str
    currency: str
    payment_terms: str
    po_number: str
    status: str = Field(description="active | ended | terminated")
    origin: str = Field(description="locked (a won quote) | order (an order migrated to a contract)")
    current_version: int
    owner_email: str | None = Field(description="the owner of the deal it came from (none: from no deal)")
    next_bill_date: dt.date | None = Field(description="the next day a planned item bills")
    created_at: dt.datetime
    updated_at: dt.datetime


class ContractPage(Page):
    items: list[ContractSummary]


class TermsOut(Out):
    customer_id: str
    legal_entity: str
    currency: str
    payment_terms: str
    billing_start: dt.date
    po_number: str
    signatory: str
    owner_email: str
    consolidate: bool = Field(description="one invoice per customer, entity and currency per billing run")


class RampStepOut(Out):
    starts: dt.date
    unit_price: str


class MilestoneTermOut(Out):
    key: str
    name: str
    amount: str | None = Field(description="a fixed amount, or")
    percent: str | None = Field(description="a percent of the line's quantity x unit price")


class RuleOut(Out):
    kind: str = Field(description="one_time | recurring | milestone | time_and_materials | usage")
    bill_on: dt.date | None
    frequency: str | None = Field(description="monthly | quarterly | annual (recurring)")
    timing: str = Field(description="in_advance | in_arrears")
    start: dt.date | None
    end: dt.date | None = Field(description="first day not billed")
    ramp: list[RampStepOut]
    coterm_to: dt.date | None
    auto_renew: bool
    renewal_months: int
    notice_days: int
    notice_given_on: dt.date | None = None
    milestones: list[MilestoneTermOut]


class LineTaxOut(Out):
    category: str = Field(description="VAT category, UNCL 5305 (EN 16931 BT-151)")
    rate: str = Field(description="percent (BT-152)")
    rule: str = Field(description="the rule applied (reverse_charge, domestic, ...)")
    note: str = Field(description="exemption reason (BT-120)")
    exemption_code: str = Field(description="VATEX code (BT-121)")
    place_of_supply: str
    evidence: dict[str, str] = Field(description="what the treatment was decided on")


class LineOut(Out):
    key: str
    product: str
    description: str
    quantity: str
    unit_price: str = Field(description="per unit; recurring: per unit per period")
    rule: RuleOut
    discount: str
    unit_code: str = Field(description="UN/ECE Rec 20 (EN 16931 BT-130)")
    tax_category: str
    supply: str
    tax: LineTaxOut | None = Field(
        None, description="the VAT treatment agreed at the quote lock; null: decided by the billing run"
    )


class DocumentOut(Out):
    url: str
    sha256: str


class VersionOut(Out):
    version: int
    effective: dt.date
    change_order: str = Field(description="the change order that made this version (empty for version 1)")
    content_hash: str = Field(description="SHA-256 of the version's canonical JSON")
    created_at: dt.datetime
    created_by: str


class ScheduleItemOut(Out):
    line_key: str
    period_key: str
    period_start: dt.date
    period_end: dt.date = Field(description="exclusive")
    bill_date: dt.date | None = Field(description="none: a milestone not accepted yet")
    amount: str = Field(description="net (BT-131); negative for a credit adjustment")
    quantity: str
    unit_price: str
    description: str
    trigger: str = Field(description="date | milestone | time | usage | change_order")
    status: str = Field(description="planned | billed | superseded | intake")
    due: bool = Field(description="planned and its bill date reached")
    version: int
    invoice_id: int | None
    invoice_number: str | None = Field(description="the invoice that billed it (none while a draft)")
    invoice_status: str | None = Field(description="draft | issued | void")


class MilestoneOut(Out):
    line_key: str
    key: str
    name: str
    amount: str | None
    status: str | None
    accepted_on: dt.date | None
    accepted_by: str | None
    invoice_id: int | None
    invoice_number: str | None


class ContractDetail(ContractSummary):
    terms: TermsOut
    lines: list[LineOut] = Field(description="the current version's lines")
    documents: list[DocumentOut]
    versions: list[VersionOut]
    schedule: list[ScheduleItemOut]
    milestones: list[MilestoneOut]


class AcceptIn(In):
    date: Day = Field(description="the day the milestone was accepted: it bills from that day")
    reason: Text = Field(min_length=1, description="why (audited), e.g. the customer's sign-off")
    event_id: EventId | None = Field(
        None, description="the acceptance's id: the same id again changes nothing (default: contract, milestone, day)"
    )


class Accepted(Out):
    contract_id: str
    milestone_key: str
    accepted_on: dt.date
    accepted_by: str
    event_id: str


class BillingRunIn(In):
    date: Day = Field(description=f"bill what is due on this day (at most {MAX_RUN_AHEAD_DAYS} days ahead)")


class RunFailure(Out):
    contracts: str
    reason: str


class BillingRunOut(Out):
    date: dt.date
    drafts: int = Field(description="invoice drafts made")
    items: int = Field(description="schedule items billed")
    invoice_ids: list[int] = Field(description="the drafts, to review and issue")
    failures: list[RunFailure] = Field(description="contracts not drafted, and why (their items stay planned)")
    retried_chunks: int


def _readable(ctx: Any, user: User, contract_id: str) -> None:
    exists, owner = contract_queries.contract_owner(ctx, contract_id)
    if not exists:
        raise ApiError(404, "not_found", f"no contract {contract_id}", "contract_id")
    if not may_see_deal(user, owner):
        raise ApiError(403, "forbidden", "sales users see only the contracts of their own deals")


@router.get("/contracts", response_model=ContractPage)
def list_contracts(
    ctx: Ctx,
    limit: Limit = 50,
    offset: Offset = 0,
    customer: Filter = None,
    status: Annotated[str | None, Query(pattern="^(active|ended|terminated)$")] = None,
    user: User = api_user(*ALL),
) -> Any:
    """Contracts by id, of one customer (its id) and status when given; sales users get those of
    the deals they own."""
    owner = user.email if user.role is Role.SALES else None
    found = contract_queries.list_contracts(
        ctx, customer_id=customer, status=status, owner=owner, limit=limit, offset=offset
    )
    return page_out(found)


@router.get("/contracts/{contract_id}", response_model=ContractDetail)
def get_contract(ctx: Ctx, contract_id: ContractId, user: User = api_user(*ALL)) -> Any:
    """A contract: the current version's terms and lines, every version with its content hash, the
    schedule with what each item billed (invoice number and status) and its milestones."""
    _readable(ctx, user, contract_id)
    detail = contract_queries.contract_detail(ctx, contract_id)
    if detail is None:
        raise ApiError(404, "not_found", f"no contract {contract_id}", "contract_id")
    return plain(detail)


def default_event_id(prefix: str, contract_id: str, key: str, on: dt.date) -> str:
    """The acceptance's id when the caller gives none: the same milestone accepted on the same day
    through the same door is one acceptance (a retried request changes nothing)."""
    readable = f"{prefix}:{contract_id}:{key}:{on.isoformat()}"
    if len(readable) <= 200:
        return readable
    return f"{prefix}:" + hashlib.sha256(readable.encode("utf-8")).hexdigest()


@router.post("/contracts/{contract_id}/milestones/{key}/accept", response_model=Accepted)
def accept(
    ctx: Ctx, contract_id: ContractId, key: MilestoneKey, body: AcceptIn, user: User = api_user(*WRITERS)
) -> Any:
    """Milestone `key` was accepted on `date`: the billing run bills it from that day on. 404 for
    an unknown contract or milestone, 409 when another acceptance recorded it already."""
    event_id = body.event_id or default_event_id("api", contract_id, key, body.date)
    try:
        done = accept_milestone(ctx, contract_id, key, body.date, user.actor, event_id, reason=body.reason)
    except ContractError as exc:
        unknown = exc.field in ("contract_id", "milestone") and "accepted already" not in str(exc)
        raise ApiError(404 if unknown else 409, "not_found" if unknown else "conflict", str(exc), exc.field) from exc
    return {
        "contract_id": done.contract_id,
        "milestone_key": done.milestone_key,
        "accepted_on": done.accepted_on,
        "accepted_by": done.accepted_by,
        "event_id": done.event_id,
    }


@router.post("/billing/runs", response_model=BillingRunOut, tags=["billing"])
def billing_run(ctx: Ctx, body: BillingRunIn, user: User = api_user(*WRITERS)) -> Any:
    """Draft an invoice for every contract item due on `date` that no run billed yet (safe to run
    again: nothing is billed twice). The drafts wait for review and issue like intake's."""
    today = ctx.clock().date()
    if body.date > today + dt.timedelta(days=MAX_RUN_AHEAD_DAYS):
        raise ApiError(
            422, "invalid_request", f"date: {body.date} is more than {MAX_RUN_AHEAD_DAYS} days after today", "date"
        )
    result = run_billing(ctx, body.date, "api", actor=user.actor)
    return {
        "date": result.on,
        "drafts": result.drafts,
        "items": result.items,
        "invoice_ids": result.invoice_ids,
        "failures": [{"contracts": c, "reason": why} for c, why in result.failures],
        "retried_chunks": result.retried_chunks,
    }
