"""The demo's usage-based contract: a SaaS customer billed in arrears for what it used.

Brightwave Software GmbH signs for pay-as-you-go access to the platform from January 2027: API calls
(each application server reports its calls every hour, summed; the first 100,000 a month free, the
next 900,000 at 0.0008 EUR, the rest at 0.0005: graduated tiers) and storage (a snapshot of the
gigabytes stored per region every day; billed on the month's peak per region at 0.25 EUR a GB: one
invoice line per region). January's events (2,232 hourly reports from three servers, 62 daily
snapshots) arrive a day at a time. Among them: a report sent twice (a repeat: the second changes
nothing), a report the platform found double-counted and cancelled by a reversal event (never by
editing), the last hour of one server that arrives on February 2nd (late, inside the three-day
grace: billed in January) and one that arrives on February 5th, after January was rated (billed in
February, with a note saying so). Mid-month the customer's usage so far is shown with its amount;
on February 4th (January's end + grace) January is rated into the contract's schedule and the
billing run drafts the invoice.

`usage_contract`, `METRICS`, `API_PRICE`, `month_of_events` and `run_usage_story` are shared with
the test that checks the invoice against a hand calculation (`tests/integration/usage/
test_usage_demo_invoice.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from handoff.context import AppContext
from handoff.contracts.domain.model import BillingKind, BillingRule, ContractLine, ContractTerms, ContractVersion
from handoff.contracts.service.billing_run import run_billing
from handoff.contracts.service.contracts import ItemRow, lock, show_contract
from handoff.invoicing.domain.invoices import Invoice
from handoff.invoicing.service.ledger import invoice_document
from handoff.kernel.parties import Address, Customer
from handoff.usage.domain.events import UsageEvent
from handoff.usage.domain.metrics import Aggregation, BillableMetric, metric_to_json
from handoff.usage.domain.pricing import PriceModel, Tier, UsagePrice, price_to_json
from handoff.usage.service.ingest import BatchResult, record_usage
from handoff.usage.service.metrics import define_metric, set_price
from handoff.usage.service.queries import SubscriptionUsage, current_usage
from handoff.usage.service.rating import RatingResult, rate_usage

CONTRACT_ID = "CTR-9300-2027"
START = date(2027, 1, 1)
FINANCE = "finance@acme.example"
FEED = "api:brightwave-platform"  # who sends the events: the platform, by its API token
BUYER = Customer(
    "C-9300",
    "Brightwave Software GmbH",
    "DE",
    True,
    "DE813000008",
    billing_email="rechnungen@brightwave.example",
    billing_contact_name="Miriam Hofer",
    address=Address("Torstraße 140", "Berlin", "10119", "DE"),
)
SERVERS = ("web-1", "web-2", "web-3")
REGIONS = ("eu-central", "us-east")
METRICS = (
    BillableMetric("api_calls", "API calls", Aggregation.SUM, field="calls"),
    BillableMetric(
        "storage_gb", "Storage (GB, monthly peak)", Aggregation.MAX, field="gb", group_by=("region",), unit="E34"
    ),
)
# API calls: the first 100,000 free, up to 1,000,000 at 0.0008, beyond at 0.0005 EUR
API_PRICE = UsagePrice(
    PriceModel.GRADUATED,
    tiers=(
        Tier(Decimal(100_000), Decimal(0)),
        Tier(Decimal(1_000_000), Decimal("0.0008")),
        Tier(None, Decimal("0.0005")),
    ),
)
STORAGE_PRICE = Decimal("0.25")  # EUR per GB of the month's peak, per region (the line's unit price)
# The notable events of the month, by their transaction ids
REPEATED = "api:web-2:2027-01-11T09"  # sent again with the next day's reports
CANCELLED = "api:web-2:2027-01-10T14"  # double-counted: cancelled by the reversal below
REVERSAL = "api-reversal:web-2:2027-01-10T14"
LATE = "api:web-3:2027-01-31T23"  # arrives 2027-02-02 10:00: inside the grace period
LATER = "api:web-1:2027-01-31T22"  # arrives 2027-02-05 09:00: January already rated
MID_MONTH = datetime(2027, 1, 16, 0, 5, tzinfo=UTC)
RATING_DAY = date(2027, 2, 4)  # January's end + the default grace of 3 days
LATE_AT = datetime(2027, 2, 2, 10, 0, tzinfo=UTC)
LATER_AT = datetime(2027, 2, 5, 9, 0, tzinfo=UTC)


def usage_contract() -> ContractVersion:
    """The signed contract: two usage lines whose products name their metrics."""
    terms = ContractTerms(
        BUYER.customer_id,
        "ACME-DE",
        "EUR",
        "net30",
        START,
        po_number="PO-BW-2027-004",
        signatory="Miriam Hofer",
        owner_email="ben.carter@acme.example",
    )
    usage = BillingRule(BillingKind.USAGE)
    lines = (
        ContractLine("L1", "api_calls", "Platform API calls", Decimal(1), Decimal("0.0008"), usage),
        ContractLine(
            "L2", "storage_gb", "Storage per region, monthly peak", Decimal(1), STORAGE_PRICE, usage, unit_code="E34"
        ),
    )
    return ContractVersion(CONTRACT_ID, 1, START, terms, lines)


def calls(server: int, hour: int) -> int:
    """The API calls server `server` (0-2) reports for an hour of the day: 400 + 20 per hour + 100 per server."""
    return 400 + 20 * hour + 100 * server


def stored_gb(region: str, day: int) -> int:
    """The gigabytes stored in `region` at the end of January `day`: eu-central grows to 1,400 on
    the 20th, then a clean-up; us-east grows steadily to 955."""
    if region == "us-east":
        return 800 + 5 * day
    return 1200 + 10 * day if day <= 20 else 1150 + 5 * day


def _api_event(server: int, at: datetime) -> UsageEvent:
    name = SERVERS[server]
    return UsageEvent(
        transaction_id=f"api:{name}:{at:%Y-%m-%dT%H}",
        metric="api_calls",
        timestamp=at,
        subscription=CONTRACT_ID,
        properties={"calls": str(calls(server, at.hour)), "server": name},
    )


def month_of_events() -> list[tuple[datetime, list[UsageEvent]]]:
    """January's events as they arrive: each day's reports and snapshots a few minutes after
    midnight, the repeat and the reversal with the reports of the next days, and the two late
    reports on their own (LATE inside the grace period, LATER after January is rated)."""
    deliveries: list[tuple[datetime, list[UsageEvent]]] = []
    held: dict[str, UsageEvent] = {}
    for day in range(1, 32):
        midnight = datetime(2027, 1, day, tzinfo=UTC)
        batch: list[UsageEvent] = []
        for hour in range(24):
            for server in range(len(SERVERS)):
                event = _api_event(server, midnight + timedelta(hours=hour))
                if event.transaction_id in (LATE, LATER):
                    held[event.transaction_id] = event
                else:
                    batch.append(event)
        for region in REGIONS:
            batch.append(
                UsageEvent(
                    transaction_id=f"storage:{region}:{midnight:%Y-%m-%d}",
                    metric="storage_gb",
                    timestamp=midnight + timedelta(hours=23, minutes=30),
                    subscription=CONTRACT_ID,
                    properties={"region": region, "gb": str(stored_gb(region, day))},
                )
            )
        if day == 11:  # the platform found 2027-01-10 14:00 of web-2 counted twice
            batch.append(
                UsageEvent(
                    transaction_id=REVERSAL,
                    metric="api_calls",
                    timestamp=datetime(2027, 1, 10, 14, tzinfo=UTC),
                    subscription=CONTRACT_ID,
                    reverses=CANCELLED,
                )
            )
        if day == 12:  # a retry of yesterday's report after a timeout: the same event again
            batch.append(next(e for _, sent in deliveries[-1:] for e in sent if e.transaction_id == REPEATED))
        deliveries.append((midnight + timedelta(days=1, minutes=5), batch))
    deliveries.append((LATE_AT, [held[LATE]]))
    deliveries.append((LATER_AT, [held[LATER]]))
    return deliveries


class DemoClock:
    """The story's clock, moved as its days pass."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class UsageStory:
    """What the story did, for the demo to print and the test to check."""

    batches: list[tuple[datetime, BatchResult]] = field(default_factory=list)
    mid_month: list[SubscriptionUsage] = field(default_factory=list)  # current_usage on MID_MONTH
    rating: RatingResult | None = None
    drafts: list[int] = field(default_factory=list)
    february: list[SubscriptionUsage] = field(default_factory=list)  # current_usage after the later report

    @property
    def sent(self) -> int:
        return sum(len(r.accepted) + len(r.duplicates) + len(r.refused) for _, r in self.batches)

    def total(self, what: str) -> int:
        return sum(len(getattr(r, what)) for _, r in self.batches)


