"""Every check of `check_event`, each naming the record and the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from handoff.usage.domain.events import UsageError, UsageEvent, check_event, describe, parse_value
from handoff.usage.domain.metrics import Aggregation, BillableMetric

NOW = datetime(2027, 2, 10, 12, 0, tzinfo=UTC)
TOLERANCE = timedelta(seconds=300)
CALLS = BillableMetric("api_calls", "API calls", Aggregation.COUNT)
BYTES = BillableMetric("bytes", "Bytes stored", Aggregation.SUM, field="bytes")
REGIONAL = BillableMetric("gb", "GB", Aggregation.SUM, field="gb", filters={"tier": ("pro",)}, group_by=("region",))
USERS = BillableMetric("users", "Active users", Aggregation.UNIQUE_COUNT, field="user")


def event(**changes: object) -> UsageEvent:
    base: dict[str, object] = {
        "transaction_id": "t-9",
        "metric": "api_calls",
        "timestamp": NOW - timedelta(hours=1),
        "subscription": "C-1",
        "row": "batch item 3",
    }
    base.update(changes)
    return UsageEvent(**base)  # type: ignore[arg-type]


def refusal(ev: UsageEvent, metric: BillableMetric | None = CALLS) -> UsageError:
    error = check_event(ev, metric, NOW, TOLERANCE)
    assert error is not None
    return error


def test_a_good_event_passes() -> None:
    assert check_event(event(), CALLS, NOW, TOLERANCE) is None
    assert check_event(event(metric="bytes", properties={"bytes": "12.5"}), BYTES, NOW, TOLERANCE) is None
    assert check_event(event(customer="CUST-1", subscription=""), CALLS, NOW, TOLERANCE) is None


def test_the_record_names_the_row_and_the_transaction() -> None:
    assert describe(event()) == "usage batch item 3 (txn t-9)"
    assert describe(event(transaction_id="", row="")) == "usage event"


@pytest.mark.parametrize("txn", ["", "   "])
def test_missing_transaction_id(txn: str) -> None:
    error = refusal(event(transaction_id=txn))
    assert (error.record, error.field, error.problem) == ("usage batch item 3", "transaction_id", "is missing")


def test_transaction_id_too_long_or_padded() -> None:
    assert refusal(event(transaction_id="x" * 201)).field == "transaction_id"
    assert check_event(event(transaction_id="x" * 200), CALLS, NOW, TOLERANCE) is None
    assert "spaces" in refusal(event(transaction_id=" t-9")).problem


def test_unknown_metric() -> None:
    error = refusal(event(metric="api_cals"), None)
    assert error.field == "metric"
    assert str(error) == "usage batch item 3 (txn t-9): metric is not a known billable metric ('api_cals')"
    assert refusal(event(metric=""), None).problem == "is missing"
    # the metric given must be the one the event names
    assert refusal(event(metric="bytes"), CALLS).field == "metric"


def test_non_numeric_value_for_a_sum_metric() -> None:
    error = refusal(event(metric="bytes", properties={"bytes": "abc"}), BYTES)
    assert str(error) == "usage batch item 3 (txn t-9): properties.bytes is not a number ('abc')"
    for bad in ("NaN", "Infinity", "-1", "1e12", "0.0000001", "1,5"):
        assert refusal(event(metric="bytes", properties={"bytes": bad}), BYTES).field == "properties.bytes", bad
    missing = refusal(event(metric="bytes", properties={}), BYTES)
    assert (missing.field, missing.problem) == ("properties.bytes", "is missing (metric bytes measures it)")


def test_values_as_json_numbers_and_decimals() -> None:
    for good in (5, Decimal("0.000001"), 2.5, "1.500000000", " 7 "):
        assert check_event(event(metric="bytes", properties={"bytes": good}), BYTES, NOW, TOLERANCE) is None, good
    assert parse_value("r", "f", "1.500000000") == Decimal("1.5")
    assert str(parse_value("r", "f", "-0")) == "0"
    assert refusal(event(metric="bytes", properties={"bytes": True}), BYTES).field == "properties.bytes"
    assert refusal(event(properties={"nested": {"a": 1}})).field == "properties.nested"


def test_future_timestamp_beyond_tolerance() -> None:
    assert check_event(event(timestamp=NOW + TOLERANCE), CALLS, NOW, TOLERANCE) is None
    error = refusal(event(timestamp=NOW + TOLERANCE + timedelta(seconds=1)))
    assert error.field == "timestamp"
    assert error.problem == "is 301 s in the future (tolerance 300 s)"


def test_timestamp_without_zone_or_not_a_datetime() -> None:
    assert refusal(event(timestamp=datetime(2027, 2, 1, 12, 0))).field == "timestamp"
    assert refusal(event(timestamp="2027-02-01")).field == "timestamp"
    # another zone is fine: compared as an instant
    plus_two = timezone(timedelta(hours=2))
    assert check_event(event(timestamp=datetime(2027, 2, 10, 14, 4, tzinfo=plus_two)), CALLS, NOW, TOLERANCE) is None


def test_missing_subscription_and_customer() -> None:
    error = refusal(event(subscription="", customer=""))
    assert (error.field, error.problem) == ("subscription", "is missing (give a subscription or a customer)")
    assert refusal(event(customer="c" * 201)).field == "customer"


def test_reversal_without_its_target() -> None:
    error = refusal(event(reversal=True))
    assert error.field == "reverses"
    assert "names the transaction id it cancels" in error.problem
    assert refusal(event(reverses="t-9")).problem == "names the reversal itself"
    # a reversal carries no value: it takes back its target's
    assert check_event(event(metric="bytes", reverses="t-1", properties={}), BYTES, NOW, TOLERANCE) is None
    assert event(reverses="t-1").is_reversal and event(reversal=True).is_reversal and not event().is_reversal


def test_grouped_metric_needs_the_group_property_unless_filtered_out() -> None:
    ok = event(metric="gb", properties={"gb": "2", "tier": "pro", "region": "eu"})
    assert check_event(ok, REGIONAL, NOW, TOLERANCE) is None
    error = refusal(event(metric="gb", properties={"gb": "2", "tier": "pro"}), REGIONAL)
    assert (error.field, error.problem) == ("properties.region", "is missing (metric gb is grouped by it)")
    assert refusal(event(metric="gb", properties={"gb": "2", "tier": "pro", "region": "a|b"}), REGIONAL).field == (
        "properties.region"
    )
    # filtered out (tier free): measures nothing, so nothing to refuse
    assert check_event(event(metric="gb", properties={"tier": "free"}), REGIONAL, NOW, TOLERANCE) is None


def test_unique_count_needs_its_property() -> None:
    assert refusal(event(metric="users", properties={"user": " "}), USERS).field == "properties.user"
    assert check_event(event(metric="users", properties={"user": "u-1"}), USERS, NOW, TOLERANCE) is None
