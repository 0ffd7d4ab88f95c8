"""The `handoff` command: thin wrappers that parse arguments, call one use case and print."""

from __future__ import annotations

import gc
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from handoff.config import ConfigError, Settings, load_business_config
from handoff.deals.domain.readiness import MISSING, Problem
from handoff.deals.domain.readiness import check as check_deal
from handoff.deals.formats import IntakeError, read_deal_file, read_deal_rows
from handoff.deals.formats.files import deal_input

app = typer.Typer(help="handoff: from closed-won to cash in the bank.", no_args_is_help=True, add_completion=False)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
invoice_app = typer.Typer(help="Invoices.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing notices: dead letters and replay.", no_args_is_help=True)
review_app = typer.Typer(help="Cash-application matches waiting for a person.", no_args_is_help=True)
dunning_app = typer.Typer(help="Payment reminders.", no_args_is_help=True)
users_app = typer.Typer(help="People who use the web app and API, their roles and API tokens.", no_args_is_help=True)
credit_note_app = typer.Typer(help="Credit notes: asked for by one person, approved by another.", no_args_is_help=True)
approvals_app = typer.Typer(help="Requests waiting for a second person (four-eyes).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(invoice_app, name="invoice")
app.add_typer(outbox_app, name="outbox")
app.add_typer(review_app, name="review")
app.add_typer(dunning_app, name="dunning")
app.add_typer(users_app, name="users")
app.add_typer(credit_note_app, name="credit-note")
app.add_typer(approvals_app, name="approvals")
out = Console()
err = Console(stderr=True)

DbOption = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: HANDOFF_DATABASE_URL).")]


_engines: list[Any] = []


@app.callback()
def _root(click_ctx: typer.Context) -> None:
    # Engines made for one command are closed with it (matters when commands run in-process).
    def close() -> None:
        for engine in _engines:
            engine.dispose()
        _engines.clear()

    click_ctx.call_on_close(close)


def _settings(db: str | None = None) -> Settings:
    settings = Settings.from_env()
    return replace(settings, database_url=db) if db else settings


def _context(db: str | None = None):  # type: ignore[no-untyped-def]
    from handoff.bootstrap import build_context

    try:
        ctx = build_context(_settings(db))
        _engines.append(ctx.engine)
        return ctx
    except ConfigError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@app.command()
def check(
    file: Path,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per deal per line.")] = False,
) -> None:
    """Judge the billing readiness of every deal in a CSV or JSON file (nothing is stored)."""
    settings = Settings.from_env()
    try:
        ruleset = load_business_config(settings.config_file, settings.rules_file).ruleset
        rows = read_deal_rows(file)
        results = []
        for row in rows:
            deal = deal_input(str(file), row)
            problems = check_deal(deal, ruleset)
            if not deal.deal_id:
                problems.insert(0, Problem(MISSING, "deal_id", "deal_id is missing"))
            results.append((deal.deal_id, problems))
    except (IntakeError, ConfigError) as exc:
        _fail(str(exc))
    if as_json:
        for deal_id, problems in results:
            sys.stdout.write(json.dumps({"deal_id": deal_id, "ready": not problems,
                                         "problems": [p.as_dict() for p in problems]}, ensure_ascii=False) + "\n")
        return
    table = Table("deal", "ready", "problems")
    for deal_id, problems in results:
        reasons = "\n".join(f"{p.field}: {p.message}" for p in problems)
        table.add_row(deal_id, "yes" if not problems else "[red]no[/]", reasons)
    out.print(table)
    ready = sum(1 for _, p in results if not p)
    out.print(f"{ready} of {len(results)} deals ready to bill")


@app.command("import")
def import_deals(
    file: Path,
    db: DbOption = None,
    source: Annotated[Optional[str], typer.Option(help="Source name (default file:NAME).")] = None,
) -> None:
    """Import deals from a CSV or JSON file: stored in the inbox all or nothing, then applied."""
    from handoff.deals.service.intake import ingest

    try:
        events = read_deal_file(file, source)
    except IntakeError as exc:
        _fail(str(exc))
    ctx = _context(db)
    received, processed = ingest(ctx, events, render_ahead=True)
    out.print(f"{file}: {len(events)} deals read, {received.received} new, {received.duplicates} already received; "
              f"{processed.applied} applied, {processed.stale} stale, {processed.failed} failed")
    _print_states(ctx)