def run_usage_story(ctx: AppContext, actor: str = FINANCE) -> UsageStory:
    """Lock the contract, define the metrics and the API calls' tiers; record January a day at a
    time (usage so far read mid-month); the report late inside the grace period; January rated and
    billed on RATING_DAY; then the report that comes after rating, and February's usage so far."""
    clock = DemoClock(datetime(2026, 12, 20, 10, 0, tzinfo=UTC))
    ctx = replace(ctx, clock=clock)
    story = UsageStory()
    lock(ctx, usage_contract(), BUYER, actor, "won quote: platform, pay as you go")
    for metric in METRICS:
        define_metric(ctx, metric_to_json(metric), actor)
    set_price(ctx, CONTRACT_ID, "L1", price_to_json(API_PRICE), actor)
    for received, batch in month_of_events():
        if received > MID_MONTH and not story.mid_month:
            clock.now = MID_MONTH
            story.mid_month = list(current_usage(ctx, contract_id=CONTRACT_ID))
        if received == LATER_AT:
            clock.now = datetime.combine(RATING_DAY, datetime.min.time(), UTC) + timedelta(hours=6)
            story.rating = rate_usage(ctx, RATING_DAY, actor, contract_id=CONTRACT_ID)
            story.drafts = list(run_billing(ctx, RATING_DAY, "demo").invoice_ids)
        clock.now = received
        story.batches.append((received, record_usage(ctx, batch, FEED)))
    story.february = list(current_usage(ctx, contract_id=CONTRACT_ID))
    return story


