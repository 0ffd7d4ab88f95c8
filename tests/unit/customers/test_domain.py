"""The customer master record (pure): validation names the customer and the field, changes are
normalised, versions are effective-dated and never rewritten, and a deal's data merges over the
record without losing what a deal does not carry."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from handoff.customers.domain import (
    SINCE_ALWAYS,
    BillingContact,
    CustomerError,
    CustomerRecord,
    CustomerVersion,
    DeliveryChannel,
    apply_changes,
    as_of,
    check,
    from_content,
    from_deal,
    from_intake,
    next_version,
    problems,
    to_content,
)
from handoff.kernel.parties import Address
from tests.builders import deal

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GOOD = CustomerRecord(
    "C-1",
    "Kestrel Labs GmbH",
    vat_ids={"DE": "DE136695976"},
    billing_contacts=(BillingContact("Anna Müller", "ap@kestrel.de"),),
    billing_address=Address("Hauptstraße 1", "Berlin", "10115", "DE"),
)


def fields_of(record: CustomerRecord) -> set[str]:
    return {p.field for p in problems(record)}


def test_a_good_record_has_no_problems_and_round_trips_through_its_stored_form() -> None:
    assert problems(GOOD) == []
    back = from_content("C-1", to_content(GOOD), {"hubspot": "123"})
    assert to_content(back) == to_content(GOOD) and back.external_ids == {"hubspot": "123"}
    assert (back.billing_email, back.vat_id, back.country) == ("ap@kestrel.de", "DE136695976", "DE")


def test_errors_name_the_customer_and_the_field() -> None:
    bad = apply_changes(GOOD, {"vat_ids": {"DE": "DE136695977"}})
    with pytest.raises(CustomerError) as caught:
        check(bad)
    assert caught.value.customer_id == "C-1" and caught.value.field == "vat_ids.DE"
    assert "'C-1'" in str(caught.value) and "vat_ids.DE" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"legal_name": " "}, "legal_name"),
        ({"vat_ids": {"DE": "FR40303265045"}}, "vat_ids.DE"),  # valid French id under Germany
        ({"vat_ids": {"XX": "XX123"}}, "vat_ids.XX"),
        ({"vat_ids": {"GB": "GB999999974"}}, "vat_ids.GB"),  # stdnum's GB module: bad check digits
        ({"us_tax_id": "12-345"}, "us_tax_id"),
        ({"billing_contacts": [{"name": "A", "email": "not-an-address"}]}, "billing_contacts[0].email"),
        ({"invoice_language": "english"}, "invoice_language"),
        ({"invoice_language": "xx"}, "invoice_language"),
        ({"delivery_channel": "peppol"}, "peppol_id"),
        ({"delivery_channel": "peppol", "peppol_id": "0088:1234567890123"}, "peppol_id"),  # GLN check digit
        ({"billing_contacts": []}, "billing_contacts"),  # delivery by email without an address
        ({"billing_address": {"country": "Atlantis"}}, "billing_address.country"),
        ({"delivery_channel": "post", "billing_address": {"street": ""}}, "billing_address.street"),
    ],
)
def test_each_invalid_field_is_named(changes: dict[str, object], field: str) -> None:
    assert field in fields_of(apply_changes(GOOD, changes))


def test_valid_tax_ids_peppol_and_languages_are_accepted() -> None:
    ok = apply_changes(
        GOOD,
        {
            "vat_ids": {"de": "de 136 695 976", "FR": "FR40303265045", "GB": "GB980780684"},
            "us_tax_id": "04-2103594",
            "invoice_language": "DE",
            "delivery_channel": "PEPPOL",
            "peppol_id": "0088:1234567890128",
            "consolidated_invoicing": True,
            "billing_address": {"country": "germany"},
        },
    )
    assert problems(ok) == []
    assert ok.vat_ids == {"DE": "DE136695976", "FR": "FR40303265045", "GB": "GB980780684"}
    assert (ok.invoice_language, ok.delivery_channel, ok.billing_address.country) == (
        "de",
        DeliveryChannel.PEPPOL,
        "DE",
    )
    assert ok.billing_address.street == "Hauptstraße 1"  # an address change keeps the parts not given


def test_changes_refuse_unknown_fields_and_values() -> None:
    for changes, field in (
        ({"colour": "red"}, "colour"),
        ({"delivery_channel": "fax"}, "delivery_channel"),
        ({"consolidated_invoicing": "yes"}, "consolidated_invoicing"),
        ({"billing_address": {"planet": "Mars"}}, "billing_address.planet"),
    ):
        with pytest.raises(CustomerError) as caught:
            apply_changes(GOOD, changes)
        assert caught.value.field == field


def version(n: int, valid_from: date, record: CustomerRecord = GOOD) -> CustomerVersion:
    return CustomerVersion("C-1", n, valid_from, record, "user:f@x", "why", AT)


def test_as_of_finds_the_version_in_force_on_a_day() -> None:
    v1, v2, v3 = version(1, SINCE_ALWAYS), version(2, date(2026, 3, 1)), version(3, date(2026, 3, 1))
    v4 = version(4, date(2027, 1, 1))
    versions = [v4, v2, v1, v3]
    assert as_of(versions, date(2026, 2, 28)) is v1
    assert as_of(versions, date(2026, 3, 1)) is v3  # two on one day: the later number
    assert as_of(versions, date(2026, 12, 31)) is v3
    assert as_of(versions, date(2027, 1, 1)) is v4
    assert as_of([v2], date(2026, 1, 1)) is None


def test_next_version_numbers_dates_and_refuses() -> None:
    first = next_version([], GOOD, valid_from=date(2026, 5, 1), changed_by="intake", reason="first", at=AT)
    assert first is not None and (first.version, first.valid_from) == (1, SINCE_ALWAYS)
    assert next_version([first], GOOD, valid_from=None, changed_by="x", reason="same", at=AT) is None
    moved = apply_changes(GOOD, {"invoice_language": "de"})
    second = next_version([first], moved, valid_from=None, changed_by="user:f@x", reason=" German ", at=AT)
    assert second is not None and (second.version, second.valid_from, second.reason) == (2, AT.date(), "German")
    again = apply_changes(moved, {"invoice_language": "fr"})
    with pytest.raises(CustomerError) as caught:
        next_version([first, second], again, valid_from=date(2026, 1, 1), changed_by="x", reason="r", at=AT)
    assert caught.value.field == "valid_from"
    with pytest.raises(CustomerError) as caught:
        next_version([first, second], again, valid_from=None, changed_by="x", reason=" ", at=AT)
    assert caught.value.field == "reason"
    with pytest.raises(CustomerError) as caught:
        next_version(
            [first], apply_changes(GOOD, {"legal_name": ""}), valid_from=None, changed_by="x", reason="r", at=AT
        )
    assert caught.value.field == "legal_name"


def test_from_intake_reads_a_customers_row() -> None:
    record = from_intake("C-9", "Olive SA", "", "el 094 014 201", True, "ap@olive.gr")
    assert record.vat_ids == {"GR": "EL094014201"} and record.billing_email == "ap@olive.gr"
    assert from_intake("C-9", "Olive SA", "GR", "", False, "").billing_contacts == ()


def test_from_deal_merges_what_the_deal_carries_and_keeps_the_rest() -> None:
    current = apply_changes(
        GOOD,
        {
            "invoice_language": "de",
            "consolidated_invoicing": True,
            "vat_ids": {"DE": "DE136695976", "FR": "FR40303265045"},
            "billing_contacts": [{"name": "Anna", "email": "ap@kestrel.de"}, {"name": "Bo", "email": "bo@kestrel.de"}],
        },
    )
    d = deal(
        billing_email="AP@kestrel.de",
        billing_contact_name="Anna M.",
        billing_city="München",
        peppol_id="0088:1234567890128",
    )
    merged = from_deal(d, current)
    assert problems(merged) == []
    assert (merged.invoice_language, merged.consolidated_invoicing) == ("de", True)
    assert merged.vat_ids == {"DE": "DE136695976", "FR": "FR40303265045"}
    assert [c.email for c in merged.billing_contacts] == ["AP@kestrel.de", "bo@kestrel.de"]
    assert merged.billing_address.city == "München" and merged.delivery_channel is DeliveryChannel.PEPPOL
    fresh = from_deal(deal(), None)
    assert problems(fresh) == [] and fresh.customer_id == "C-1" and fresh.legal_name == "Kestrel Labs GmbH"