@app.command("import-payments")
def import_payments(file: Path, db: DbOption = None) -> None:
    """Apply payments from a CSV (invoice_number, amount, date); all or nothing."""
    from handoff.cash.formats.payment_file import read_payment_file
    from handoff.cash.service.payments import apply_payments

    ctx = _context(db)
    try:
        report = apply_payments(ctx, read_payment_file(file), str(file), actor=f"import:{file.name}")
    except IntakeError as exc:
        _fail(str(exc))
    counts: dict[str, int] = {}
    for state in report.states.values():
        counts[state] = counts.get(state, 0) + 1
    out.print(f"{file}: {report.applied} payments applied, {report.duplicates} already known; invoices now "
              + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "unchanged"))


@app.command("import-statement")
def import_statement(file: Path, db: DbOption = None,
                     mapping: Annotated[Optional[Path], typer.Option(help="Column mapping (YAML) for a CSV.")] = None,
                     actor: str = "finance@cli") -> None:  # fmt: skip
    """Store a bank statement (camt.053/052/054, MT940, OFX, CSV): all or nothing; again is a no-op."""
    import yaml

    from handoff.cash.service.cash_application import StatementError
    from handoff.cash.service.cash_application import import_statement as store

    try:
        data = file.read_bytes()
        csv_mapping = yaml.safe_load(mapping.read_text(encoding="utf-8")) if mapping else None
    except (OSError, yaml.YAMLError) as exc:
        _fail(f"cannot read: {exc}")
    ctx = _context(db)
    try:
        report = store(ctx, data, file.name, actor, csv_mapping)
    except StatementError as exc:
        _fail(f"refused, nothing stored: {exc}")
    out.print(f"{file.name}: {report.statements} statement(s), {report.lines} lines, {report.new_lines} new "
              f"({report.credits} incoming payments to match), {report.lines - report.new_lines} already imported")


@app.command("match")
def match_payments(db: DbOption = None,
                   threshold: Annotated[Optional[float], typer.Option(help="Auto-apply confidence (0-1].")] = None,
                   actor: str = "automation:cash") -> None:  # fmt: skip
    """Cash application: match new bank lines to open invoices; apply the confident ones."""
    from handoff.cash.service.cash_application import apply_cash

    if threshold is not None and not 0 < threshold <= 1:
        _fail("--threshold must be in (0, 1]")
    report = apply_cash(_context(db), actor, threshold)
    out.print(f"{report.lines} bank lines: {report.applied} applied, {report.review} to review, "
              f"{report.unmatched} unmatched")
    for number, state in sorted(report.states.items())[:20]:
        out.print(f"  {number}: {state}")


@review_app.command("list")
def review_list(db: DbOption = None,
                status: Annotated[str, typer.Option(help="pending_review, applied, rejected, undone, unmatched")]
                = "pending_review") -> None:  # fmt: skip
    """Matches to review (or with another status), with evidence and the proposed invoices."""
    from handoff.cash.service.cash_application import matches

    table = Table("id", "amount", "payer", "remittance", "proposed", "confidence", "evidence")
    rows = matches(_context(db), status)
    for m in rows:
        proposed = ", ".join(f"{a['invoice']} {a['amount']:,.2f}" for a in m["allocations"])
        if m["alternatives"]:
            proposed += f" (or {', '.join(m['alternatives'])})"
        table.add_row(str(m["id"]), f"{m['amount']:,.2f} {m['currency']}", m["counterparty_name"],
                      " ".join(filter(None, (m["remittance"], m["structured_reference"]))), proposed,
                      f"{m['confidence']:.2f}", "; ".join(e["code"] for e in m["evidence"]))  # fmt: skip
    out.print(table)
    out.print(f"{len(rows)} {status.replace('_', ' ')}")


@review_app.command("confirm")
def review_confirm(match_id: int, db: DbOption = None, actor: str = "finance@cli") -> None:
    """Apply a proposed match."""
    from handoff.cash.service.cash_application import CashError, confirm_match

    try:
        states = confirm_match(_context(db), match_id, actor)
    except CashError as exc:
        _fail(str(exc))
    out.print(f"match {match_id} applied: " + ", ".join(f"{n} {s}" for n, s in sorted(states.items())))


