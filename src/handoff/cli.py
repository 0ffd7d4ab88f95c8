"""The `handoff` command: thin wrappers that parse arguments, call one use case and print."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from handoff.config import ConfigError, Settings, load_business_config
from handoff.connectors.intake import IntakeError, read_deal_file, read_deal_rows
from handoff.connectors.intake.files import deal_input
from handoff.domain.readiness import MISSING, Problem
from handoff.domain.readiness import check as check_deal

app = typer.Typer(help="handoff: from closed-won to cash in the bank.", no_args_is_help=True, add_completion=False)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
invoice_app = typer.Typer(help="Invoices.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing notices: dead letters and replay.", no_args_is_help=True)
users_app = typer.Typer(help="People who use the web app and API, their roles and API tokens.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(invoice_app, name="invoice")
app.add_typer(outbox_app, name="outbox")
app.add_typer(users_app, name="users")
out = Console()
err = Console(stderr=True)

DbOption = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: HANDOFF_DATABASE_URL).")]


_engines: list[Any] = []


@app.callback()
def _root(click_ctx: typer.Context) -> None:
    # Engines made for one command are closed with it (matters when commands run in-process).
    click_ctx.call_on_close(lambda: [e.dispose() for e in _engines] and _engines.clear())


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
    from handoff.app.intake import ingest

    try:
        events = read_deal_file(file, source)
    except IntakeError as exc:
        _fail(str(exc))
    ctx = _context(db)
    received, processed = ingest(ctx, events)
    out.print(f"{file}: {len(events)} deals read, {received.received} new, {received.duplicates} already received; "
              f"{processed.applied} applied, {processed.stale} stale, {processed.failed} failed")
    _print_states(ctx)


@app.command("import-payments")
def import_payments(file: Path, db: DbOption = None) -> None:
    """Apply payments from a CSV (invoice_number, amount, date); all or nothing."""
    from handoff.app.payments import apply_payments
    from handoff.connectors.intake.payments import read_payment_file

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


@app.command()
def worker(db: DbOption = None, once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False,
           interval: float = 2.0, worker_id: Annotated[Optional[str], typer.Option("--id")] = None) -> None:
    """Apply pending inbox events and deliver the outbox, with retries and dead letters."""
    from handoff.app.intake import process_pending
    from handoff.bootstrap import build_channels
    from handoff.worker.outbox import deliver_due

    ctx = _context(db)
    channels = build_channels(_settings(db))
    name = worker_id or f"worker-{os.getpid()}"
    while True:
        processed = process_pending(ctx)
        delivered = deliver_due(ctx, channels, name)
        if processed.applied or processed.stale or delivered.delivered or delivered.retried or delivered.dead:
            out.print(f"{name}: events {processed.applied} applied, {processed.stale} stale, {processed.failed} failed;"
                      f" notices {delivered.delivered} delivered, {delivered.retried} retried, {delivered.dead} dead")
        if once:
            return
        time.sleep(interval)


@app.command()
def digest(
    db: DbOption = None,
    html: bool = False,
    send_to: Annotated[Optional[list[str]], typer.Option("--send-to", help="Queue the e-mail to these.")] = None,
) -> None:
    """The weekly exception digest, as text (or HTML); optionally queued as an e-mail."""
    from handoff.app import digest as digests

    ctx = _context(db)
    d = digests.build(ctx)
    sys.stdout.write(digests.render_html(d) if html else digests.render_text(d))
    if send_to:
        digests.send(ctx, d, send_to)
        err.print(f"digest queued for {', '.join(send_to)}")


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Recompute the hash chain; report the first entry that was altered, inserted or deleted."""
    from handoff.app.audit import verify

    count, broken = verify(_context(db))
    if broken is not None:
        _fail(f"audit chain broken at entry {broken.seq}: {broken.reason}", code=1)
    out.print(f"audit chain intact: {count} entries verified")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Apply the schema migrations (Alembic) to the database."""
    from handoff.store.db import make_engine, upgrade

    url = _settings(db).database_url
    engine = make_engine(url)
    _engines.append(engine)
    upgrade(engine)
    out.print(f"schema up to date: {url.split('@')[-1]}")


@invoice_app.command("list")
def invoice_list(db: DbOption = None, status: Optional[str] = None) -> None:
    """Invoices with their document status and payment state."""
    from handoff.app.invoicing import invoice_rows

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
    from handoff.app.invoicing import InvoicingError, issue_all_drafts, issue_draft

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
    from handoff.app.invoicing import InvoicingError, load_invoice
    from handoff.documents import FORMATS, DocumentError, render

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
    from handoff.app.users import UserError, add_user

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
    from handoff.app.users import list_users

    table = Table("id", "email", "role", "active")
    for r in list_users(_context(db)):
        table.add_row(str(r["id"]), r["email"], r["role"], "yes" if r["active"] else "no")
    out.print(table)


@users_app.command("token")
def users_token(email: str, name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
                db: DbOption = None) -> None:  # fmt: skip
    """Create an API token for a user; it is printed once and stored only as a hash."""
    from handoff.app.users import Role, User, UserError, create_token, list_users

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
    import uvicorn

    from handoff.web.app import create_app

    uvicorn.run(create_app(_context(db)), host=host, port=port, log_level="info")


@app.command()
def demo(db: Annotated[Path, typer.Option(help="SQLite file to create (replaced).")] = Path("handoff-demo.db")) -> None:
    """The whole flow on bundled sample data, into a fresh SQLite file."""
    from handoff.demo.run import run_demo

    run_demo(db, out)


def _print_states(ctx) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from handoff.store import schema

    with ctx.engine.connect() as conn:
        rows = conn.execute(select(schema.orders.c.state, func.count()).group_by(schema.orders.c.state)).all()
    out.print("orders: " + ", ".join(f"{n} {s}" for s, n in sorted(rows)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
