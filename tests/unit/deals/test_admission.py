"""What the inbox admits: text a database stores, values that fit their columns, a time not ahead of
the clock. The limits are the schema's column lengths (compared here, so the two cannot drift)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handoff.deals.domain.admission import LIMITS, ahead_of_clock, refusal, unstorable
from handoff.deals.domain.orders import DealEvent, DealInput, LineInput
from handoff.kernel.storage import schema
from tests.builders import GOOD, deal

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def ev(event_id: str = "e-1", source: str = "crm", **changes: str) -> DealEvent:
    return DealEvent(source, event_id, NOW, deal(**changes))


def test_a_good_event_is_admitted() -> None:
    assert refusal(ev()) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [("\ud800", "surrogate"), ("ab\udfffc", "surrogate"), ("a\x00b", "NUL")],
)
def test_text_no_database_stores_is_refused_naming_the_field(value: str, words: str) -> None:
    found = refusal(ev(deal_name=value))
    assert found is not None and found.field == "deal_name" and words in found.message
    assert unstorable(value) is not None and unstorable("Müller — ✓ 😀") is None


def test_a_bad_custom_field_name_is_named_printably() -> None:
    found = refusal(DealEvent("crm", "e", NOW, DealInput.from_mapping({**GOOD, "x\ud800y": "1"})))
    assert found is not None and found.field == "x\\ud800y"
    found = refusal(DealEvent("crm", "e", NOW, DealInput.from_mapping({**GOOD, "n\x00": "1"})))
    assert found is not None and found.field == "n\\x00"


def test_a_bad_line_is_named_by_its_position() -> None:
    bad = DealInput.from_mapping(GOOD, (LineInput("ok"), LineInput("bad\x00")))
    found = refusal(DealEvent("crm", "e", NOW, bad))
    assert found is not None and found.field == "lines[1].description"


@pytest.mark.parametrize("name", ["deal_id", "customer_id", "customer_legal_name", "legal_entity", "owner_email"])
def test_values_longer_than_their_column_are_refused(name: str) -> None:
    limit = LIMITS[name]
    assert refusal(ev(**{name: "x" * limit})) is None
    found = refusal(ev(**{name: "x" * (limit + 1)}))
    assert found is not None and found.field == name and str(limit) in found.message


def test_event_id_and_source_lengths() -> None:
    assert refusal(ev(event_id="e" * 200)) is None
    assert (found := refusal(ev(event_id="e" * 201))) is not None and found.field == "event_id"
    assert (found := refusal(ev(source="s" * 41))) is not None and found.field == "source"
    assert (found := refusal(ev(event_id="e\x00"))) is not None and found.field == "event_id"


def test_limits_are_the_columns_lengths() -> None:
    inbox, orders = schema.inbox.c, schema.orders.c
    assert LIMITS["source"] == orders.source.type.length  # a CRM's or file's source starts the order
    assert len("user:") + LIMITS["owner_email"] <= inbox.source.type.length  # a person's fix: user:ADDRESS
    assert LIMITS["event_id"] == inbox.event_id.type.length == orders.version_event.type.length
    assert LIMITS["customer_id"] == orders.customer_id.type.length
    assert LIMITS["customer_legal_name"] == orders.customer_name.type.length
    assert LIMITS["legal_entity"] == orders.legal_entity.type.length
    assert LIMITS["owner_email"] == orders.owner_email.type.length
    # the deal id goes into keys made from it (the invoice draft's `order:ID`, notices' outbox keys)
    assert LIMITS["deal_id"] + len("email:exception:") + 1 + 16 <= schema.outbox.c.key.type.length
    assert LIMITS["deal_id"] + len("order:") <= schema.invoices.c.draft_key.type.length


def test_a_time_ahead_of_the_clock_beyond_the_tolerance() -> None:
    tolerance = timedelta(seconds=300)
    assert ahead_of_clock(NOW + tolerance, NOW, tolerance, "occurred_at") is None
    assert ahead_of_clock(NOW - timedelta(days=400), NOW, tolerance, "occurred_at") is None
    found = ahead_of_clock(datetime(2099, 1, 1, tzinfo=UTC), NOW, tolerance, "updated_at")
    assert found is not None and found.field == "updated_at"
    assert "2099-01-01" in found.message and "300 seconds" in found.message
