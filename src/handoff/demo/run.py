"""`handoff demo`: the whole flow on the bundled deals, into a fresh SQLite file, told as it goes."""

from __future__ import annotations

import csv
import os
import secrets
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from handoff.approvals.service import ApprovalError, approve, request_credit_note
from handoff.audit.service import verify
from handoff.bootstrap import build_context
from handoff.cash.formats.payment_file import read_payment_file
from handoff.cash.service.payments import apply_payments
from handoff.collections.service import run_dunning
from handoff.config import Settings
from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.formats import read_deal_file
from handoff.deals.service.intake import ingest
from handoff.deals.service.orders import exception_queue, update_fields
from handoff.demo.contracts import run_contract_demo
from handoff.demo.forecast import run_forecast_demo
from handoff.demo.history import run_history_demo
from handoff.demo.projects import run_project_demo
from handoff.demo.usage import run_usage_demo
from handoff.invoicing.domain.invoices import Invoice
from handoff.invoicing.service.issuing import issue_all_drafts
from handoff.kernel.audit_keys import load_audit_keys, sidecar
from handoff.kernel.money import CENT
from handoff.notifications.channels.log import LogChannel
from handoff.reporting.service import digest
from handoff.users.service import add_user
from handoff.worker.outbox import deliver_due

DEALS = Path(__file__).parent / "deals.csv"
# German public-sector buyers (XRechnung, with Leitweg-IDs), and the Peppol IDs of the customer
# master that the CRM export lacks (customer_id -> peppol_id; a business without one is not on Peppol)
PUBLIC_DEALS = Path(__file__).parent / "public_sector_deals.csv"
PEPPOL_IDS = Path(__file__).parent / "peppol_ids.csv"
# Demo logins (documented in the README). The sales user owns deals in the bundled data.
DEMO_USERS = (
    ("admin@acme.example", "admin", "demo-admin-keeps-keys"),
    ("finance@acme.example", "finance", "demo-finance-books-cash"),
    ("ben.carter@acme.example", "sales", "demo-sales-closes-deals"),
    ("auditor@acme.example", "auditor", "demo-auditor-reads-all"),
)


def run_demo(db: Path, out: Console) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    notices = db.with_suffix(".notices.log")
    notices.unlink(missing_ok=True)
    settings = replace(Settings.from_env(), database_url=f"sqlite:///{db}")
    key_file = _audit_key_file(settings)
    ctx = build_context(settings)
    # users first: a deal's exceptions go to its owner when the owner is a user, else to finance.
    # The rest of the sales team that owns the bundled deals are sales users too, without a login
    # anyone knows (a random password): their exceptions are theirs, as in a real installation.
    for email, role, password in DEMO_USERS:
        add_user(ctx, email, role, password, actor="demo")
    events = demo_events()
    logins = {email for email, _, _ in DEMO_USERS}
    for owner in sorted({e.deal.get("owner_email").lower() for e in events} - logins - {""}):
        add_user(ctx, owner, "sales", secrets.token_urlsafe(24), actor="demo")
    # a year of business before today: 22 of the bundled customers invoiced and paying their own way,
    # so the cash forecast learns days late and its backtest (section 13) has a past to measure
    out.rule("History: the past year's invoices and payments")
    run_history_demo(ctx, events, db.with_suffix(".history-payments.csv"), out)
    out.rule("1. Intake")
    received, processed = ingest(ctx, events)
    out.print(
        f"{len(events)} closed-won deals read from {DEALS.name} and {PUBLIC_DEALS.name}: "
        f"{received.received} stored in the inbox, "
        f"{processed.applied} applied"
    )
    again, _ = ingest(ctx, demo_events())
    out.print(f"the same export delivered again: {again.duplicates} duplicates recognised, {again.received} new")
    _states(ctx, out)

    out.rule("2. Readiness: the exception queue")
    queue = exception_queue(ctx)
    reasons = Counter(p["field"] for item in queue for p in item["problems"])
    out.print(f"{len(queue)} deals blocked; reasons: " + ", ".join(f"{f} {n}" for f, n in reasons.most_common()))
    table = Table("deal", "owner", "customer", "problems")
    for item in queue[:8]:
        table.add_row(
            item["deal_id"], item["owner"], item["customer_name"], "; ".join(p["message"] for p in item["problems"])
        )
    out.print(table)
    fixed = 0
    for item in queue:
        if [p["field"] for p in item["problems"]] == ["po_number"]:
            update_fields(ctx, item["deal_id"], {"po_number": f"PO-FIX-{item['deal_id'][2:]}"}, item["owner"])
            fixed += 1
    out.print(f"sales supplied the missing PO number on {fixed} deals: re-checked at once and moved on by themselves")
    _states(ctx, out)

    out.rule("3. Invoices")
    issued = issue_all_drafts(ctx, actor="finance@acme.example")
    by_rule = Counter(ln.tax.rule for inv in issued for ln in inv.lines)
    totals: dict[str, Decimal] = {}
    for inv in issued:
        totals[inv.currency] = totals.get(inv.currency, Decimal(0)) + inv.totals.payable
    out.print(f"{len(issued)} invoices issued, numbered gaplessly per entity: {issued[0].number} … {issued[-1].number}")
    out.print("VAT treatment: " + ", ".join(f"{r} {n}" for r, n in by_rule.most_common()))
    out.print("invoiced: " + ", ".join(f"{v:,.2f} {c}" for c, v in sorted(totals.items())))

    out.rule("4. Payments")
    payments = db.with_suffix(".payments.csv")
    with payments.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["invoice_number", "amount", "date"])
        for n, inv in enumerate(issued):
            if n % 10 < 6:
                writer.writerow([inv.number, inv.totals.payable, inv.issue_date])
            elif n % 10 == 6:
                writer.writerow([inv.number, (inv.totals.payable / 2).quantize(CENT), inv.issue_date])
    report = apply_payments(ctx, read_payment_file(payments), str(payments), actor="import:bank")
    states = Counter(report.states.values())
    out.print(
        f"{report.applied} payments applied from {payments.name}: "
        + ", ".join(f"{n} invoices {s}" for s, n in sorted(states.items()))
    )
    _states(ctx, out)
    _dunning_preview(ctx, issued, out)

    out.rule("5. Credit notes: four eyes")
    unpaid = next(inv for n, inv in enumerate(issued) if n % 10 == 7)
    asked = request_credit_note(ctx, unpaid.number or "", "customer returned the order", "finance@acme.example")
    out.print(
        f"finance asked for a credit note of {asked['payload']['gross']} {asked['payload']['currency']} on "
        f"{unpaid.number} (approval {asked['id']})"
    )
    try:
        approve(ctx, asked["id"], "finance@acme.example")
    except ApprovalError as exc:
        out.print(f"approving it themselves is refused: {exc}")
    out.print(
        f"it waits for a second person: log in as admin and open Approvals in the web app, or run "
        f"`handoff approvals approve {asked['id']} --actor admin@acme.example`"
    )

    out.rule("6. Notices (outbox)")
    channel = LogChannel(notices)
    delivered = deliver_due(ctx, {"email": channel, "log": channel}, "demo", batch=10_000)
    out.print(
        f"{delivered.delivered} notices delivered (e-mails written to {notices.name}; set HANDOFF_SMTP_HOST "
        f"and run `handoff worker` to send real mail)"
    )

    out.rule("7. Weekly digest")
    out.print(digest.render_text(digest.build(ctx)), highlight=False, markup=False)

    out.rule("8. Audit trail")
    count, broken = verify(ctx)
    out.print(f"audit chain of {count} entries: " + ("intact" if broken is None else f"BROKEN at {broken.seq}"))
    if key_file is not None:
        out.print(
            f"keyed with a key generated for this demo, in {key_file} (found there by every command on {db.name}; "
            "in production set HANDOFF_AUDIT_KEY instead)"
        )
    out.rule("9. Web app")
    out.print("demo users (e-mail / password): " + "; ".join(f"{r}: {e} / {p}" for e, r, p in DEMO_USERS))
    out.print(
        f"database: {db}  (try: handoff serve --db sqlite:///{db} --insecure-open-intake, "
        "then open http://127.0.0.1:8000)"
    )

    out.rule("10. Contracts: schedule and billing run")
    run_contract_demo(ctx, out)

    out.rule("11. Projects: delivery billed from Harvest time and expenses")
    run_project_demo(ctx, out)

    out.rule("12. Usage: metered events rated into the contract's invoice")
    run_usage_demo(ctx, out)

    out.rule("13. Cash forecast (13 weeks) and its backtest")
    run_forecast_demo(ctx, out)


