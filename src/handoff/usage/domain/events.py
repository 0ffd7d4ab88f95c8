"""Usage events as received, pure: what one metered event is and the checks it must pass.

An event is an immutable fact from a product platform: "transaction t-9 used 1 api call for
subscription C-12 at 10:04 UTC". It is stored once for good (its transaction id is the
idempotency key) and never edited: a correction is a *reversal* event that names the
transaction id it cancels (same metric and subscription; the store checks those against the
target, which this module cannot see).

`check_event` refuses what can be refused without storage: a missing or over-long transaction id,
an unknown metric, a timestamp without a time zone or too far in the future, no subscription and
no customer, a reversal that names no target, and (for sum / max / latest / unique-count metrics)
a missing or non-numeric value. Every refusal is a `UsageError` naming the record and the field,
e.g. "usage batch item 3 (txn t-9): properties.bytes is not a number ('abc')".

The metric-dependent part (the measured property, filters, group-by) lives in `metrics`; this
module imports it lazily to keep one direction of dependency (metrics -> events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handoff.usage.domain.metrics import BillableMetric

MAX_TRANSACTION_ID = 200
MAX_REFERENCE = 200
MAX_PROPERTIES = 100
MAX_PROPERTY_TEXT = 1000
# Values are stored as Numeric(20, 6) (`kernel.storage.types.Amount`): six decimals, and a bound
# on the size of one value so that the sums of many still fit.
VALUE_PLACES = 6
MAX_VALUE = Decimal("1000000000000")  # 10**12, exclusive


class UsageError(ValueError):
    """Refused usage input; the message names the record and the field."""

    def __init__(self, record: str, field: str, problem: str) -> None:
        super().__init__(f"{record}: {field} {problem}" if field else f"{record}: {problem}")
        self.record, self.field, self.problem = record, field, problem


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One metered event as received (API, file or webhook), before it is stored."""

    transaction_id: str  # required, <= 200 chars; unique for good (the idempotency key)
    metric: str  # a billable metric's code
    timestamp: datetime  # when the usage occurred, aware (compared in UTC)
    subscription: str = ""  # a contract id, optionally "contract_id:line_key", or
    customer: str = ""  # a customer id (its one active subscription with this metric)
    properties: Mapping[str, str] = field(default_factory=dict)  # text values as received
    reverses: str = ""  # a reversal: the transaction id it cancels
    row: str = ""  # where it came from, for messages ("batch item 3", "line 12")
    # Set by an adapter when the input said "this is a reversal" (e.g. `"type": "reversal"`), so a
    # reversal whose target id is missing is refused instead of being counted as new usage.
    reversal: bool = False

    @property
    def is_reversal(self) -> bool:
        """True for an event that cancels another one (marked as such, or naming a target)."""
        return self.reversal or bool(self.reverses)


def describe(event: UsageEvent) -> str:
    """The record name used in messages: "usage batch item 3 (txn t-9)"."""
    where = event.row or "event"
    txn = event.transaction_id.strip() if isinstance(event.transaction_id, str) else ""
    return f"usage {where} (txn {txn})" if txn else f"usage {where}"


def property_text(value: object) -> str | None:
    """A property value as text: strings as received, integers and Decimals (and floats, as JSON
    parsers give them) in their shortest text; None for anything else (lists, objects, booleans)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal | float):
        return str(value)
    return None


def parse_value(record: str, field: str, text: object) -> Decimal:
    """A measured value: a finite, non-negative number of at most six decimals below 10**12."""
    raw = property_text(text)
    if raw is None:
        raise UsageError(record, field, f"is not a number ({text!r})")
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise UsageError(record, field, f"is not a number ({raw!r})") from None
    if not value.is_finite():
        raise UsageError(record, field, f"is not a finite number ({raw!r})")
    if value < 0:
        raise UsageError(record, field, f"is negative ({raw!r}): corrections are reversal events")
    if value >= MAX_VALUE:
        raise UsageError(record, field, f"is too large ({raw!r}): at most {MAX_VALUE - 1}")
    if value != value.quantize(Decimal(1).scaleb(-VALUE_PLACES)):
        raise UsageError(record, field, f"has more than {VALUE_PLACES} decimals ({raw!r})")
    return value + 0  # normalise -0 to 0


def check_event(
    event: UsageEvent,
    metric: BillableMetric | None,
    now: datetime,
    future_tolerance: timedelta,
) -> UsageError | None:
    """The first problem of an event (None when it may be stored); `metric` is the billable metric
    its code names, None when no such metric exists. Checks that need storage (duplicate
    transaction ids, the subscription existing, a reversal's target) are the store's."""
    txn = event.transaction_id
    if not isinstance(txn, str) or not txn.strip():
        return _refusal(event, "transaction_id", "is missing")
    if len(txn) > MAX_TRANSACTION_ID:
        return _refusal(event, "transaction_id", f"is longer than {MAX_TRANSACTION_ID} characters")
    if txn != txn.strip():
        return _refusal(event, "transaction_id", "has leading or trailing spaces")
    if not isinstance(event.metric, str) or not event.metric.strip():
        return _refusal(event, "metric", "is missing")
    if metric is None or metric.code != event.metric:
        return _refusal(event, "metric", f"is not a known billable metric ({event.metric!r})")
    ts = event.timestamp
    if not isinstance(ts, datetime):
        return _refusal(event, "timestamp", f"is not a date and time ({ts!r})")
    if ts.tzinfo is None or ts.utcoffset() is None:
        return _refusal(event, "timestamp", "has no time zone (give UTC, e.g. 2027-01-31T23:59:59Z)")
    if ts > now + future_tolerance:
        ahead = int((ts - now).total_seconds())
        return _refusal(
            event,
            "timestamp",
            f"is {ahead} s in the future (tolerance {int(future_tolerance.total_seconds())} s)",
        )
    subscription = event.subscription if isinstance(event.subscription, str) else ""
    customer = event.customer if isinstance(event.customer, str) else ""
    if not subscription.strip() and not customer.strip():
        return _refusal(event, "subscription", "is missing (give a subscription or a customer)")
    for name, ref in (("subscription", subscription), ("customer", customer)):
        if len(ref) > MAX_REFERENCE:
            return _refusal(event, name, f"is longer than {MAX_REFERENCE} characters")
    if not isinstance(event.properties, Mapping):
        return _refusal(event, "properties", "is not an object of names and values")
    if len(event.properties) > MAX_PROPERTIES:
        return _refusal(event, "properties", f"has more than {MAX_PROPERTIES} entries")
    for key, value in event.properties.items():
        text = property_text(value)
        if not isinstance(key, str) or not key:
            return _refusal(event, "properties", f"has a name that is not text ({key!r})")
        if text is None:
            return _refusal(event, f"properties.{key}", f"is not text or a number ({value!r})")
        if len(text) > MAX_PROPERTY_TEXT:
            return _refusal(event, f"properties.{key}", f"is longer than {MAX_PROPERTY_TEXT} characters")
    if event.is_reversal:
        if not isinstance(event.reverses, str) or not event.reverses.strip():
            return _refusal(event, "reverses", "is missing: a reversal names the transaction id it cancels")
        if event.reverses == txn:
            return _refusal(event, "reverses", "names the reversal itself")
        # A reversal carries no value of its own: it takes back its target's contribution.
        return None
    from handoff.usage.domain.metrics import check_measure

    try:
        check_measure(metric, event)
    except UsageError as exc:
        return exc
    return None


def _refusal(event: UsageEvent, field: str, problem: str) -> UsageError:
    """The error naming `event` (its record name built only for a refusal: most events pass)."""
    return UsageError(describe(event), field, problem)
