"""API: usage events in, billable metrics, the usage price of a contract line, usage so far.

`POST /api/v1/usage` takes one event or `{"events": [...]}` (up to 10,000) from finance or an admin
(closed by default: no other role, nobody unauthenticated). Each event is checked alone: the valid
ones are stored, a repeat of a stored transaction id is a `duplicate` (nothing changes), the refused
ones are named in `errors` with their index, transaction id, record and field (unknown metric,
missing transaction id, a non-numeric value for a sum, a timestamp beyond the future tolerance, an
unknown subscription). The answer is 200 either way and says what happened to each event. A request
whose shape the document forbids (an unknown key, an over-long id) is refused whole with 422.

`POST /api/v1/webhooks/usage/{source}` takes the same body from a product platform, signed like the
delivery webhooks: `X-Handoff-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
with `X-Handoff-Timestamp` (Unix seconds) within 5 minutes. Closed by default: a source not
configured (`connectors.usage_webhooks` in handoff.yaml) or without its secret answers 404.

`GET /api/v1/usage/current` is each subscription's current period so far (quantity, events, amount
at its price) for finance, auditors and admins; `GET/PUT /api/v1/usage/metrics[/{code}]` the
billable metrics (finance and admins change them); `PUT /api/v1/contracts/{id}/lines/{key}/usage-price`
a usage line's price (per unit, graduated or volume tiers, packages, percentage, free units,
minimum commitment, prepaid credits). Amounts and quantities are exact decimal strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import Discriminator, Field, StrictFloat, StrictInt, StringConstraints, Tag

from handoff.context import AppContext
from handoff.usage.domain.events import UsageError, UsageEvent, property_text
from handoff.usage.formats.events import parse_timestamp
from handoff.usage.service.metrics import MetricView
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import LINE, In, Out, plain
from handoff.web.webhooks import verified

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["usage"])
WRITERS = (Role.FINANCE, Role.ADMIN)
READERS = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
MAX_BATCH = 10_000
MAX_WEBHOOK_EVENTS = 1_000  # within the app's usual 1 MB body
# A batch of 10,000 events is larger than the app's usual 1 MB body limit: this path may send more.
LARGE_BODIES = {"/api/v1/usage": 8_000_000}

NOT_BLANK = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"  # printable, and not only spaces
CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # a metric's code (usage.domain.metrics.METRIC_CODE)
PROPERTY = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$"  # a property's name (usage.domain.metrics.PROPERTY_NAME)
DECIMAL = r"^[0-9]{1,12}(\.[0-9]{1,6})?$"

NAMED_BY_PROPERTY: dict[str, Any] = {"propertyNames": {"pattern": PROPERTY}}  # pydantic leaves key patterns out
MetricCode = Annotated[str, StringConstraints(pattern=CODE)]
PropertyName = Annotated[str, StringConstraints(pattern=PROPERTY)]
Quantity = Annotated[str, StringConstraints(pattern=DECIMAL)]
Money = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}(\.[0-9]{1,6})?$")]  # a unit price
Cents = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}(\.[0-9]{1,2})?$")]  # an amount
Percent = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}(\.[0-9]{1,6})?$")]
PropertyValue = (
    Annotated[str, StringConstraints(max_length=1000, pattern=LINE)]
    | StrictInt
    | Annotated[StrictFloat, Field(allow_inf_nan=False)]
)
ContractId = Annotated[str, Path(min_length=1, max_length=200, pattern=LINE)]
LineKey = Annotated[str, Path(min_length=1, max_length=100, pattern=LINE)]
Reference = Annotated[str, Query(min_length=1, max_length=200, pattern=NOT_BLANK)]


# ---- events ----


class UsageEventIn(In):
    """One metered event. What only the store can judge (the metric exists, the value is a number,
    the subscription is known) comes back per event, not as a refusal of the request."""

    transaction_id: Annotated[str, StringConstraints(max_length=200, pattern=LINE)] = Field(
        "", description="the platform's id of the event: a repeat changes nothing (required; missing: refused)"
    )
    metric: Annotated[str, StringConstraints(max_length=100, pattern=LINE)] = Field(
        "", description="a billable metric's code"
    )
    timestamp: Annotated[str, StringConstraints(max_length=64, pattern=LINE)] = Field(
        "", description="when the usage occurred: ISO 8601 with its offset (2027-01-31T23:59:59Z)"
    )
    subscription: Annotated[str, StringConstraints(max_length=200, pattern=LINE)] = Field(
        "", description="a contract id, or contract_id:line_key; or give `customer`"
    )
    customer: Annotated[str, StringConstraints(max_length=200, pattern=LINE)] = Field(
        "", description="a customer id: its one active subscription with this metric"
    )
    properties: dict[PropertyName, PropertyValue] = Field(
        default_factory=dict,
        max_length=100,
        description="measured values and dimensions (numbers kept as text)",
        json_schema_extra=NAMED_BY_PROPERTY,
    )
    type: Literal["usage", "reversal"] = Field("usage", description="reversal: cancels the event `reverses` names")
    reverses: Annotated[str, StringConstraints(max_length=200, pattern=LINE)] = Field(
        "", description="the transaction id a reversal cancels (same metric and subscription)"
    )


class UsageBatchIn(In):
    events: list[UsageEventIn] = Field(min_length=1, max_length=MAX_BATCH)


class WebhookBatchIn(In):
    events: list[UsageEventIn] = Field(min_length=1, max_length=MAX_WEBHOOK_EVENTS)


class EventOutcome(Out):
    index: int = Field(description="the event's place in the request, from 0")
    transaction_id: str
    status: Literal["accepted", "duplicate", "refused"]
    note: str = Field("", description="how a stored event was taken: late (billed in a later period), a reversal")


class EventError(Out):
    index: int
    transaction_id: str
    record: str
    field: str
    message: str


class UsageResult(Out):
    received: int
    accepted: int
    duplicates: int = Field(description="repeats of stored transaction ids: nothing changed")
    refused: int = Field(description="events not stored; each is in `errors`")
    results: list[EventOutcome]
    errors: list[EventError]


@dataclass(frozen=True, slots=True)
class Parsed:
    """A request's events as the service takes them, and those refused before (bad timestamps)."""

    events: list[UsageEvent]
    positions: list[int]  # the request index of each event passed on
    refused: list[tuple[int, UsageError]]