def demo_events() -> list[DealEvent]:
    """The bundled deals with their customers' Peppol IDs, and the public-sector deals."""
    with PEPPOL_IDS.open(encoding="utf-8", newline="") as f:
        peppol = {r["customer_id"]: r["peppol_id"] for r in csv.DictReader(f)}
    events = [
        replace(e, deal=replace(e.deal, fields={**e.deal.fields, "peppol_id": peppol[cid]}))
        if (cid := e.deal.fields.get("customer_id", "")) in peppol
        else e
        for e in read_deal_file(DEALS, source="crm-export")
    ]
    return events + read_deal_file(PUBLIC_DEALS, source="crm-export")


def _audit_key_file(settings: Settings) -> Path | None:
    """A fresh audit key beside the demo database (readable by its owner only), unless one is
    configured: the demo's chain is keyed, and `handoff serve` on the file finds the key."""
    if load_audit_keys(settings.env).current is not None:
        return None
    path = sidecar(settings.database_url)
    assert path is not None
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return path


def _dunning_preview(ctx: AppContext, issued: list[Invoice], out: Console) -> None:
    """What a first dunning run long after the due dates would send (a dry run: nothing is sent or stored)."""
    on = max(inv.due_date for inv in issued if inv.due_date) + timedelta(days=90)
    preview = run_dunning(ctx, today=on, dry_run=True)
    levels = Counter((lt.reminder.level, lt.reminder.tone.value) for lt in preview.letters)
    out.print(
        f"dunning preview for {on} (90 days after the last due date; nothing sent): {len(preview.letters)} reminders, "
        + (", ".join(f"level {lv} ({tone}) {n}" for (lv, tone), n in sorted(levels.items())) or "none")
        + f"; levels go out one at a time, at least {ctx.config.dunning.min_days_between} days apart"
        + (f"; {len(preview.skipped)} skipped" if preview.skipped else "")
    )


def _states(ctx, out: Console) -> None:  # type: ignore[no-untyped-def]
    from handoff.deals.service.queries import orders_by_state

    out.print("orders by state: " + ", ".join(f"{s} {n}" for s, n in sorted(orders_by_state(ctx).items())))
