"""API: delivery signals (time entries, expenses, milestone acceptances) and the delivery webhook.

`POST /api/v1/time-entries`, `/expenses`, `/milestone-acceptances` take a JSON array of up to
10,000 signals from finance or an admin. Each is checked alone: the valid ones are stored, the
refused ones named in the answer's `errors` with their index, record and field (200 either way: the
answer says what happened to each). Each signal has the source's id (`source` + `external_id`): a
repeat changes nothing, a later version (`updated_at`) is an edit, `deleted: true` a deletion; an
edit of work already invoiced becomes an adjustment on the next invoice.

`POST /api/v1/webhooks/delivery/{source}` takes one signal or a list of them (each with its `type`)
from a time-tracking tool, authenticated like the generic deal webhooks: `X-Handoff-Signature:
sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>` with `X-Handoff-Timestamp` (Unix seconds)
within 5 minutes. Closed by default: a source not configured (`connectors.delivery_webhooks` in
handoff.yaml) or without its secret is refused. All or nothing per kind: a bad signal refuses the
request (422 naming the signal and field) before any of its kind is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import AwareDatetime, BeforeValidator, Field, StrictBool, StringConstraints

from handoff.context import AppContext
from handoff.projects.domain.model import ProjectError
from handoff.projects.domain.signals import AcceptanceInput, ExpenseInput, TimeEntryInput
from handoff.projects.service import delivery
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import LINE, In, Out, Text
from handoff.web.webhooks import verified

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["delivery"])
WRITERS = (Role.FINANCE, Role.ADMIN)
MAX_BATCH = 10_000
# A batch of 10,000 signals is larger than the app's usual 1 MB body limit: these paths may send more.
LARGE_BODIES = {
    "/api/v1/time-entries": 8_000_000,
    "/api/v1/expenses": 8_000_000,
    "/api/v1/milestone-acceptances": 4_000_000,
}
MAX_WEBHOOK_SIGNALS = 1_000
API_BATCH = "api batch"  # what an API batch's audit entry names as its file

SourceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,29}$")]
NOT_BLANK = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"  # printable, and not only spaces
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NOT_BLANK)]  # a role, phase, milestone
TaxCategory = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=NOT_BLANK)]
Hours = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,2}(\.[0-9]{1,4})?$")]
Amount = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}(\.[0-9]{1,4})?$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def _day_text(value: Any) -> Any:
    """A day as YYYY-MM-DD, not also the seconds since 1970 pydantic would take."""
    if not isinstance(value, str | dt.date):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_day_text)]


def _stamp_text(value: Any) -> Any:
    """An instant as ISO 8601 text with its offset, not also the seconds since 1970."""
    if not isinstance(value, str | dt.datetime):
        raise ValueError("an instant is written as ISO 8601 text with its offset")
    return value


Stamp = Annotated[AwareDatetime, BeforeValidator(_stamp_text)]


class TimeEntryIn(In):
    source: SourceName = Field("api", description="the tool the entry comes from; with external_id it names the entry")
    external_id: ExternalId = Field(description="the source's id of the entry: a repeat changes nothing")
    project: Name = Field(description="the project id (PRJ-...) or the project's id in the source")
    role: Key = Field(description="a role of the project's rate card")
    person: Name = Field(description="who worked (e-mail or name)")
    work_date: Day
    hours: Hours = Field(description="more than 0, at most 24, as text (7.5)")
    billable: StrictBool = True
    notes: Text = ""
    phase: Annotated[str, StringConstraints(max_length=100, pattern=LINE)] = Field(
        "", description="a phase key of the plan; empty: the phase holding work_date"
    )
    updated_at: Stamp | None = Field(None, description="the source's last change: older versions never win")
    deleted: StrictBool = Field(False, description="the source deleted the entry")


class ExpenseIn(In):
    source: SourceName = "api"
    external_id: ExternalId
    project: Name
    person: Name
    spent_on: Day
    amount: Amount = Field(description="as spent, net of recoverable VAT, in `currency`; more than 0")
    currency: Currency = Field(description="ISO 4217")
    category: Key = Field(description="travel, lodging, meals, ... as the source names it")
    description: Text = ""
    receipt_ref: Text = Field("", description="the receipt's reference or URL in the source")
    tax_category: TaxCategory = Field("standard", description="the product tax category it is re-invoiced under")
    billable: StrictBool = True
    updated_at: Stamp | None = None
    deleted: StrictBool = False


class AcceptanceIn(In):
    source: SourceName = "api"
    external_id: ExternalId
    project: Name
    milestone: Key = Field(description="the milestone's key in the contract")
    accepted_on: Day
    accepted_by: Name = Field(description="who accepted it for the customer")
    evidence: Text = Field("", description="a sign-off URL or text")


class RecordError(Out):
    index: int = Field(description="the signal's place in the request, from 0")
    external_id: str
    record: str
    field: str
    message: str


class SignalResult(Out):
    received: int
    created: int
    updated: int
    unchanged: int = Field(description="repeats of what was stored already")
    deleted: int
    refused: int = Field(description="signals not stored; each is in `errors`")
    errors: list[RecordError]


def _utc(stamp: dt.datetime | None) -> dt.datetime | None:
    """The instant in UTC; one too close to year 1 or 9999 to move to UTC is taken as the nearest
    instant that is (it only orders versions of a signal)."""
    if stamp is None:
        return None
    try:
        return stamp.astimezone(dt.UTC)
    except OverflowError:
        return dt.datetime.min.replace(tzinfo=dt.UTC) if stamp.year < 2 else dt.datetime.max.replace(tzinfo=dt.UTC)


def _time(item: TimeEntryIn, row: str, source: str | None = None) -> TimeEntryInput:
    return TimeEntryInput(
        source=source or item.source,
        external_id=item.external_id,
        project=item.project,
        role=item.role,
        person=item.person,
        work_date=item.work_date,
        hours=Decimal(item.hours),
        billable=item.billable,
        notes=item.notes,
        phase=item.phase,
        updated_at=_utc(item.updated_at),
        deleted=item.deleted,
        row=row,
    )


def _expense(item: ExpenseIn, row: str, source: str | None = None) -> ExpenseInput:
    return ExpenseInput(
        source=source or item.source,
        external_id=item.external_id,
        project=item.project,
        person=item.person,
        spent_on=item.spent_on,
        amount=Decimal(item.amount),
        currency=item.currency,
        category=item.category,
        description=item.description,
        receipt_ref=item.receipt_ref,
        tax_category=item.tax_category,
        billable=item.billable,
        updated_at=_utc(item.updated_at),
        deleted=item.deleted,
        row=row,
    )


def _acceptance(item: AcceptanceIn, row: str, source: str | None = None) -> AcceptanceInput:
    return AcceptanceInput(
        source=source or item.source,
        external_id=item.external_id,
        project=item.project,
        milestone=item.milestone,
        accepted_on=item.accepted_on,
        accepted_by=item.accepted_by,
        evidence=item.evidence,
        row=row,
    )


def _result(report: Any, rows: Sequence[str], ids: Sequence[str], received: int | None = None) -> dict[str, Any]:
    """The service's report as the answer: each error with the index of the signal it names."""
    index = {row: i for i, row in enumerate(rows)}
    errors = []
    for err in report.errors:
        i = index.get(err.record, -1)
        errors.append(
            {
                "index": i,
                "external_id": ids[i] if i >= 0 else "",
                "record": err.record,
                "field": err.field,
                "message": str(err),
            }
        )
    refused = len({e["index"] for e in errors}) if errors else 0
    return {
        "received": len(rows) if received is None else received,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "deleted": report.deleted,
        "refused": refused,
        "errors": errors,
    }