def to_events(items: Sequence[UsageEventIn], where: str) -> Parsed:
    """The request's events; an event whose timestamp cannot be read is refused here, by index."""
    events: list[UsageEvent] = []
    positions: list[int] = []
    refused: list[tuple[int, UsageError]] = []
    for i, item in enumerate(items):
        row = f"{where} item {i}"
        try:
            stamp = parse_timestamp(item.timestamp)
        except ValueError as exc:
            named = f"usage {row} (txn {item.transaction_id[:60]})" if item.transaction_id else f"usage {row}"
            refused.append((i, UsageError(named, "timestamp", str(exc))))
            continue
        properties = {k: property_text(v) or "" for k, v in item.properties.items()}
        events.append(
            UsageEvent(
                transaction_id=item.transaction_id,
                metric=item.metric,
                timestamp=stamp,
                subscription=item.subscription,
                customer=item.customer,
                properties=properties,
                reverses=item.reverses,
                row=row,
                reversal=item.type == "reversal",
            )
        )
        positions.append(i)
    return Parsed(events, positions, refused)


def record(ctx: AppContext, items: Sequence[UsageEventIn], actor: str, source: str, where: str) -> dict[str, Any]:
    """Store the events through the ingest service; the answer with each event's outcome by index."""
    from handoff.usage.service.ingest import record_usage

    parsed = to_events(items, where)
    status: dict[int, str] = {i: "refused" for i, _ in parsed.refused}
    notes: dict[int, str] = {}
    errors: list[tuple[int, UsageError]] = list(parsed.refused)
    if parsed.events:
        try:
            result = record_usage(ctx, parsed.events, actor, source=source)
        except UsageError as exc:  # a refusal of the whole batch (none of it stored): the actor, its size
            raise _refused(exc) from exc
        for k in result.accepted:
            status[parsed.positions[k]] = "accepted"
        for k in result.duplicates:
            status[parsed.positions[k]] = "duplicate"
        for k, err in result.refused:
            status[parsed.positions[k]] = "refused"
            errors.append((parsed.positions[k], err))
        notes = {parsed.positions[k]: note for k, note in result.notes.items()}
    errors.sort(key=lambda pair: pair[0])
    results = [
        {
            "index": i,
            "transaction_id": item.transaction_id,
            "status": status.get(i, "refused"),
            "note": notes.get(i, ""),
        }
        for i, item in enumerate(items)
    ]
    counted = [r["status"] for r in results]
    return {
        "received": len(items),
        "accepted": counted.count("accepted"),
        "duplicates": counted.count("duplicate"),
        "refused": counted.count("refused"),
        "results": results,
        "errors": [
            {
                "index": i,
                "transaction_id": items[i].transaction_id,
                "record": err.record,
                "field": err.field,
                "message": str(err),
            }
            for i, err in errors
        ],
    }


