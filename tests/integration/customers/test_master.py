"""The customer master on SQLite and PostgreSQL: versions are added, never rewritten; reads as of a
day; a change is audited and brings the `customers` row in line; refused changes and external-id
conflicts write nothing; a deal's data is taken in once per change."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.customers.domain import SINCE_ALWAYS
from handoff.customers.repository import CustomerRepository
from handoff.customers.service import (
    CustomerError,
    get_customer,
    link_external_id,
    list_customers,
    sync_deal,
    update_customer,
)
from handoff.deals.service.intake import ingest
from handoff.kernel.storage import schema
from tests.builders import deal, event
from tests.conftest import Clock

ACTOR = "user:finance@acme.example"


def rows(ctx: AppContext, table: Any, **where: str) -> list[dict[str, Any]]:
    q = select(table)
    for name, value in where.items():
        q = q.where(table.c[name] == value)
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def audit_count(ctx: AppContext) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.audit_log)).scalar_one())


@pytest.fixture
def intake_customer(ctx: AppContext, clock: Clock) -> None:
    """C-1 as intake stores it: a `customers` row, no version yet."""
    ingest(ctx, [event("e1", clock.now)])
    assert rows(ctx, schema.customers, customer_id="C-1")


def test_an_intake_customer_is_shown_and_its_first_change_keeps_the_intake_record_as_version_1(
    ctx: AppContext, clock: Clock, intake_customer: None
) -> None:
    shown = get_customer(ctx, "C-1")
    assert shown is not None and shown.version is None and shown.versions == []
    assert shown.record is not None and shown.record.billing_email == "ap@kestrel.de"
    assert list_customers(ctx).items[0]["version"] is None

    new = update_customer(
        ctx,
        "C-1",
        {"billing_contacts": [{"name": "AP", "email": "invoices@kestrel.de"}]},
        actor=ACTOR,
        reason="new AP box",
    )
    assert (new.version, new.valid_from, new.changed_by) == (2, clock.now.date(), ACTOR)
    stored = rows(ctx, schema.customer_versions, customer_id="C-1")
    assert sorted((r["version"], r["valid_from"], r["changed_by"]) for r in stored) == [
        (1, SINCE_ALWAYS, "intake"),
        (2, clock.now.date(), ACTOR),
    ]
    first = next(r for r in stored if r["version"] == 1)
    assert first["content"]["billing_contacts"][0]["email"] == "ap@kestrel.de"  # history kept as it was
    assert rows(ctx, schema.customers, customer_id="C-1")[0]["billing_email"] == "invoices@kestrel.de"
    entry = rows(ctx, schema.audit_log, entity_id="C-1", action="customer.updated")[0]
    assert (entry["actor"], entry["reason"], entry["after"]["version"]) == (ACTOR, "new AP box", 2)
    assert entry["before"]["billing_contacts"][0]["email"] == "ap@kestrel.de"
    assert list_customers(ctx, text="kestrel").items[0]["version"] == 2


def test_a_change_dated_ahead_reads_as_of_its_day_and_leaves_the_current_record(
    ctx: AppContext, clock: Clock, intake_customer: None
) -> None:
    update_customer(ctx, "C-1", {"invoice_language": "de"}, actor=ACTOR, reason="German", valid_from=date(2026, 12, 1))
    assert get_customer(ctx, "C-1").record.invoice_language == "en"  # type: ignore[union-attr]
    assert get_customer(ctx, "C-1", date(2026, 11, 30)).version.version == 1  # type: ignore[union-attr]
    on_day = get_customer(ctx, "C-1", date(2026, 12, 1))
    assert on_day is not None and on_day.version is not None and on_day.version.version == 2
    assert on_day.record is not None and on_day.record.invoice_language == "de"
    assert len(on_day.versions) == 2
    # a later change may not take effect before it: refused, nothing written
    before = audit_count(ctx)
    with pytest.raises(CustomerError) as caught:
        update_customer(ctx, "C-1", {"invoice_language": "fr"}, actor=ACTOR, reason="French")
    assert caught.value.field == "valid_from" and "'C-1'" in str(caught.value)
    assert len(rows(ctx, schema.customer_versions, customer_id="C-1")) == 2 and audit_count(ctx) == before
    # the same change again changes nothing
    same = update_customer(ctx, "C-1", {"invoice_language": "de"}, actor=ACTOR, reason="again")
    assert same.version == 2 and len(rows(ctx, schema.customer_versions, customer_id="C-1")) == 2


def test_an_invalid_change_names_the_field_and_writes_nothing(ctx: AppContext, intake_customer: None) -> None:
    before = audit_count(ctx)
    for changes, field in (
        ({"vat_ids": {"DE": "DE000000000"}}, "vat_ids.DE"),
        ({"delivery_channel": "peppol", "peppol_id": "9999:x"}, "peppol_id"),
        ({"invoice_language": "german"}, "invoice_language"),
    ):
        with pytest.raises(CustomerError) as caught:
            update_customer(ctx, "C-1", changes, actor=ACTOR, reason="try")
        assert (caught.value.customer_id, caught.value.field) == ("C-1", field)
    with pytest.raises(CustomerError) as caught:
        update_customer(ctx, "C-404", {"invoice_language": "de"}, actor=ACTOR, reason="try")
    assert caught.value.code == "not_found"
    assert rows(ctx, schema.customer_versions) == [] and audit_count(ctx) == before
    assert rows(ctx, schema.customers, customer_id="C-404") == []


def test_an_external_id_of_another_customer_is_refused_naming_both_and_nothing_is_written(
    ctx: AppContext, clock: Clock
) -> None:
    ingest(ctx, [event("e1", clock.now), event("e2", clock.now, deal_id="D-2", customer_id="C-2")])
    link_external_id(ctx, "C-1", "HubSpot", "123", actor=ACTOR)
    link_external_id(ctx, "C-1", "hubspot", "123", actor=ACTOR)  # again: nothing to do
    before = audit_count(ctx)
    with pytest.raises(CustomerError) as caught:
        link_external_id(ctx, "C-2", "hubspot", "123", actor=ACTOR)
    assert caught.value.code == "conflict" and "'C-1'" in str(caught.value) and "'C-2'" in str(caught.value)
    assert rows(ctx, schema.customer_external_ids, customer_id="C-2") == [] and audit_count(ctx) == before
    # the customer's id in a source is one: a new one takes the earlier one's place
    link_external_id(ctx, "C-1", "hubspot", "456", actor=ACTOR)
    link_external_id(ctx, "C-2", "hubspot", "123", actor=ACTOR)
    assert get_customer(ctx, "C-1").record.external_ids == {"hubspot": "456"}  # type: ignore[union-attr]
    assert get_customer(ctx, "C-2").record.external_ids == {"hubspot": "123"}  # type: ignore[union-attr]
    with pytest.raises(CustomerError) as caught:
        link_external_id(ctx, "C-404", "hubspot", "9", actor=ACTOR)
    assert caught.value.code == "not_found"


def test_sync_from_deal_takes_a_deals_customer_in_once_per_change(ctx: AppContext, clock: Clock) -> None:
    first = sync_deal(ctx, deal(customer_id="C-7"), "hubspot")
    assert first is not None and (first.version, first.valid_from) == (1, SINCE_ALWAYS)
    assert sync_deal(ctx, deal(customer_id="C-7"), "hubspot") is None
    update_customer(ctx, "C-7", {"invoice_language": "de"}, actor=ACTOR, reason="German")
    clock.advance(days=3)
    moved = sync_deal(ctx, deal(customer_id="C-7", billing_city="Hamburg"), "file:deals.csv")
    assert moved is not None and (moved.version, moved.valid_from) == (3, clock.now.date())
    shown = get_customer(ctx, "C-7")
    assert shown is not None and shown.record is not None
    assert (shown.record.billing_address.city, shown.record.invoice_language) == ("Hamburg", "de")
    assert shown.record.external_ids == {"hubspot": "C-7"}  # a file names no source system's id
    assert rows(ctx, schema.customers, customer_id="C-7")[0]["country"] == "DE"
    assert [r["action"] for r in rows(ctx, schema.audit_log, entity_id="C-7")].count("customer.synced") == 2


def test_a_version_number_written_meanwhile_is_not_written_twice(ctx: AppContext, intake_customer: None) -> None:
    """What a concurrent change that read the same versions would try: its insert writes nothing."""
    new = update_customer(ctx, "C-1", {"invoice_language": "de"}, actor=ACTOR, reason="German")
    with ctx.unit_of_work() as uow:
        repo = uow.repository(CustomerRepository)
        late = replace(new, record=replace(new.record, invoice_language="fr"), reason="French")
        assert repo.add_version(late) is False
        uow.commit()
    shown = get_customer(ctx, "C-1")
    assert shown is not None and shown.record is not None and shown.record.invoice_language == "de"
    assert len(shown.versions) == 2
