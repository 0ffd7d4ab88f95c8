"""The deals commands: `handoff check` judges a deal file without storing anything, `handoff import` takes it in,
`handoff inbox failed` lists the deal events that failed to apply and `handoff inbox retry` sends them through again;
`handoff inbox repair` re-dates a deal's versions stamped in the future.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, cast

import typer
from rich.table import Table

from handoff.config import ConfigError, Settings, load_business_config
from handoff.deals.domain.readiness import MISSING, Problem
from handoff.deals.domain.readiness import check as check_deal
from handoff.deals.formats import IntakeError, read_deal_file, read_deal_rows
from handoff.deals.formats.files import deal_input
from handoff.kernel.cli_support import DbOption, fail, out
from handoff.users.service import Role, actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
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
            fail(str(exc))
        if as_json:
            for deal_id, problems in results:
                sys.stdout.write(
                    json.dumps(
                        {"deal_id": deal_id, "ready": not problems, "problems": [p.as_dict() for p in problems]},
                        ensure_ascii=False,
                    )
                    + "\n"
                )
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
        """Import deals from a CSV or JSON file: stored in the inbox all or nothing, then applied.
        A file with a value the database cannot store, or a version time further ahead of the clock
        than `intake.future_tolerance_seconds`, is refused naming the line (nothing is stored)."""
        from handoff.deals.service.intake import ingest

        settings = Settings.from_env()
        try:
            intake = load_business_config(settings.config_file, settings.rules_file).model.intake
            events = read_deal_file(file, source, tolerance=timedelta(seconds=intake.future_tolerance_seconds))
        except (IntakeError, ConfigError) as exc:
            fail(str(exc))
        ctx = context(db)
        received, processed = ingest(ctx, events, render_ahead=True)
        out.print(
            f"{file}: {len(events)} deals read, {received.received} new, {received.duplicates} already "
            f"received; {processed.applied} applied, {processed.stale} stale, {processed.failed} failed"
        )
        _print_states(ctx)

    inbox = typer.Typer(help="Deal events as received: those that failed, and retrying them.", no_args_is_help=True)
    app.add_typer(inbox, name="inbox")

    @inbox.command("failed")
    def inbox_failed(
        db: DbOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per event per line.")] = False,
    ) -> None:
        """Deal events that failed to apply, oldest first, with their error."""
        from handoff.deals.service.inbox import list_failed

        ctx = context(db)
        rows: list[dict[str, Any]] = []
        while True:
            page = list_failed(ctx, limit=_LIST_CHUNK, offset=len(rows))
            rows += page.items
            if len(page.items) < _LIST_CHUNK:
                break
        if as_json:
            for r in rows:
                record = {k: r[k].isoformat() if isinstance(r[k], datetime) else r[k] for k in _FAILED_FIELDS}
                sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        if not rows:
            out.print("no failed inbox events")
            return
        table = Table("id", "source", "event", "deal", "received", "failed")
        table.add_column("error", overflow="fold")
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["source"],
                r["event_id"],
                r["deal_id"],
                _when(r["received_at"]),
                _when(r["failed_at"]),
                r["error"] or "",
            )
        out.print(table)
        out.print(f"{len(rows)} failed; `handoff inbox retry ID` (or --all) once the cause is fixed")

    @inbox.command("retry")
    def inbox_retry(
        inbox_id: Annotated[Optional[int], typer.Argument(metavar="ID", help="The failed event's id.")] = None,
        retry_all: Annotated[bool, typer.Option("--all", help="Every failed event.")] = False,
        db: DbOption = None,
        actor: Annotated[
            Optional[str], typer.Option(help="Who retries (audited); an active admin user.", metavar="EMAIL")
        ] = None,
        reason: Annotated[str, typer.Option(help="Why (audited), e.g. what was fixed.")] = "",
    ) -> None:
        """Put failed deal events back to pending, apply pending events, and say what became of them.
        Exits 1 if one failed again."""
        from handoff.deals.service import inbox as events

        if (inbox_id is None) == (not retry_all):
            fail("give the id of a failed inbox event, or --all")
        ctx = context(db)
        actor = actor_email(ctx, actor, "operator@cli", (Role.ADMIN,))
        try:
            report = (
                events.retry_all(ctx, actor, reason)
                if retry_all
                else events.retry(ctx, cast(int, inbox_id), actor, reason)
            )
        except events.RetryRefused as exc:
            fail(str(exc))
        if not report.outcomes:
            out.print("no failed inbox events")
            return
        for o in report.outcomes:
            what = {
                events.InboxStatus.APPLIED: "applied",
                events.InboxStatus.STALE: "stale (a newer version of the deal was applied already)",
                events.InboxStatus.FAILED: f"[red]failed again[/]: {o.error}",
                events.InboxStatus.PENDING: "still pending (another worker is applying it)",
            }[o.status]
            out.print(f"inbox event {o.id} ({o.source}/{o.event_id}, deal {o.deal_id}): {what}", highlight=False)
        counts = ", ".join(f"{report.count(s)} {s.value}" for s in events.InboxStatus if report.count(s))
        out.print(f"{len(report.outcomes)} retried: {counts}")
        if report.count(events.InboxStatus.FAILED):
            raise typer.Exit(1)

    @inbox.command("repair")
    def inbox_repair(
        deal_id: Annotated[str, typer.Argument(metavar="DEAL_ID", help="The deal whose versions to re-date.")],
        db: DbOption = None,
        actor: Annotated[
            Optional[str], typer.Option(help="Who repairs (audited); an active admin user.", metavar="EMAIL")
        ] = None,
        reason: Annotated[str, typer.Option(help="Why (audited).")] = "",
    ) -> None:
        """Re-date a deal's versions dated in the future to when they were received (audited), so that
        the genuine later updates they made stale are applied."""
        from handoff.deals.service import inbox as events

        ctx = context(db)
        actor = actor_email(ctx, actor, "operator@cli", (Role.ADMIN,))
        try:
            report = events.repair_future(ctx, deal_id, actor, reason)
        except events.RepairRefused as exc:
            fail(str(exc))
        for r in report.redated:
            out.print(
                f"inbox event {r.inbox_id} ({r.event_id}): {r.before.isoformat()} -> {r.after.isoformat()}",
                highlight=False,
            )
        if report.version is not None:
            before, after = report.version
            out.print(f"deal {deal_id}: applied version {before.isoformat()} -> {after.isoformat()}", highlight=False)
        for o in report.requeued:
            out.print(f"inbox event {o.id} ({o.event_id}) sent through again: {o.status.value}", highlight=False)
        out.print(f"{len(report.redated)} re-dated, {len(report.requeued)} stale events sent through again")

    tax = typer.Typer(help="Deals whose invoice tax could not be determined.", no_args_is_help=True)
    app.add_typer(tax, name="tax")

    @tax.command("held")
    def tax_held(db: DbOption = None) -> None:
        """Deals waiting in the exception queue because their tax could not be determined, and why."""
        from handoff.deals.service import tax_holds
        from handoff.deals.service.orders import exception_queue

        ctx = context(db)
        held = set(tax_holds.held(ctx))
        for item in exception_queue(ctx):
            if item["deal_id"] in held:
                why = "; ".join(p["message"] for p in item["problems"] if p["code"] == "tax_undetermined")
                out.print(f"{item['deal_id']} ({item['owner']}): {why}", highlight=False, soft_wrap=True)
        out.print(f"{len(held)} held; `handoff tax retry` once the cause is fixed or the engine answers again")

    @tax.command("retry")
    def tax_retry(
        deal_ids: Annotated[Optional[list[str]], typer.Argument(metavar="[DEAL_ID]...", help="Only these.")] = None,
        db: DbOption = None,
        engine_only: Annotated[bool, typer.Option("--engine-only", help="Only those a tax engine failed.")] = False,
        actor: Annotated[
            Optional[str], typer.Option(help="Who retries (audited); an active finance or admin user.", metavar="EMAIL")
        ] = None,
    ) -> None:
        """Send held deals through again: drafted once their tax can be determined, else held again."""
        from handoff.deals.service import tax_holds

        ctx = context(db)
        who = actor_email(ctx, actor, "operator@cli")
        tried = set(tax_holds.held(ctx, engine_only=engine_only))
        if deal_ids:
            tried &= set(deal_ids)
        tax_holds.retry(ctx, who, sorted(tried), engine_only=engine_only)
        still = tried & set(tax_holds.held(ctx))
        for deal_id in sorted(tried):
            out.print(f"{deal_id}: {'still held' if deal_id in still else 'ready'}", highlight=False)
        out.print(f"{len(tried)} sent through again: {len(tried) - len(still)} ready, {len(still)} still held")


_LIST_CHUNK = 1000
_FAILED_FIELDS = ("id", "source", "event_id", "deal_id", "received_at", "failed_at", "error")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _print_states(ctx: AppContext) -> None:
    from handoff.deals.service.queries import orders_by_state

    out.print("orders: " + ", ".join(f"{n} {s}" for s, n in sorted(orders_by_state(ctx).items())))