@review_app.command("reject")
def review_reject(match_id: int, db: DbOption = None, actor: str = "finance@cli", reason: str = "") -> None:
    """Reject a proposed match; the line goes to the finance owner to allocate."""
    from handoff.cash.service.cash_application import CashError, reject_match

    try:
        reject_match(_context(db), match_id, actor, reason)
    except CashError as exc:
        _fail(str(exc))
    out.print(f"match {match_id} rejected")


@review_app.command("undo")
def review_undo(match_id: int, db: DbOption = None, actor: str = "finance@cli", reason: str = "") -> None:
    """Undo an applied match: its payments are reversed and the invoices open again."""
    from handoff.cash.service.cash_application import CashError, undo_match

    try:
        states = undo_match(_context(db), match_id, actor, reason)
    except CashError as exc:
        _fail(str(exc))
    out.print(f"match {match_id} undone: " + ", ".join(f"{n} {s}" for n, s in sorted(states.items())))


@dunning_app.command("run")
def dunning_run(db: DbOption = None, dry_run: Annotated[bool, typer.Option("--dry-run")] = False) -> None:
    """Queue today's payment reminders (the worker does this daily); --dry-run only lists them."""
    from handoff.collections.service import run_dunning

    run = run_dunning(_context(db), dry_run=dry_run)
    table = Table("invoice", "level", "tone", "days overdue", "open", "to", "cc")
    for lt in run.letters:
        r = lt.reminder
        table.add_row(r.invoice_number, str(r.level), r.tone.value, str(r.days_overdue),
                      f"{r.amount_open:,.2f} {r.currency}", ", ".join(lt.to), ", ".join(lt.cc))  # fmt: skip
    out.print(table)
    for number, why in run.skipped:
        err.print(f"{number}: not sent: {why}")
    verb = "would be sent" if dry_run else "queued"
    out.print(f"{run.on}: {len(run.letters)} reminders {verb}; {run.overdue} invoices overdue")


@app.command("dispute")
def dispute(invoice: str, db: DbOption = None, clear: bool = False, reason: str = "",
            actor: str = "finance@cli") -> None:  # fmt: skip
    """Mark an invoice disputed (no reminders while disputed), or --clear the dispute."""
    from handoff.collections.service import DunningError, set_dispute

    try:
        changed = set_dispute(_context(db), invoice, actor, reason, clear)
    except DunningError as exc:
        _fail(str(exc))
    state = "no longer disputed" if clear else "disputed"
    out.print(f"{invoice}: {state}" + ("" if changed else " (unchanged)"))


@app.command("pause-dunning")
def pause_dunning(customer: str, db: DbOption = None,
                  until: Annotated[Optional[str], typer.Option(help="Last paused day, YYYY-MM-DD.")] = None,
                  clear: Annotated[bool, typer.Option("--clear", help="Lift the pause.")] = False,
                  reason: str = "", actor: str = "finance@cli") -> None:  # fmt: skip
    """Pause a customer's payment reminders (until a date, or until --clear)."""
    from datetime import date

    from handoff.collections.service import DunningError
    from handoff.collections.service import pause_dunning as pause

    try:
        last = date.fromisoformat(until) if until else None
    except ValueError:
        _fail(f"--until {until!r} is not a date (YYYY-MM-DD)")
    try:
        pause(_context(db), customer, actor, last, reason, lift=clear)
    except DunningError as exc:
        _fail(str(exc))
    out.print(f"{customer}: reminders " + ("resumed" if clear else f"paused until {last or 'lifted'}"))


@app.command()
def worker(db: DbOption = None, once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False,
           interval: float = 2.0, worker_id: Annotated[Optional[str], typer.Option("--id")] = None) -> None:
    """Apply pending events, issue drafts (when automated), deliver notices, run scheduled jobs."""
    import logging
    import signal
    import threading

    from handoff.bootstrap import build_channels, build_salesforce
    from handoff.worker import loop

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    ctx = _context(db)
    settings = _settings(db)
    channels = build_channels(settings, ctx)
    jobs = list(loop.DEFAULT_JOBS)
    salesforce = build_salesforce(settings, ctx)
    if salesforce is not None:  # configured by HANDOFF_SALESFORCE_INSTANCE_URL
        jobs.append(loop.polling_job(salesforce, int(settings.env.get("HANDOFF_SALESFORCE_POLL_MINUTES", "5"))))
    name = worker_id or f"worker-{os.getpid()}"
    if once:
        out.print(f"{name}: {loop.one_pass(ctx, channels, name, jobs)}")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    loop.run(ctx, channels, name, interval, stop, jobs)