def _shape(value: Any) -> str:
    """Which body a request sent: a batch (`events`) or one event; errors then name the fields of that one."""
    return "batch" if isinstance(value, dict) and "events" in value else "event"


EventBody = Annotated[
    Annotated[UsageEventIn, Tag("event")] | Annotated[UsageBatchIn, Tag("batch")],
    Discriminator(_shape),
    Body(),
]


@router.post("/usage", response_model=UsageResult)
def post_usage(ctx: Ctx, body: EventBody, user: User = api_user(*WRITERS)) -> Any:
    """Store usage events: one event or `{"events": [...]}` (up to 10,000). The valid ones are
    stored, repeats are duplicates (nothing changes), refused ones are named in `errors` (index,
    transaction id, field); 200 either way."""
    items = body.events if isinstance(body, UsageBatchIn) else [body]
    return record(ctx, items, user.email, "api", "batch")


# ---- the webhook ----


def webhook_secrets(request: Request) -> Mapping[str, str]:
    """The secrets of the configured usage sources (`app.state.usage_webhook_secrets`, set by
    `handoff serve` from `connectors.usage_webhooks`); a source without one is closed."""
    found = getattr(request.app.state, "usage_webhook_secrets", None) or {}
    return {k: v for k, v in found.items() if v}


async def verified_source(
    request: Request, source: Annotated[str, Path(min_length=1, max_length=30, pattern=LINE)]
) -> str:
    """The source, once the request is shown to come from it (signature and time window): the
    delivery webhook's check (`projects.api_signals.verified_source`), for usage sources."""
    return await verified(request, webhook_secrets(request), source, "usage")


@router.post("/webhooks/usage/{source}", response_model=UsageResult, tags=["webhooks"])
def usage_webhook(
    ctx: Ctx,
    body: Annotated[
        Annotated[UsageEventIn, Tag("event")] | Annotated[WebhookBatchIn, Tag("batch")], Discriminator(_shape), Body()
    ],
    source: Annotated[str, Depends(verified_source)],
) -> Any:
    """A product platform's usage events: one event or `{"events": [...]}` (up to 1,000), signed
    with the source's secret (see the module's note). As `POST /usage`: valid events stored,
    repeats duplicates, refused ones named. 401 for a missing or wrong signature or a stale
    timestamp, 404 for a source not configured."""
    items = body.events if isinstance(body, WebhookBatchIn) else [body]
    return record(ctx, items, f"webhook:{source}", f"webhook:{source}", f"webhook {source}")


# ---- usage so far ----