def _row(kind: str, i: int, external_id: str) -> str:
    return f"{kind} {i} ({external_id[:60]})"


@router.post("/time-entries", response_model=SignalResult)
def post_time_entries(
    ctx: Ctx,
    entries: Annotated[list[TimeEntryIn], Body(min_length=1, max_length=MAX_BATCH)],
    user: User = api_user(*WRITERS),
) -> Any:
    """Store time entries (up to 10,000): the valid ones are stored, the refused ones named in
    `errors` (unknown project or role, hours not above 0 or above 24, a day in a closed period)."""
    rows = [_row("time entry", i, e.external_id) for i, e in enumerate(entries)]
    signals = [_time(e, rows[i]) for i, e in enumerate(entries)]
    try:
        report = delivery.record_time(ctx, signals, user.email, all_or_nothing=False, file_name=API_BATCH)
    except ProjectError as exc:
        raise _service_refusal(exc) from exc
    return _result(report, rows, [e.external_id for e in entries])


@router.post("/expenses", response_model=SignalResult)
def post_expenses(
    ctx: Ctx,
    expenses: Annotated[list[ExpenseIn], Body(min_length=1, max_length=MAX_BATCH)],
    user: User = api_user(*WRITERS),
) -> Any:
    """Store expenses (up to 10,000): the valid ones are stored, the refused ones named in `errors`."""
    rows = [_row("expense", i, e.external_id) for i, e in enumerate(expenses)]
    signals = [_expense(e, rows[i]) for i, e in enumerate(expenses)]
    try:
        report = delivery.record_expenses(ctx, signals, user.email, all_or_nothing=False, file_name=API_BATCH)
    except ProjectError as exc:
        raise _service_refusal(exc) from exc
    return _result(report, rows, [e.external_id for e in expenses])