@app.command()
def digest(
    db: DbOption = None,
    html: bool = False,
    send_to: Annotated[Optional[list[str]], typer.Option("--send-to", help="Queue the e-mail to these.")] = None,
) -> None:
    """The weekly exception digest, as text (or HTML); optionally queued as an e-mail."""
    from handoff.reporting.service import digest as digests

    ctx = _context(db)
    d = digests.build(ctx)
    sys.stdout.write(digests.render_html(d) if html else digests.render_text(d))
    if send_to:
        digests.send(ctx, d, send_to)
        err.print(f"digest queued for {', '.join(send_to)}")


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Recompute the hash chain; report the first entry that was altered, inserted or deleted."""
    from handoff.audit.service import verify

    count, broken = verify(_context(db))
    if broken is not None:
        _fail(f"audit chain broken at entry {broken.seq}: {broken.reason}", code=1)
    out.print(f"audit chain intact: {count} entries verified")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Apply the schema migrations (Alembic) to the database."""
    from handoff.kernel.storage.db import make_engine, upgrade

    url = _settings(db).database_url
    engine = make_engine(url)
    _engines.append(engine)
    upgrade(engine)
    out.print(f"schema up to date: {url.split('@')[-1]}")


@invoice_app.command("list")
def invoice_list(db: DbOption = None, status: Optional[str] = None) -> None:
    """Invoices with their document status and payment state."""
    from handoff.invoicing.service.issuing import invoice_rows

    table = Table("number", "status", "payment", "customer", "amount", "paid", "due")
    for r in invoice_rows(_context(db), status):
        table.add_row(r["number"] or f"(draft {r['id']})", r["status"], r["payment_state"], r["customer_name"],
                      f"{r['gross_amount']:,.2f} {r['currency']}", f"{r['paid_amount']:,.2f}", str(r["due_date"] or ""))
    out.print(table)


@invoice_app.command("issue")
def invoice_issue(db: DbOption = None, draft_id: Annotated[Optional[int], typer.Option("--id")] = None,
                  all_drafts: Annotated[bool, typer.Option("--all")] = False,
                  actor: str = "finance@cli") -> None:
    """Issue one draft (--id) or every draft (--all): numbered, dated, sent."""
    from handoff.invoicing.service.issuing import InvoicingError, issue_all_drafts, issue_draft

    ctx = _context(db)
    try:
        if all_drafts:
            issued = issue_all_drafts(ctx, actor)
        elif draft_id is not None:
            issued = [issue_draft(ctx, draft_id, actor)]
        else:
            _fail("give --id DRAFT or --all")
    except InvoicingError as exc:
        _fail(str(exc))
    for inv in issued[:20]:
        out.print(f"{inv.number}: {inv.totals.payable:,.2f} {inv.currency} to {inv.buyer.legal_name}, "
                  f"due {inv.due_date}")
    out.print(f"{len(issued)} invoices issued")


@invoice_app.command("render")
def invoice_render(number: str, db: DbOption = None,
                   fmt: Annotated[str, typer.Option("--format", help="ubl, cii, pdf or facturx")] = "pdf",
                   output: Annotated[Optional[Path], typer.Option("--output", "-o")] = None) -> None:
    """Write an issued invoice as a document: UBL (Peppol BIS 3), CII, PDF or Factur-X."""
    from handoff.invoicing.documents import FORMATS, DocumentError, render
    from handoff.invoicing.service.issuing import InvoicingError, load_invoice

    if fmt.lower() not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)}")
    try:
        data = render(load_invoice(_context(db), number), fmt)
    except (InvoicingError, DocumentError) as exc:
        _fail(str(exc))
    suffix = {"ubl": "xml", "cii": "cii.xml", "pdf": "pdf", "facturx": "facturx.pdf"}[fmt.lower()]
    target = output or Path(f"{number}.{suffix}")
    target.write_bytes(data)
    out.print(f"{number}: {fmt} written to {target} ({len(data):,} bytes)")


