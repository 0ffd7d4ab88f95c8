"""The collections commands: queueing today's payment reminders (`handoff dunning run`), disputes and pauses.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from handoff.kernel.cli_support import ActorOption, DbOption, err, fail, out
from handoff.users.service import actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    dunning = typer.Typer(help="Payment reminders.", no_args_is_help=True)
    app.add_typer(dunning, name="dunning")

    @dunning.command("run")
    def dunning_run(db: DbOption = None, dry_run: Annotated[bool, typer.Option("--dry-run")] = False) -> None:
        """Queue today's payment reminders (the worker does this daily); --dry-run only lists them."""
        from handoff.collections.service import run_dunning

        run = run_dunning(context(db), dry_run=dry_run)
        table = Table("invoice", "level", "tone", "days overdue", "open", "to", "cc")
        for lt in run.letters:
            r = lt.reminder
            table.add_row(
                r.invoice_number,
                str(r.level),
                r.tone.value,
                str(r.days_overdue),
                f"{r.amount_open:,.2f} {r.currency}",
                ", ".join(lt.to),
                ", ".join(lt.cc),
            )
        out.print(table)
        for number, why in run.skipped:
            err.print(f"{number}: not sent: {why}")
        verb = "would be sent" if dry_run else "queued"
        out.print(f"{run.on}: {len(run.letters)} reminders {verb}; {run.overdue} invoices overdue")

    @app.command("dispute")
    def dispute(
        invoice: str,
        db: DbOption = None,
        clear: bool = False,
        reason: str = "",
        actor: ActorOption = None,
    ) -> None:
        """Mark an invoice disputed (no reminders while disputed), or --clear the dispute."""
        from handoff.collections.service import DunningError, set_dispute

        try:
            ctx = context(db)
            changed = set_dispute(ctx, invoice, actor_email(ctx, actor, "finance@cli"), reason, clear)
        except DunningError as exc:
            fail(str(exc))
        state = "no longer disputed" if clear else "disputed"
        out.print(f"{invoice}: {state}" + ("" if changed else " (unchanged)"))

    @app.command("pause-dunning")
    def pause_dunning(
        customer: str,
        db: DbOption = None,
        until: Annotated[Optional[str], typer.Option(help="Last paused day, YYYY-MM-DD.")] = None,
        clear: Annotated[bool, typer.Option("--clear", help="Lift the pause.")] = False,
        reason: str = "",
        actor: ActorOption = None,
    ) -> None:
        """Pause a customer's payment reminders (until a date, or until --clear)."""
        from datetime import date

        from handoff.collections.service import DunningError
        from handoff.collections.service import pause_dunning as pause

        try:
            last = date.fromisoformat(until) if until else None
        except ValueError:
            fail(f"--until {until!r} is not a date (YYYY-MM-DD)")
        try:
            ctx = context(db)
            pause(ctx, customer, actor_email(ctx, actor, "finance@cli"), last, reason, lift=clear)
        except DunningError as exc:
            fail(str(exc))
        out.print(f"{customer}: reminders " + ("resumed" if clear else f"paused until {last or 'lifted'}"))