@router.post("/milestone-acceptances", response_model=SignalResult)
def post_acceptances(
    ctx: Ctx,
    acceptances: Annotated[list[AcceptanceIn], Body(min_length=1, max_length=MAX_BATCH)],
    user: User = api_user(*WRITERS),
) -> Any:
    """Record milestone acceptances (who, when, evidence): the contract bills each milestone from
    its day on; a repeat changes nothing. Refused ones are named in `errors`."""
    rows = [_row("acceptance", i, a.external_id) for i, a in enumerate(acceptances)]
    signals = [_acceptance(a, rows[i]) for i, a in enumerate(acceptances)]
    try:
        report = delivery.record_acceptances(ctx, signals, user.email)
    except ProjectError as exc:
        raise _service_refusal(exc) from exc
    return _result(report, rows, [a.external_id for a in acceptances])


# ---- the webhook ----


class TimeEntrySignal(TimeEntryIn):
    type: Literal["time_entry"]


class ExpenseSignal(ExpenseIn):
    type: Literal["expense"]


class AcceptanceSignal(AcceptanceIn):
    type: Literal["milestone_acceptance"]


Signal = Annotated[TimeEntrySignal | ExpenseSignal | AcceptanceSignal, Field(discriminator="type")]
SignalBody = Signal | Annotated[list[Signal], Field(min_length=1, max_length=MAX_WEBHOOK_SIGNALS)]


class WebhookResult(Out):
    status: str = Field(description="accepted")
    time_entries: SignalResult | None
    expenses: SignalResult | None
    milestone_acceptances: SignalResult | None


def webhook_secrets(request: Request) -> Mapping[str, str]:
    """The secrets of the configured delivery sources (`app.state.delivery_webhook_secrets`, set by
    `handoff serve` from `connectors.delivery_webhooks`); a source without one is closed."""
    found = getattr(request.app.state, "delivery_webhook_secrets", None) or {}
    return {k: v for k, v in found.items() if v}


async def verified_source(
    request: Request, source: Annotated[str, Path(min_length=1, max_length=30, pattern=LINE)]
) -> str:
    """The source, once the request is shown to come from it (signature and time window)."""
    return await verified(request, webhook_secrets(request), source, "delivery")


def _refuse_any(result: dict[str, Any], kind: str) -> None:
    """A kind with refused signals was stored all or nothing: nothing of it was; 422 naming the first."""
    if not result["errors"]:
        return
    first = result["errors"][0]
    more = f" (and {len(result['errors']) - 1} more)" if len(result["errors"]) > 1 else ""
    raise ApiError(422, "invalid_signal", f"{first['message']}{more}; no {kind} was stored", first["field"])


def _service_refusal(exc: ProjectError) -> ApiError:
    """A refusal of the whole batch: the caller may not (403), or a bad batch (422)."""
    if exc.field == "actor":
        return ApiError(403, "forbidden", str(exc))
    return ApiError(422, "invalid_request", str(exc), exc.field or None)


def apply_signals(ctx: AppContext, source: str, signals: Sequence[Any]) -> dict[str, Any]:
    """Store a webhook's signals, kind by kind, each kind all or nothing (ApiError 422 naming the
    first bad signal and field)."""
    actor, batch = f"webhook:{source}", f"webhook {source}"  # the batch's name in its audit entry
    out: dict[str, Any] = {"status": "accepted", "time_entries": None, "expenses": None, "milestone_acceptances": None}
    rows = [_row("signal", i, s.external_id) for i, s in enumerate(signals)]
    ids = [s.external_id for s in signals]
    times = [_time(s, rows[i], source) for i, s in enumerate(signals) if isinstance(s, TimeEntrySignal)]
    spent = [_expense(s, rows[i], source) for i, s in enumerate(signals) if isinstance(s, ExpenseSignal)]
    accepted = [_acceptance(s, rows[i], source) for i, s in enumerate(signals) if isinstance(s, AcceptanceSignal)]
    try:
        if times:
            stored = delivery.record_time(ctx, times, actor, file_name=batch)
            out["time_entries"] = _result(stored, rows, ids, len(times))
            _refuse_any(out["time_entries"], "time entry")
        if spent:
            stored = delivery.record_expenses(ctx, spent, actor, file_name=batch)
            out["expenses"] = _result(stored, rows, ids, len(spent))
            _refuse_any(out["expenses"], "expense")
        if accepted:
            done = delivery.record_acceptances(ctx, accepted, actor)
            out["milestone_acceptances"] = _result(done, rows, ids, len(accepted))
            _refuse_any(out["milestone_acceptances"], "milestone acceptance")
    except ProjectError as exc:
        raise _service_refusal(exc) from exc
    return out


@router.post("/webhooks/delivery/{source}", response_model=WebhookResult, tags=["webhooks"])
def delivery_webhook(
    ctx: Ctx,
    body: Annotated[SignalBody, Body()],
    source: Annotated[str, Depends(verified_source)],
) -> Any:
    """A time-tracking tool's delivery signals: one signal or a list (`type`: time_entry, expense,
    milestone_acceptance), signed with the source's secret (see the module's note). Repeats change
    nothing; a bad signal refuses its kind with 422 naming the signal and field. 401 for a missing
    or wrong signature or a stale timestamp, 404 for a source not configured."""
    return apply_signals(ctx, source, body if isinstance(body, list) else [body])
