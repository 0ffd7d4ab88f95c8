"""Failed inbox events have a way back (issue 16, item 11), on SQLite and PostgreSQL: an event that
failed (a bad configuration, a payload that cannot be read) is listed with its error; once the cause
is fixed, retrying puts it back to pending, audited, and the usual path applies it; retrying an
event that is not failed is refused, naming the event and its status."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from handoff.audit import service as audit
from handoff.context import AppContext
from handoff.deals.service import inbox
from handoff.deals.service.inbox import RetryRefused
from handoff.deals.service.intake import ingest, process_pending, receive
from handoff.invoicing.domain.tax import VatRates
from handoff.kernel.storage import schema
from tests.builders import GOOD, event
from tests.conftest import Clock

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
OPS = "ops@acme.example"


def without_german_vat(ctx: AppContext) -> AppContext:
    """The same database with a configuration whose VAT rates lack Germany (a domestic German
    deal cannot be drafted): what a bad edit of vat_rates.yaml does."""
    rates = ctx.config.vat_rates
    broken = VatRates({cc: r for cc, r in rates.rates.items() if cc != "DE"}, rates.source, rates.as_of)
    return replace(ctx, config=replace(ctx.config, vat_rates=broken))


def order_state(ctx: AppContext, deal_id: str) -> str | None:
    with ctx.engine.connect() as conn:
        found = conn.execute(select(schema.orders.c.state).where(schema.orders.c.deal_id == deal_id)).scalar()
    return None if found is None else str(found)


def inbox_id(ctx: AppContext, event_id: str) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(schema.inbox.c.id).where(schema.inbox.c.event_id == event_id)).scalar_one())


def test_an_event_failing_on_a_bad_configuration_is_listed_and_applied_after_retry_once_fixed(
    ctx: AppContext, clock: Clock
) -> None:
    broken = without_german_vat(ctx)
    _, report = ingest(broken, [event("e1", T0), event("us", T0, deal_id="D-US", legal_entity="ACME-US")])
    assert (report.applied, report.failed) == (1, 1)
    failed_at = clock.now

    [listed] = inbox.list_failed(ctx).items
    assert listed["id"] == inbox_id(ctx, "e1")
    assert (listed["source"], listed["event_id"], listed["deal_id"]) == ("crm", "e1", "D-1")
    assert listed["received_at"] == failed_at and listed["failed_at"] == failed_at
    assert "no VAT rate for DE" in listed["error"]

    # retried before the cause is fixed: it fails again, with its error, and stays listed
    clock.advance(minutes=5)
    again = inbox.retry(broken, listed["id"], OPS, "first try")
    assert [(o.event_id, o.status) for o in again.outcomes] == [("e1", "failed")]
    assert "no VAT rate for DE" in (again.outcomes[0].error or "")
    assert [r["failed_at"] for r in inbox.list_failed(ctx).items] == [clock.now]
    assert order_state(ctx, "D-1") is None

    # the configuration is fixed: the retry goes through the usual path and the deal is drafted
    clock.advance(minutes=5)
    done = inbox.retry(ctx, listed["id"], OPS, "VAT rates for DE restored")
    assert [(o.event_id, o.deal_id, o.status, o.error) for o in done.outcomes] == [("e1", "D-1", "applied", None)]
    assert order_state(ctx, "D-1") == "drafted"
    assert inbox.list_failed(ctx).items == []
    retried = [e for e in audit.history(ctx, "order", "D-1") if e["action"] == "inbox.retried"]
    assert [(e["actor"], e["reason"], e["at"]) for e in retried] == [
        (OPS, "first try", (failed_at + timedelta(minutes=5)).isoformat()),
        (OPS, "VAT rates for DE restored", clock.now.isoformat()),
    ]

    # an applied event is not retried
    with pytest.raises(RetryRefused, match=rf"inbox event {listed['id']} \(crm/e1\) is applied, not failed"):
        inbox.retry(ctx, listed["id"], OPS)


def test_retry_all_brings_back_every_failed_event(ctx: AppContext) -> None:
    broken = without_german_vat(ctx)
    _, report = ingest(broken, [event(f"e{n}", T0, deal_id=f"D-{n}") for n in range(3)])
    assert report.failed == 3
    assert inbox.list_failed(ctx, limit=2).total == 3
    done = inbox.retry_all(ctx, OPS)  # no reason given: still audited, with a default reason
    assert sorted((o.deal_id, o.status) for o in done.outcomes) == [(f"D-{n}", "applied") for n in range(3)]
    assert inbox.list_failed(ctx).total == 0
    assert all(order_state(ctx, f"D-{n}") == "drafted" for n in range(3))
    for n in range(3):
        [entry] = [e for e in audit.history(ctx, "order", f"D-{n}") if e["action"] == "inbox.retried"]
        assert entry["actor"] == OPS and entry["reason"]
    assert inbox.retry_all(ctx, OPS).outcomes == []  # nothing failed: nothing to do


def test_a_failed_event_overtaken_by_a_newer_version_is_stale_on_retry(ctx: AppContext) -> None:
    ingest(without_german_vat(ctx), [event("old", T0)])
    ingest(ctx, [event("new", T0 + timedelta(hours=1), po_number="PO-2")])
    [listed] = inbox.list_failed(ctx).items
    done = inbox.retry(ctx, listed["id"], OPS)
    assert [(o.event_id, o.status) for o in done.outcomes] == [("old", "stale")]
    assert inbox.list_failed(ctx).items == []


def test_retrying_an_event_that_is_not_failed_is_refused(ctx: AppContext) -> None:
    receive(ctx, [event("waiting", T0)])
    waiting = inbox_id(ctx, "waiting")
    with pytest.raises(RetryRefused, match=rf"inbox event {waiting} \(crm/waiting\) is pending, not failed"):
        inbox.retry(ctx, waiting, OPS)
    with pytest.raises(RetryRefused, match="there is no inbox event 999"):
        inbox.retry(ctx, 999, OPS)
    with pytest.raises(RetryRefused, match=f"there is no inbox event {2**40}"):
        inbox.retry(ctx, 2**40, OPS)  # beyond the column's range: refused, not a database error
    assert audit.history(ctx, "order", "D-1") == []


def store_unreadable(ctx: AppContext, event_id: str, deal_id: str) -> int:
    """An inbox row whose stored payload cannot be read back (a line with a key no version of
    handoff writes: an old format, a hand edit)."""
    payload = {**GOOD, "deal_id": deal_id, "lines": [{"description": "x", "unit_prize": "12000.00"}]}
    with ctx.engine.begin() as conn:
        return int(
            conn.execute(
                insert(schema.inbox)
                .values(
                    source="crm",
                    event_id=event_id,
                    deal_id=deal_id,
                    occurred_at=T0,
                    received_at=T0,
                    payload=payload,
                    status="pending",
                )
                .returning(schema.inbox.c.id)
            ).scalar_one()
        )


def test_an_event_whose_payload_cannot_be_read_fails_alone_and_is_applied_after_retry_once_repaired(
    ctx: AppContext,
) -> None:
    bad = store_unreadable(ctx, "bad", "D-BAD")
    receive(ctx, [event("good", T0, deal_id="D-GOOD")])
    report = process_pending(ctx)  # the unreadable event does not hold up the others
    assert (report.applied, report.failed) == (1, 1)
    assert order_state(ctx, "D-GOOD") == "drafted"

    [listed] = inbox.list_failed(ctx).items
    assert (listed["id"], listed["event_id"], listed["deal_id"]) == (bad, "bad", "D-BAD")
    assert f"inbox event {bad} (crm/bad)" in listed["error"] and "unit_prize" in listed["error"]

    again = inbox.retry_all(ctx, OPS, "try again")
    assert [(o.id, o.status) for o in again.outcomes] == [(bad, "failed")]

    # the stored payload is repaired, then retried: applied like any event
    with ctx.engine.begin() as conn:
        payload = {**GOOD, "deal_id": "D-BAD", "lines": [{"description": "x", "unit_price": "12000.00"}]}
        conn.execute(update(schema.inbox).where(schema.inbox.c.id == bad).values(payload=payload))
    done = inbox.retry(ctx, bad, OPS, "payload repaired")
    assert [(o.id, o.status) for o in done.outcomes] == [(bad, "applied")]
    assert order_state(ctx, "D-BAD") == "drafted"
    assert inbox.list_failed(ctx).items == []