def usage_invoices(ctx: AppContext, drafts: Sequence[int]) -> list[tuple[int, Invoice]]:
    """The drafts' documents that bill the usage contract."""
    with ctx.unit_of_work() as uow:  # reads only
        documents = [(invoice_id, invoice_document(uow, invoice_id)) for invoice_id in drafts]
    return [
        (invoice_id, doc)
        for invoice_id, doc in documents
        if doc is not None and any(ln.order_ref == CONTRACT_ID for ln in doc.lines)
    ]


def run_usage_demo(ctx: AppContext, out: Console) -> None:
    """Section 12 of the demo: usage events in, usage so far, January rated and invoiced."""
    story = run_usage_story(ctx)
    out.print(
        f"contract {CONTRACT_ID} locked for {BUYER.legal_name}: API calls (first 100,000 a month free, then "
        "0.0008 EUR up to 1,000,000, then 0.0005: graduated) and storage (0.25 EUR per GB of the month's peak, "
        "per region), billed monthly in arrears",
        highlight=False,
    )
    month = [r for at, r in story.batches if at < LATE_AT]
    out.print(
        f"January's events sent a day at a time by the platform: {sum(_sent(r) for r in month):,} in "
        f"{len(month)} batches: {sum(len(r.accepted) for r in month):,} accepted, "
        f"{sum(len(r.duplicates) for r in month)} duplicate ({REPEATED} sent again after a timeout: nothing "
        f"changed), {sum(len(r.refused) for r in month)} refused; the report {CANCELLED} cancelled by a "
        f"reversal event ({REVERSAL}), never edited",
        highlight=False,
    )
    out.print(f"usage so far on {MID_MONTH:%Y-%m-%d %H:%M} UTC (API and contract page):", highlight=False)
    out.print(_usage_table(story.mid_month))
    late = dict(story.batches)
    out.print(
        f"{LATE} arrived {LATE_AT:%Y-%m-%d %H:%M}: inside the grace period, billed in January "
        f"({_outcome(late[LATE_AT])})",
        highlight=False,
    )
    if story.rating is not None:
        out.print(
            f"January rated on {RATING_DAY} (its end + 3 days of grace): {_rating(story.rating)}", highlight=False
        )
    billed = [item for item in show_contract(ctx, CONTRACT_ID).items if item.invoice_id is not None]
    for invoice_id, invoice in usage_invoices(ctx, story.drafts):
        _print_invoice(out, invoice_id, invoice, [i for i in billed if i.invoice_id == invoice_id])
    out.print(
        f"{LATER} arrived {LATER_AT:%Y-%m-%d %H:%M}, after January was rated: {_outcome(late[LATER_AT])}; "
        "February so far:",
        highlight=False,
    )
    out.print(_usage_table(story.february))