def _parse_quantities(given: list[str]) -> dict[int, Any] | None:
    from decimal import Decimal, InvalidOperation

    quantities: dict[int, Any] = {}
    for item in given:
        line, sep, quantity = item.partition("=")
        try:
            if not sep:
                raise ValueError(item)
            quantities[int(line)] = Decimal(quantity)
        except (ValueError, InvalidOperation):
            _fail(f"--line takes LINE=QUANTITY (for example 1=2.5), not {item!r}")
    return quantities or None


@credit_note_app.command("request")
def credit_note_request(number: str,
                        reason: Annotated[str, typer.Option(help="Why the invoice is credited (on the document).")],
                        actor: Annotated[str, typer.Option(help="Your e-mail: someone else must approve.")],
                        line: Annotated[Optional[list[str]], typer.Option(
                            help="LINE=QUANTITY to credit part of the invoice (repeat); default: all of it")] = None,
                        db: DbOption = None) -> None:  # fmt: skip
    """Ask for a credit note on an issued invoice; it waits for another person's approval."""
    from handoff.approvals.service import ApprovalError, request_credit_note

    try:
        asked = request_credit_note(_context(db), number, reason, actor, _parse_quantities(line or []))
    except ApprovalError as exc:
        _fail(str(exc))
    out.print(f"approval {asked['id']} pending: credit note of {asked['payload']['gross']} "
              f"{asked['payload']['currency']} on {number}")  # fmt: skip


@credit_note_app.command("void")
def credit_note_void(invoice_id: Annotated[int, typer.Argument(help="The credit-note draft's id.")],
                     reason: Annotated[str, typer.Option(help="Why it must not be issued: the requester reads it.")],
                     actor: Annotated[str, typer.Option(help="Your e-mail.")],
                     db: DbOption = None) -> None:  # fmt: skip
    """Void a credit-note draft before it is issued; its quantities can be credited again."""
    from handoff.approvals.service import ApprovalError, void_credit_note

    try:
        approval = void_credit_note(_context(db), invoice_id, actor, reason)
    except ApprovalError as exc:
        _fail(str(exc))
    out.print(f"credit-note draft {invoice_id} voided (approval {approval['id']} on {approval['subject']})")


@approvals_app.command("list")
def approvals_list(db: DbOption = None,
                   status: Annotated[str, typer.Option(help="pending, approved, rejected or all")] = "pending",
                   ) -> None:  # fmt: skip
    """Approvals, newest first (pending by default)."""
    from handoff.approvals.service import list_approvals

    rows = list_approvals(_context(db), None if status == "all" else status, limit=500).items
    table = Table("id", "kind", "subject", "amount", "reason", "status", "requested by", "decided by", "result")
    for r in rows:
        p = r["payload"]
        table.add_row(str(r["id"]), r["kind"], r["subject"], f"{p.get('gross', '')} {p.get('currency', '')}",
                      str(p.get("reason", "")), r["status"], r["requested_by"], r["decided_by"] or "",
                      f"draft {r['result_invoice_id']}" if r["result_invoice_id"] else "")  # fmt: skip
    out.print(table)
    out.print(f"{len(rows)} {status}")


@approvals_app.command("approve")
def approvals_approve(approval_id: int,
                      actor: Annotated[str, typer.Option(help="Your e-mail: not the requester's.")],
                      note: str = "", db: DbOption = None) -> None:  # fmt: skip
    """Approve a pending request: the credit-note draft is made, ready to be issued."""
    from handoff.approvals.service import ApprovalError, approve

    try:
        done = approve(_context(db), approval_id, actor, note)
    except ApprovalError as exc:
        _fail(str(exc))
    out.print(f"approval {approval_id} approved: credit-note draft {done['result_invoice_id']} "
              f"(handoff invoice issue --id {done['result_invoice_id']})")  # fmt: skip