class GroupSoFar(Out):
    group_key: str = Field(description="the group-by values joined by |; empty when the metric is not grouped")
    group: dict[str, str] = Field(description="{property: value} of a grouped metric")
    quantity: str = Field(description="the billable quantity so far")
    events: int
    amount: str = Field(description="at the line's price (tiers and free units per group)")


class UsageSoFar(Out):
    contract_id: str
    customer_id: str
    line_key: str
    metric: str
    metric_name: str
    unit: str = Field(description="UN/ECE Rec 20 unit of the quantity")
    period: str = Field(description="the calendar month (UTC), 2027-01")
    currency: str
    price_model: str
    quantity: str
    events: int
    amount: str = Field(description="the usage charge so far, before the minimum's true-up and prepaid credits")
    minimum: str = Field(description="the minimum commitment per month (0: none)")
    credits_left: str = Field(description="prepaid credits not drawn yet")
    groups: list[GroupSoFar]


class CurrentUsage(Out):
    on: dt.date
    items: list[UsageSoFar]


def current_rows(found: Sequence[Any]) -> list[dict[str, Any]]:
    """`queries.current_usage`'s subscriptions as plain data (Decimals as exact strings): what the
    API, the CLI and the contract page show."""
    return [
        {
            "contract_id": u.contract_id,
            "customer_id": u.customer_id,
            "line_key": u.line_key,
            "metric": u.metric,
            "metric_name": u.metric_name,
            "unit": u.unit,
            "period": u.period,
            "currency": u.currency,
            "price_model": u.price_model,
            "quantity": str(u.quantity),
            "events": u.events,
            "amount": str(u.amount),
            "minimum": str(u.minimum),
            "credits_left": str(u.credits_left),
            "groups": [
                {
                    "group_key": g.group_key,
                    "group": dict(g.group),
                    "quantity": str(g.quantity),
                    "events": g.events,
                    "amount": str(g.amount),
                }
                for g in u.groups
            ],
        }
        for u in found
    ]


@router.get("/usage/current", response_model=CurrentUsage)
def current(
    ctx: Ctx,
    customer: Reference | None = None,
    contract: Reference | None = None,
    user: User = api_user(*READERS),
) -> Any:
    """Each subscription's current period: per metric and group the quantity so far, the events
    counted and the amount so far at its price; only `customer`'s or `contract`'s when given."""
    from handoff.usage.service.queries import current_usage

    on = ctx.clock().date()
    return {"on": on, "items": current_rows(current_usage(ctx, customer_id=customer, contract_id=contract, on=on))}


# ---- metrics ----


class MetricIn(In):
    name: Annotated[str, StringConstraints(max_length=200, pattern=LINE)] = Field(
        "", description="as people call it (default: the code)"
    )
    aggregation: Literal["count", "sum", "max", "unique_count", "latest"]
    field: PropertyName | Literal[""] = Field(
        "", description="the property summed, maxed, counted unique or taken as latest (not for count)"
    )
    filters: dict[
        PropertyName,
        Annotated[
            list[Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NOT_BLANK)]],
            Field(min_length=1, max_length=50),
        ],
    ] = Field(
        default_factory=dict,
        max_length=20,
        description="only events whose property is one of the values",
        json_schema_extra=NAMED_BY_PROPERTY,
    )
    group_by: list[PropertyName] = Field(
        default_factory=list, max_length=5, description="one aggregate and invoice line per value"
    )
    unit: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,3}$")] = Field(
        "C62", description="UN/ECE Rec 20 unit code of the billed quantity"
    )


class MetricOut(Out):
    code: str
    name: str
    aggregation: str
    field: str
    filters: dict[str, list[str]]
    group_by: list[str]
    unit: str


class MetricList(Out):
    items: list[MetricOut]


def _metric_out(view: MetricView) -> dict[str, Any]:
    from handoff.usage.domain.metrics import metric_to_json

    return metric_to_json(view.metric)


def _refused(exc: UsageError, status: int = 422) -> ApiError:
    if exc.field == "actor":
        return ApiError(403, "forbidden", str(exc))
    return ApiError(status, "invalid_request" if status == 422 else "conflict", str(exc), exc.field or None)


