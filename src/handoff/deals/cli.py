"""The deals commands: `handoff check` judges a deal file without storing anything, `handoff import` takes it in.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from handoff.config import ConfigError, Settings, load_business_config
from handoff.deals.domain.readiness import MISSING, Problem
from handoff.deals.domain.readiness import check as check_deal
from handoff.deals.formats import IntakeError, read_deal_file, read_deal_rows
from handoff.deals.formats.files import deal_input
from handoff.kernel.cli_support import DbOption, fail, out

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
        """Import deals from a CSV or JSON file: stored in the inbox all or nothing, then applied."""
        from handoff.deals.service.intake import ingest

        try:
            events = read_deal_file(file, source)
        except IntakeError as exc:
            fail(str(exc))
        ctx = context(db)
        received, processed = ingest(ctx, events, render_ahead=True)
        out.print(
            f"{file}: {len(events)} deals read, {received.received} new, {received.duplicates} already "
            f"received; {processed.applied} applied, {processed.stale} stale, {processed.failed} failed"
        )
        _print_states(ctx)


def _print_states(ctx: AppContext) -> None:
    from handoff.deals.service.queries import orders_by_state

    out.print("orders: " + ", ".join(f"{n} {s}" for s, n in sorted(orders_by_state(ctx).items())))