@approvals_app.command("reject")
def approvals_reject(approval_id: int, actor: Annotated[str, typer.Option(help="Your e-mail.")],
                     note: Annotated[str, typer.Option(help="Why: the requester reads it.")],
                     db: DbOption = None) -> None:  # fmt: skip
    """Reject a pending request, saying why."""
    from handoff.approvals.service import ApprovalError, reject

    try:
        reject(_context(db), approval_id, actor, note)
    except ApprovalError as exc:
        _fail(str(exc))
    out.print(f"approval {approval_id} rejected")


@outbox_app.command("dead")
def outbox_dead(db: DbOption = None) -> None:
    """Notices that could not be delivered, with their reason."""
    from handoff.worker.outbox import dead_letters

    table = Table("id", "key", "channel", "attempts", "last error")
    for r in dead_letters(_context(db)):
        table.add_row(str(r["id"]), r["key"], r["channel"], str(r["attempts"]), r["last_error"] or "")
    out.print(table)


@outbox_app.command("replay")
def outbox_replay(outbox_id: int, db: DbOption = None, actor: str = "operator@cli") -> None:
    """Send a dead letter again."""
    from handoff.worker.outbox import replay

    if not replay(_context(db), outbox_id, actor):
        _fail(f"outbox row {outbox_id} is not a dead letter")
    out.print(f"outbox row {outbox_id} queued again")


@users_app.command("add")
def users_add(
    email: str,
    role: Annotated[str, typer.Option(help="sales, finance, auditor or admin")] = "sales",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    db: DbOption = None,
) -> None:
    """Add a user (the first admin, for instance). The password is asked for, or read from stdin."""
    from handoff.users.service import UserError, add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = add_user(_context(db), email, role, password, actor="cli")
    except UserError as exc:
        _fail(exc.message)
    out.print(f"{user.email} added as {user.role.value}")


@users_app.command("list")
def users_list(db: DbOption = None) -> None:
    """Users with their role and status."""
    from handoff.users.service import list_users

    table = Table("id", "email", "role", "active")
    for r in list_users(_context(db)):
        table.add_row(str(r["id"]), r["email"], r["role"], "yes" if r["active"] else "no")
    out.print(table)


@users_app.command("token")
def users_token(email: str, name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
                db: DbOption = None) -> None:  # fmt: skip
    """Create an API token for a user; it is printed once and stored only as a hash."""
    from handoff.users.service import Role, User, UserError, create_token, list_users

    ctx = _context(db)
    found = [r for r in list_users(ctx) if r["email"] == email.strip().lower() and r["active"]]
    if not found:
        _fail(f"no active user {email}")
    user = User(found[0]["id"], found[0]["email"], Role(found[0]["role"]))
    try:
        secret, _ = create_token(ctx, user, name, actor="cli")
    except UserError as exc:
        _fail(exc.message)
    sys.stdout.write(secret + "\n")


@app.command()
def serve(db: DbOption = None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the web app: the UI, the JSON API (/api/v1, OpenAPI at /api/v1/openapi.json) and webhook intake."""
    from functools import partial

    import uvicorn

    from handoff.bootstrap import build_context, build_crm_sources, build_slack_signing_secret
    from handoff.web.app import create_app

    settings = _settings(db)
    # the applier process (SQLite) builds its own context: from the same settings, already migrated
    api = create_app(_context(db), make_context=partial(build_context, settings, migrate=False))
    api.state.crm_sources = build_crm_sources(settings)
    api.state.public_url = settings.env.get("HANDOFF_PUBLIC_URL", "")
    api.state.slack_signing_secret = build_slack_signing_secret(settings)
    # What exists now (modules, the app, the schema) lives as long as the process: kept out of the
    # cycle collector's full runs, which would otherwise walk it all and stall requests.
    gc.freeze()
    uvicorn.run(api, host=host, port=port, log_level="info")


@app.command()
def demo(db: Annotated[Path, typer.Option(help="SQLite file to create (replaced).")] = Path("handoff-demo.db")) -> None:
    """The whole flow on bundled sample data, into a fresh SQLite file."""
    from handoff.demo.run import run_demo

    run_demo(db, out)


def _print_states(ctx) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from handoff.kernel.storage import schema

    with ctx.engine.connect() as conn:
        rows = conn.execute(select(schema.orders.c.state, func.count()).group_by(schema.orders.c.state)).all()
    out.print("orders: " + ", ".join(f"{n} {s}" for s, n in sorted(rows)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