@router.get("/usage/metrics", response_model=MetricList)
def list_metrics(ctx: Ctx, user: User = api_user(*READERS)) -> Any:
    """The billable metrics, by code."""
    from handoff.usage.service import metrics as metric_service

    return {"items": [_metric_out(m) for m in metric_service.list_metrics(ctx)]}


@router.get("/usage/metrics/{code}", response_model=MetricOut)
def get_metric(ctx: Ctx, code: Annotated[str, Path(pattern=CODE)], user: User = api_user(*READERS)) -> Any:
    """One billable metric."""
    from handoff.usage.service import metrics as metric_service

    found = metric_service.get_metric(ctx, code)
    if found is None:
        raise ApiError(404, "not_found", f"no billable metric {code}", "code")
    return _metric_out(found)


@router.put("/usage/metrics/{code}", response_model=MetricOut)
def put_metric(
    ctx: Ctx, code: Annotated[str, Path(pattern=CODE)], body: MetricIn, user: User = api_user(*WRITERS)
) -> Any:
    """Define or change a billable metric (audited; a change applies to events stored from now on).
    422 naming the field for a definition the domain refuses (a count with a field, a unit that is
    not a UN/ECE Rec 20 code)."""
    from handoff.usage.service import metrics as metric_service

    doc = {"code": code, **body.model_dump(mode="json")}
    try:
        view = metric_service.define_metric(ctx, doc, user.email, source="api")
    except UsageError as exc:
        raise _refused(exc) from exc
    return _metric_out(view)


# ---- usage prices ----


class TierIn(In):
    up_to: Quantity | None = Field(description="the tier's last unit (inclusive); null: no upper bound (last tier)")
    unit_price: Money
    flat_fee: Cents = "0"


class UsagePriceIn(In):
    """A usage line's price. Amounts are rounded to cents half up, once per invoice line."""

    model: Literal["per_unit", "graduated", "volume", "package", "percentage"]
    metric: MetricCode | None = Field(None, description="the metric it prices (default: the line's product)")
    unit_price: Money = Field("0", description="per unit (per_unit) or per package (package)")
    tiers: list[TierIn] = Field(default_factory=list, max_length=50, description="graduated and volume")
    package_size: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}(\.[0-9]{1,6})?$")] = "1"
    percentage: Percent = Field("0", description="of the summed value (percentage)")
    free_units: Quantity = Field("0", description="free allowance per period")
    minimum: Cents = Field("0", description="minimum commitment per period: a true-up line when below it")
    prepaid: Cents = Field("0", description="credits bought, drawn down by rated amounts")


class UsagePriceOut(Out):
    contract_id: str
    line_key: str
    metric: str
    price: dict[str, Any]


@router.put("/contracts/{contract_id}/lines/{key}/usage-price", response_model=UsagePriceOut)
def put_usage_price(
    ctx: Ctx, contract_id: ContractId, key: LineKey, body: UsagePriceIn, user: User = api_user(*WRITERS)
) -> Any:
    """Set the price of a contract's usage line (audited): periods not yet rated are rated at it.
    404 for an unknown contract or line, 422 naming the field for a price the domain refuses
    (tiers out of order, a package of 0) or a line that is not billed by usage."""
    from handoff.usage.domain.pricing import price_to_json
    from handoff.usage.service import metrics as metric_service

    doc = body.model_dump(mode="json", exclude={"metric"})
    try:
        view = metric_service.set_price(ctx, contract_id, key, doc, user.email, metric=body.metric)
    except UsageError as exc:
        if exc.field in ("contract_id", "line_key"):  # no such contract, or no usage line of that key
            raise ApiError(404, "not_found", str(exc), exc.field) from exc
        raise _refused(exc) from exc
    return {
        "contract_id": contract_id,
        "line_key": key,
        "metric": view.metric,
        "price": plain(price_to_json(view.price)),
    }
