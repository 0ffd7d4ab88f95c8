"""Invoice and payment status written back to the deal in HubSpot, Pipedrive and Salesforce,
through the outbox, to stand-ins answering as the vendors document (`crm_standins`).

Before, status went back only to HubSpot, only for deals carrying `hubspot_deal_id`, and overdue
or disputed invoices were never written. Now each change sales should see (invoice issued,
payment or credit applied, reminder sent, dispute set or cleared) queues the whole status for each
configured CRM, once per distinct state."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from handoff.approvals import service as approvals
from handoff.cash.formats.payment_file import read_payment_file
from handoff.cash.service.payments import apply_payments
from handoff.collections.service import run_dunning, set_dispute
from handoff.config import ConnectorsModel
from handoff.context import AppContext
from handoff.deals.connectors.hubspot import HubSpotWriteback
from handoff.deals.connectors.pipedrive import PipedriveWriteback
from handoff.deals.connectors.salesforce import SalesforceWriteback
from handoff.invoicing.service.issuing import issue_draft
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import StaticToken
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.storage import schema
from handoff.worker.outbox import dead_letters, deliver_due
from tests.builders import event, issued_invoices
from tests.conftest import Clock
from tests.contract.crm_standins import HubSpotCrm, PipedriveAccount, PipedriveField, SalesforceOrg, pipedrive_key
from tests.contract.standin import StandIn

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ISSUED_ON = date(2026, 11, 2)
NUMBER = "INV-DE-2026-000001"  # 12,000.00 net + 19 % VAT = 14,280.00, due 2026-12-02

HUBSPOT_PROPERTIES = {
    "handoff_invoice_number",
    "handoff_invoice_status",
    "handoff_payment_state",
    "handoff_open_amount",
    "handoff_paid_amount",
    "handoff_credited_amount",
    "handoff_invoice_due_date",
    "handoff_overdue_days",
    "handoff_disputed",
    "handoff_reminder_level",
    "handoff_status_as_of",
}


def with_writeback(ctx: AppContext, *targets: str) -> AppContext:
    model = ctx.config.model.model_copy(update={"connectors": ConnectorsModel(crm_writeback=list(targets))})  # type: ignore[arg-type]
    return dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, model=model))


class Sink:
    """Every other channel (e-mail, log): taken and dropped."""

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        pass


@pytest.fixture
def served() -> Iterator[list[Any]]:
    opened: list[Any] = []
    yield opened
    for thing in opened:
        thing.stop() if isinstance(thing, StandIn) else thing.close()


def sender(opened: list[Any], handler: Any, name: str) -> HttpSender:
    server = StandIn(handler).start()
    client = make_client(server.url, timeout=2.0)
    opened += [server, client]
    return HttpSender(client, name)


def status_rows(ctx: AppContext) -> list[Any]:
    o = schema.outbox
    with ctx.engine.connect() as conn:
        return list(
            conn.execute(select(o.c.key, o.c.channel, o.c.payload).where(o.c.topic == "crm_status").order_by(o.c.id))
        )


def pay(ctx: AppContext, tmp_path: Path, amount: str, on: str = "2026-11-20") -> None:
    path = tmp_path / f"pay-{amount}-{on}.csv"
    path.write_text(f"invoice_number,amount,date\n{NUMBER},{amount},{on}\n")
    apply_payments(ctx, read_payment_file(path), "bank", "import")


def hubspot_deal(crm: HubSpotCrm, deal_id: str) -> None:
    crm.put("deals", {"id": deal_id, "properties": {"dealname": "Licence"}})


def test_hubspot_deal_shows_every_change_once(ctx: AppContext, clock: Clock, tmp_path: Path, served: list[Any]) -> None:
    """HubSpot docs: update a deal's properties, `PATCH /crm/v3/objects/deals/{dealId}` with
    `{"properties": {...}}`, values as strings (developers.hubspot.com/docs/api/crm/deals); a
    property the account lacks is refused (the stand-in knows the ones the mapping names)."""
    ctx = with_writeback(ctx, "hubspot")
    crm = HubSpotCrm(deal_properties=set(HUBSPOT_PROPERTIES))
    hubspot_deal(crm, "15550001")
    channels: dict[str, Any] = {
        "hubspot": HubSpotWriteback(sender(served, crm, "hubspot"), StaticToken(Secret("pat-1"))),
        "email": Sink(),
        "log": Sink(),
    }
    issued_invoices(ctx, [event("e1", T0, source="hubspot", deal_id="15550001")], on=ISSUED_ON)
    assert deliver_due(ctx, channels).dead == 0
    [(deal_id, first)] = crm.patches
    assert deal_id == "15550001"
    assert {k: v for k, v in first.items() if k != "handoff_status_as_of"} == {
        "handoff_invoice_number": NUMBER,
        "handoff_invoice_status": "issued",
        "handoff_payment_state": "unpaid",
        "handoff_open_amount": "14280.00",
        "handoff_paid_amount": "0.00",
        "handoff_credited_amount": "0.00",
        "handoff_invoice_due_date": "2026-12-02",
        "handoff_overdue_days": "0",
        "handoff_disputed": "false",
        "handoff_reminder_level": "0",
    }

    clock.advance(days=18)  # 2026-11-20
    pay(ctx, tmp_path, "4000.00")
    pay(ctx, tmp_path, "4000.00")  # the same payment file again: nothing changed
    set_dispute(ctx, NUMBER, "finance@test", "wrong quantity")
    set_dispute(ctx, NUMBER, "finance@test", "still wrong")  # already disputed: the same state
    clock.advance(days=1)
    set_dispute(ctx, NUMBER, "finance@test", clear=True)
    clock.advance(days=20)  # 2026-12-11: nine days past due
    run_dunning(ctx)
    run_dunning(ctx)  # the job again the same day: the same state
    deliver_due(ctx, channels)
    states = [
        (p["handoff_payment_state"], p["handoff_open_amount"], p["handoff_disputed"], p["handoff_reminder_level"])
        for _, p in crm.patches[1:]
    ]
    assert states == [
        ("partial", "10280.00", "false", "0"),
        ("partial", "10280.00", "true", "0"),
        ("partial", "10280.00", "false", "0"),
        ("overdue", "10280.00", "false", "1"),
    ]
    assert crm.patches[-1][1]["handoff_overdue_days"] == "9"
    keys = [r.key for r in status_rows(ctx)]
    assert len(keys) == len(set(keys)) == 5
    assert not crm.violations, crm.violations


def test_a_credit_note_shows_on_the_deal_as_credited(ctx: AppContext, served: list[Any]) -> None:
    """Credit applied (an approved credit note settling the invoice it corrects) is a change too."""
    ctx = with_writeback(ctx, "hubspot")
    crm = HubSpotCrm(deal_properties=set(HUBSPOT_PROPERTIES))
    hubspot_deal(crm, "15550001")
    channels: dict[str, Any] = {
        "hubspot": HubSpotWriteback(sender(served, crm, "hubspot"), StaticToken(Secret("pat-1"))),
        "email": Sink(),
        "log": Sink(),
    }
    issued_invoices(ctx, [event("e1", T0, source="hubspot", deal_id="15550001")], on=ISSUED_ON)
    asked = approvals.request_credit_note(ctx, NUMBER, "order cancelled", "sales.lead@acme.example")
    draft = approvals.approve(ctx, asked["id"], "finance@acme.example")["result_invoice_id"]
    issue_draft(ctx, draft, "finance@acme.example", on=date(2026, 11, 20))
    assert deliver_due(ctx, channels).dead == 0
    assert [
        (p["handoff_payment_state"], p["handoff_open_amount"], p["handoff_credited_amount"]) for _, p in crm.patches
    ] == [("unpaid", "14280.00", "0.00"), ("credited", "0.00", "14280.00")]


def test_a_newer_status_in_the_crm_is_not_overwritten(ctx: AppContext, served: list[Any]) -> None:
    """A retried older notice that arrives after a newer one leaves the newer on the deal."""
    crm = HubSpotCrm(deal_properties=set(HUBSPOT_PROPERTIES))
    hubspot_deal(crm, "7")
    channel = HubSpotWriteback(sender(served, crm, "hubspot"), StaticToken(Secret("pat-1")))
    facts = {"invoice_number": NUMBER, "payment_state": "paid", "open_amount": "0.00", "disputed": False}
    channel.deliver("k2", {"deal_id": "7", "as_of": "2026-11-20T10:00:00+00:00", "facts": facts})
    channel.deliver(
        "k1", {"deal_id": "7", "as_of": "2026-11-19T10:00:00+00:00", "facts": {**facts, "payment_state": "unpaid"}}
    )
    channel.deliver("k2", {"deal_id": "7", "as_of": "2026-11-20T10:00:00+00:00", "facts": facts})  # redelivered: same
    assert [p["handoff_payment_state"] for _, p in crm.patches] == ["paid", "paid"]
    assert crm.objects["deals"]["7"]["properties"]["handoff_payment_state"] == "paid"


def test_status_goes_to_each_crm_that_knows_the_deal(ctx: AppContext) -> None:
    """A deal from Pipedrive goes to Pipedrive; one from a file carrying a HubSpot id to HubSpot;
    one nobody's CRM knows, nowhere."""
    ctx = with_writeback(ctx, "hubspot", "pipedrive", "salesforce")
    events = [
        event("p", T0, source="pipedrive", deal_id="42"),
        event("f", T0, source="file:deals.csv", deal_id="F-1", hubspot_deal_id="15550009"),
        event("n", T0, source="file:deals.csv", deal_id="F-2"),
        event("s", T0, source="salesforce", deal_id="006B"),
    ]
    issued_invoices(ctx, events, on=ISSUED_ON)
    assert sorted((r.channel, r.payload["deal_id"]) for r in status_rows(ctx)) == [
        ("hubspot", "15550009"),
        ("pipedrive", "42"),
        ("salesforce", "006B"),
    ]


