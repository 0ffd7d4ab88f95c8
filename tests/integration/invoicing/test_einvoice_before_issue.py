"""Issuing validates the e-invoice first, with the rule sets shipped with handoff: a fatal finding
keeps the invoice a draft (no number used) and puts its deal in finance's exception queue with
the rule in plain words and the field to fix; once fixed, issuing again succeeds, resolves the
exception and stores the validation report with the invoice as evidence."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from handoff.cli import app
from handoff.config import ContactModel
from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.deals.service.orders import exception_queue, update_fields
from handoff.demo.run import demo_events
from handoff.invoicing.service.issuing import EInvoiceInvalid, invoice_rows, issue_all_drafts, issue_draft
from handoff.kernel.storage import schema
from tests.builders import AUSTIN, event, owner_user
from tests.conftest import Clock

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PEPPOL_DE = {"peppol_id": "9930:DE136695976", "invoice_format": "ubl"}


def _without_seller_phone(ctx: AppContext) -> AppContext:
    model = ctx.config.model
    entity = model.legal_entities["ACME-DE"].model_copy(update={"contact": ContactModel()})
    changed = model.model_copy(update={"legal_entities": {**model.legal_entities, "ACME-DE": entity}})
    return replace(ctx, config=replace(ctx.config, model=changed))


def _draft_id(ctx: AppContext) -> int:
    drafts = invoice_rows(ctx, "draft")
    assert len(drafts) == 1
    return int(drafts[0]["id"])


def _report(ctx: AppContext, number: str) -> dict:  # type: ignore[type-arg]
    inv = schema.invoices
    with ctx.engine.connect() as conn:
        return conn.execute(select(inv.c.einvoice_validation).where(inv.c.number == number)).scalar_one()  # type: ignore[no-any-return]


def test_a_failing_einvoice_stays_a_draft_in_finances_queue_then_issues_once_fixed(
    ctx: AppContext, clock: Clock
) -> None:
    clock.now = AT
    ingest(ctx, [event("e-1", AT, **PEPPOL_DE)])
    broken = _without_seller_phone(ctx)
    draft_id = _draft_id(ctx)
    with pytest.raises(EInvoiceInvalid) as raised:
        issue_draft(broken, draft_id, "finance@acme.example")
    assert [rule for rule, _, _ in raised.value.findings] == ["DE-R-006"]
    assert invoice_rows(ctx, "issued") == []  # still a draft, no number taken
    (queued,) = exception_queue(ctx)
    assert queued["deal_id"] == "D-1"
    assert queued["owner"] == ctx.config.model.notifications.finance_email
    assert queued["problems"] == [
        {
            "code": "einvoice_invalid",
            "field": "entities.ACME-DE.phone",
            "message": "DE-R-006: the seller's contact telephone (BT-42) is missing: "
            "Peppol requires it on German domestic invoices",
        }
    ]

    issued = issue_draft(ctx, draft_id, "finance@acme.example")  # configuration fixed: the default has a contact
    assert issued.number == "INV-DE-2026-000001"  # the number the failed attempt did not use
    assert exception_queue(ctx) == []
    report = _report(ctx, issued.number)
    assert report["passed"] is True and report["syntax"] == "ubl"
    assert report["rule_sets"] == {"xsd-ubl": "UBL 2.1", "en16931": "1.3.16", "peppol": "2026.5"}


def test_issue_all_drafts_reports_the_failing_one_and_issues_the_others(ctx: AppContext, clock: Clock) -> None:
    clock.now = AT
    ingest(ctx, [event("e-1", AT, **PEPPOL_DE), event("e-2", AT, deal_id="D-2", customer_id="C-2")])
    failures: list[tuple[int, str]] = []
    issued = issue_all_drafts(_without_seller_phone(ctx), "finance@acme.example", failures=failures)
    assert [inv.order_refs for inv in issued] == [("D-2",)]  # not on Peppol: EN 16931 only, no DE-R-006
    assert len(failures) == 1 and "DE-R-006" in failures[0][1]
    assert [q["deal_id"] for q in exception_queue(ctx)] == ["D-1"]
    assert _report(ctx, issued[0].number or "")["rule_sets"] == {"xsd-ubl": "UBL 2.1", "en16931": "1.3.16"}


def test_german_public_buyers_are_checked_against_xrechnung_in_their_format(ctx: AppContext, clock: Clock) -> None:
    clock.now = AT
    public = {"public_sector": "yes", "leitweg_id": "05315-00001-63", "po_number": "", "requires_po": "false"}
    ingest(ctx, [event("e-1", AT, invoice_format="cii", **public)])
    (issued,) = issue_all_drafts(ctx, "finance@acme.example")
    report = _report(ctx, issued.number or "")
    assert report["passed"] is True, report["findings"]
    assert report["rule_sets"] == {"xsd-cii": "CII D16B", "en16931": "1.3.16", "xrechnung": "3.0.2"}


def test_a_german_public_buyer_needs_a_valid_leitweg_id(ctx: AppContext, clock: Clock) -> None:
    clock.now = AT
    owner_user(ctx)
    ingest(ctx, [event("e-1", AT, public_sector="yes", leitweg_id="05315-00001-64")])
    (queued,) = exception_queue(ctx)
    assert [(p["field"], p["code"]) for p in queued["problems"]] == [("leitweg_id", "invalid")]


def test_us_sales_tax_invoices_have_no_einvoice_to_check(ctx: AppContext, clock: Clock) -> None:
    clock.now = AT
    us = {"country": "US", "vat_id": "", "currency": "USD", "legal_entity": "ACME-US", **AUSTIN}
    ingest(ctx, [event("e-1", AT, **us)])
    (issued,) = issue_all_drafts(ctx, "finance@acme.example")
    assert _report(ctx, issued.number or "") is None


def test_every_demo_invoice_passes_the_rule_sets_in_force(ctx: AppContext, clock: Clock) -> None:
    """The bundled demo: its businesses with a Peppol ID pass Peppol 2026.5, its German public
    buyers XRechnung 3.0.2, everyone EN 16931; none is held."""
    clock.now = AT
    for email in {e.deal.fields["owner_email"] for e in demo_events()} - {""}:
        owner_user(ctx, email)
    ingest(ctx, demo_events())
    failures: list[tuple[int, str]] = []
    issued = issue_all_drafts(ctx, "finance@acme.example", failures=failures)
    assert failures == []
    reports = {inv.number: (inv, _report(ctx, inv.number or "")) for inv in issued}
    checked = {n: r for n, (_, r) in reports.items() if r is not None}
    assert all(r["passed"] for r in checked.values())
    peppol = [n for n, (inv, _) in reports.items() if inv.buyer.peppol_id]
    assert len(peppol) > 40 and all(checked[n]["rule_sets"].get("peppol") == "2026.5" for n in peppol)
    public = [n for n, (inv, _) in reports.items() if inv.buyer.public_sector]
    assert len(public) == 3 and all(checked[n]["rule_sets"].get("xrechnung") == "3.0.2" for n in public)


def test_fixing_the_customer_master_lets_the_held_draft_issue(ctx: AppContext, clock: Clock) -> None:
    """Finance fixes the field the exception names on the deal (here: the customer is not on
    Peppol after all): the deal is re-checked, the exception resolved, and the invoice issues."""
    clock.now = AT
    owner_user(ctx)
    ingest(ctx, [event("e-1", AT, **PEPPOL_DE)])
    broken = _without_seller_phone(ctx)
    with pytest.raises(EInvoiceInvalid):
        issue_draft(broken, _draft_id(ctx), "finance@acme.example")
    update_fields(ctx, "D-1", {"peppol_id": ""}, "finance@acme.example")
    assert exception_queue(ctx) == []
    (issued,) = issue_all_drafts(broken, "finance@acme.example")
    assert issued.buyer.peppol_id == "" and _report(ctx, issued.number or "")["passed"] is True


def test_rules_report_prints_the_evidence_of_an_issued_invoice(ctx: AppContext, clock: Clock, db_url: str) -> None:
    clock.now = AT
    ingest(ctx, [event("e-1", AT, **PEPPOL_DE)])
    (issued,) = issue_all_drafts(ctx, "finance@acme.example")
    url = db_url
    shown = CliRunner().invoke(app, ["rules", "report", issued.number or "", "--db", url])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["rule_sets"]["peppol"] == "2026.5"
    missing = CliRunner().invoke(app, ["rules", "report", "INV-NONE", "--db", url])
    assert missing.exit_code == 1 and "no validation report" in missing.output


def test_retrying_a_held_draft_adds_no_audit_entry_or_notice_while_nothing_changed(
    ctx: AppContext, clock: Clock
) -> None:
    """Workers issuing automated drafts retry the held one on every pass: it stays held quietly."""
    clock.now = AT
    ingest(ctx, [event("e-1", AT, **PEPPOL_DE)])
    broken = _without_seller_phone(ctx)

    def counts() -> tuple[int, int]:
        with ctx.engine.connect() as conn:
            audits = conn.execute(select(func.count()).select_from(schema.audit_log)).scalar_one()
            notices = conn.execute(select(func.count()).select_from(schema.outbox)).scalar_one()
        return audits, notices

    issue_all_drafts(broken, "worker")
    first = counts()
    issue_all_drafts(broken, "worker")
    issue_all_drafts(broken, "worker")
    assert counts() == first
    assert len(exception_queue(ctx)) == 1
