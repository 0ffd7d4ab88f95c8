"""The cash commands: importing payments and bank statements, cash application (`handoff match`) and the review of
the matches it was not sure about (`handoff review ...`).

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from handoff.kernel.cli_support import ActorOption, DbOption, fail, out
from handoff.users.service import actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    review = typer.Typer(help="Cash-application matches waiting for a person.", no_args_is_help=True)
    app.add_typer(review, name="review")

    @app.command("import-payments")
    def import_payments(file: Path, db: DbOption = None) -> None:
        """Apply payments from a CSV (invoice_number, amount, date); all or nothing."""
        from handoff.cash.formats.payment_file import read_payment_file
        from handoff.cash.service.payments import apply_payments
        from handoff.deals.formats import IntakeError

        ctx = context(db)
        try:
            report = apply_payments(ctx, read_payment_file(file), str(file), actor=f"import:{file.name}")
        except IntakeError as exc:
            fail(str(exc))
        counts: dict[str, int] = {}
        for state in report.states.values():
            counts[state] = counts.get(state, 0) + 1
        out.print(
            f"{file}: {report.applied} payments applied, {report.duplicates} already known; invoices now "
            + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "unchanged")
        )

    @app.command("import-statement")
    def import_statement(
        file: Path,
        db: DbOption = None,
        mapping: Annotated[Optional[Path], typer.Option(help="Column mapping (YAML) for a CSV.")] = None,
        actor: ActorOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="The import report as JSON.")] = False,
    ) -> None:
        """Store a bank statement (camt.053/052/054, MT940, CODA, OFX, CSV): all or nothing; again is a no-op.

        Prints per file its format, statements, bookings, each statement's balance check, and the
        warnings and repairs made reading it."""
        import json

        import yaml

        from handoff.cash.service.cash_application import StatementError
        from handoff.cash.service.cash_application import import_statement as store

        try:
            data = file.read_bytes()
            csv_mapping = yaml.safe_load(mapping.read_text(encoding="utf-8")) if mapping else None
        except (OSError, yaml.YAMLError) as exc:
            fail(f"cannot read: {exc}")
        ctx = context(db)
        actor = actor_email(ctx, actor, "finance@cli")
        try:
            report = store(ctx, data, file.name, actor, csv_mapping)
        except StatementError as exc:
            fail(f"refused, nothing stored: {exc}")
        if as_json:
            typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
            return
        for line in report.summary():
            out.print(line, markup=False, highlight=False)

    @app.command("match")
    def match_payments(
        db: DbOption = None,
        threshold: Annotated[Optional[float], typer.Option(help="Auto-apply confidence (0-1].")] = None,
        actor: ActorOption = None,
    ) -> None:
        """Cash application: match new bank lines to open invoices; apply the confident ones."""
        from handoff.cash.service.cash_application import apply_cash

        if threshold is not None and not 0 < threshold <= 1:
            fail("--threshold must be in (0, 1]")
        ctx = context(db)
        report = apply_cash(ctx, actor_email(ctx, actor, "automation:cash"), threshold)
        out.print(
            f"{report.lines} bank lines: {report.applied} applied, {report.review} to review, "
            f"{report.unmatched} unmatched"
        )
        for number, state in sorted(report.states.items())[:20]:
            out.print(f"  {number}: {state}")

    @review.command("list")
    def review_list(
        db: DbOption = None,
        status: Annotated[
            str, typer.Option(help="pending_review, applied, rejected, undone, unmatched")
        ] = "pending_review",
    ) -> None:
        """Matches to review (or with another status), with evidence and the proposed invoices."""
        from handoff.cash.service.cash_application import matches

        table = Table("id", "amount", "payer", "remittance", "proposed", "confidence", "evidence")
        rows = matches(context(db), status)
        for m in rows:
            proposed = ", ".join(f"{a['invoice']} {a['amount']:,.2f}" for a in m["allocations"])
            if m["alternatives"]:
                proposed += f" (or {', '.join(m['alternatives'])})"
            table.add_row(
                str(m["id"]),
                f"{m['amount']:,.2f} {m['currency']}",
                m["counterparty_name"],
                " ".join(filter(None, (m["remittance"], m["structured_reference"]))),
                proposed,
                f"{m['confidence']:.2f}",
                "; ".join(e["code"] for e in m["evidence"]),
            )
        out.print(table)
        out.print(f"{len(rows)} {status.replace('_', ' ')}")

    @review.command("confirm")
    def review_confirm(match_id: int, db: DbOption = None, actor: ActorOption = None) -> None:
        """Apply a proposed match."""
        from handoff.cash.service.cash_application import CashError, confirm_match

        try:
            ctx = context(db)
            states = confirm_match(ctx, match_id, actor_email(ctx, actor, "finance@cli"))
        except CashError as exc:
            fail(str(exc))
        out.print(f"match {match_id} applied: " + ", ".join(f"{n} {s}" for n, s in sorted(states.items())))

    @review.command("reject")
    def review_reject(match_id: int, db: DbOption = None, actor: ActorOption = None, reason: str = "") -> None:
        """Reject a proposed match; the line goes to the finance owner to allocate."""
        from handoff.cash.service.cash_application import CashError, reject_match

        try:
            ctx = context(db)
            reject_match(ctx, match_id, actor_email(ctx, actor, "finance@cli"), reason)
        except CashError as exc:
            fail(str(exc))
        out.print(f"match {match_id} rejected")

    @review.command("undo")
    def review_undo(match_id: int, db: DbOption = None, actor: ActorOption = None, reason: str = "") -> None:
        """Undo an applied match: its payments are reversed and the invoices open again."""
        from handoff.cash.service.cash_application import CashError, undo_match

        try:
            ctx = context(db)
            states = undo_match(ctx, match_id, actor_email(ctx, actor, "finance@cli"), reason)
        except CashError as exc:
            fail(str(exc))
        out.print(f"match {match_id} undone: " + ", ".join(f"{n} {s}" for n, s in sorted(states.items())))