def test_no_crm_configured_queues_nothing(ctx: AppContext) -> None:
    issued_invoices(ctx, [event("e1", T0, source="hubspot", deal_id="1")], on=ISSUED_ON)
    assert status_rows(ctx) == []


# --- Pipedrive ----------------------------------------------------------------------------------

STATES = ["unpaid", "partial", "paid", "credited", "overdue"]


def pipedrive_status_fields() -> list[PipedriveField]:
    return [
        PipedriveField(pipedrive_key("inv"), "Handoff invoice number"),
        PipedriveField(
            pipedrive_key("state"),
            "Handoff payment state",
            "enum",
            [{"id": 90 + i, "label": s} for i, s in enumerate(STATES)],
        ),
        PipedriveField(pipedrive_key("open"), "Handoff open amount", "monetary"),
        PipedriveField(pipedrive_key("due"), "Handoff due date", "date"),
        PipedriveField(pipedrive_key("days"), "Handoff overdue days", "double"),
        PipedriveField(pipedrive_key("disputed"), "Handoff disputed"),
        PipedriveField(pipedrive_key("level"), "Handoff reminder level", "double"),
        PipedriveField(pipedrive_key("as_of"), "Handoff status as of"),
    ]


def test_pipedrive_deal_fields_are_written_by_their_keys(
    ctx: AppContext, clock: Clock, tmp_path: Path, served: list[Any]
) -> None:
    """Pipedrive docs: `PUT /v1/deals/{id}` takes custom fields by their 40-character key
    (developers.pipedrive.com/docs/api/v1/Deals#updateDeal, pipedrive.readme.io/docs/
    core-api-concepts-custom-fields), an option field the option's id; the keys come from
    `GET /v1/dealFields` by the names the mapping gives."""
    ctx = with_writeback(ctx, "pipedrive")
    account = PipedriveAccount(fields={"dealFields": pipedrive_status_fields()})
    account.deals[42] = {"id": 42, "title": "Licence", "custom_fields": {}}
    channels: dict[str, Any] = {
        "pipedrive": PipedriveWriteback(sender(served, account, "pipedrive"), Secret("pd-token")),
        "email": Sink(),
        "log": Sink(),
    }
    issued_invoices(ctx, [event("e1", T0, source="pipedrive", deal_id="42")], on=ISSUED_ON)
    clock.advance(days=37)  # 2026-12-09: seven days past due, the first reminder
    run_dunning(ctx)
    assert deliver_due(ctx, channels).dead == 0, dead_letters(ctx)
    assert not account.violations, account.violations
    assert len(account.puts) == 2  # issued, then overdue with the first reminder
    shown = account.deals[42]["custom_fields"]
    assert shown[pipedrive_key("inv")] == NUMBER
    assert shown[pipedrive_key("state")] == 90 + STATES.index("overdue")
    assert shown[pipedrive_key("open")] == Decimal("14280.00")
    assert (shown[pipedrive_key("days")], shown[pipedrive_key("level")]) == (7, 1)
    assert (shown[pipedrive_key("disputed")], shown[pipedrive_key("due")]) == ("false", "2026-12-02")
    assert account.field_reads == ["dealFields"]  # one read for both deliveries