def _sent(result: BatchResult) -> int:
    return len(result.accepted) + len(result.duplicates) + len(result.refused)


def _outcome(result: BatchResult) -> str:
    if result.refused:
        return "refused: " + "; ".join(str(e) for _, e in result.refused)
    if not result.accepted:
        return "duplicate"
    notes = "; ".join(result.notes.values())
    return "accepted" + (f", note: {notes}" if notes else "")


def _rating(result: RatingResult) -> str:
    aggregates = sum(c.aggregates for c in result.contracts)
    return f"{aggregates} aggregates priced into {result.items} schedule items, {result.amount:,.2f} EUR net"


def _usage_table(found: Sequence[SubscriptionUsage]) -> Table:
    table = Table(
        "line", "metric", "group", "month", "events", "quantity", "amount so far EUR", box=None, padding=(0, 1, 0, 2)
    )
    for column in (4, 5, 6):
        table.columns[column].justify = "right"
    for sub in found:
        for group in sub.groups:
            table.add_row(
                sub.line_key,
                sub.metric,
                ", ".join(group.group.values()),
                sub.period,
                f"{group.events:,}",
                f"{group.quantity.normalize():,f}",
                f"{group.amount:,.2f}",
            )
    return table


def _print_invoice(out: Console, invoice_id: int, invoice: Invoice, items: Sequence[ItemRow]) -> None:
    """The draft's totals and its lines as the schedule items it bills: metric, region, quantity, amount."""
    totals = invoice.totals
    out.print(
        f"draft #{invoice_id}, billing run of {RATING_DAY}: net {totals.tax_exclusive:,.2f} + VAT 19 % "
        f"{totals.tax:,.2f} = {totals.tax_inclusive:,.2f} EUR",
        highlight=False,
    )
    table = Table("line", "metric", "month", "quantity", "unit price", "amount EUR", box=None, padding=(0, 1, 0, 2))
    for column in (3, 4, 5):
        table.columns[column].justify = "right"
    for item in sorted(items, key=lambda i: (i.line_key, i.period_key)):
        table.add_row(
            item.line_key,
            " ".join(item.period_key.split(":")[1:-1]),  # usage:<metric>[:<group>]:<month>
            item.period_start.strftime("%Y-%m"),
            f"{item.quantity:,}",
            f"{item.unit_price:,}",
            f"{item.amount:,.2f}",
        )
    out.print(table)
    for item in items:
        if item.note:
            out.print(f"  {item.line_key} {item.period_key}: {item.note}", highlight=False)