def test_a_pipedrive_field_that_does_not_exist_is_a_dead_letter_naming_it(ctx: AppContext, served: list[Any]) -> None:
    ctx = with_writeback(ctx, "pipedrive")
    account = PipedriveAccount(fields={"dealFields": pipedrive_status_fields()[:3]})
    account.deals[42] = {"id": 42, "title": "Licence", "custom_fields": {}}
    channels = {
        "pipedrive": PipedriveWriteback(sender(served, account, "pipedrive"), Secret("pd-token")),
        "email": Sink(),
        "log": Sink(),
    }
    issued_invoices(ctx, [event("e1", T0, source="pipedrive", deal_id="42")], on=ISSUED_ON)
    assert deliver_due(ctx, channels).dead == 1
    [dead] = [d for d in dead_letters(ctx) if d["topic"] == "crm_status"]
    assert "no deal field 'Handoff due date' for status.due_date" in dead["last_error"]
    assert account.puts == []  # nothing half-written
    assert account.field_reads == ["dealFields", "dealFields"]  # read again once before giving up


# --- Salesforce ---------------------------------------------------------------------------------

SF_FIELDS = {
    "Handoff_Invoice_Number__c": "text",
    "Handoff_Payment_State__c": "text",
    "Handoff_Open_Amount__c": "number",
    "Handoff_Due_Date__c": "date",
    "Handoff_Overdue_Days__c": "number",
    "Handoff_Disputed__c": "checkbox",
    "Handoff_Reminder_Level__c": "number",
    "Handoff_Status_As_Of__c": "datetime",
}


def test_salesforce_opportunity_fields_take_exact_numbers(
    ctx: AppContext, clock: Clock, tmp_path: Path, served: list[Any]
) -> None:
    """Salesforce docs: update a record's fields with `PATCH /services/data/vXX.X/sobjects/
    Opportunity/{id}`, answered 204 (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/
    api_rest/dome_update_fields.htm); a currency or number field takes a JSON number, a checkbox
    true or false."""
    ctx = with_writeback(ctx, "salesforce")
    org = SalesforceOrg(
        records=[{"attributes": {"type": "Opportunity"}, "Id": "006B", "Handoff_Status_As_Of__c": None}],
        opportunity_fields=dict(SF_FIELDS),
    )
    channels: dict[str, Any] = {
        "salesforce": SalesforceWriteback(sender(served, org, "salesforce"), StaticToken(Secret("sf"))),
        "email": Sink(),
        "log": Sink(),
    }
    issued_invoices(ctx, [event("e1", T0, source="salesforce", deal_id="006B")], on=ISSUED_ON)
    clock.advance(days=18)
    pay(ctx, tmp_path, "4000.05")
    set_dispute(ctx, NUMBER, "finance@test", "wrong quantity")
    assert deliver_due(ctx, channels).dead == 0
    assert not org.violations, org.violations
    assert len(org.patches) == 3
    last = org.patches[-1][1]
    assert last["Handoff_Open_Amount__c"] == Decimal("10279.95") and str(last["Handoff_Open_Amount__c"]) == "10279.95"
    assert (last["Handoff_Payment_State__c"], last["Handoff_Disputed__c"], last["Handoff_Overdue_Days__c"]) == (
        "partial",
        True,
        0,
    )
    assert last["Handoff_Status_As_Of__c"] == "2026-11-20T09:00:00.000+0000"
    gets = [s for s in org_seen(served) if s.method == "GET"]
    assert all(s.query["fields"] == ["Handoff_Status_As_Of__c"] for s in gets)


def org_seen(served: list[Any]) -> list[Any]:
    return [s for thing in served if isinstance(thing, StandIn) for s in thing.seen]


def test_a_notice_queued_before_facts_still_delivers(served: list[Any]) -> None:
    """A notice queued before this version (`{"properties": {...}}`) is written as it was."""
    crm = HubSpotCrm(deal_properties=set(HUBSPOT_PROPERTIES))
    hubspot_deal(crm, "8")
    channel = HubSpotWriteback(sender(served, crm, "hubspot"), StaticToken(Secret("pat-1")))
    channel.deliver(
        "old", {"deal_id": "8", "as_of": "2026-11-20T10:00:00+00:00", "properties": {"handoff_payment_state": "paid"}}
    )
    assert crm.patches == [
        ("8", {"handoff_payment_state": "paid", "handoff_status_as_of": "2026-11-20T10:00:00+00:00"})
    ]
