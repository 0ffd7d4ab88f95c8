"""The reporting commands: `handoff digest` (the weekly exception digest, printed or queued as an e-mail)
and `handoff forecast` (the 13-week cash forecast, as a table or CSV, or its backtest).

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape

from handoff.kernel.cli_support import DbOption, err, fail

if TYPE_CHECKING:
    from handoff.context import AppContext


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    @app.command()
    def digest(
        db: DbOption = None,
        html: bool = False,
        send_to: Annotated[Optional[list[str]], typer.Option("--send-to", help="Queue the e-mail to these.")] = None,
    ) -> None:
        """The weekly exception digest, as text (or HTML); optionally queued as an e-mail."""
        from handoff.reporting.service import digest as digests

        ctx = context(db)
        d = digests.build(ctx)
        sys.stdout.write(digests.render_html(d) if html else digests.render_text(d))
        if send_to:
            digests.send(ctx, d, send_to)
            err.print(f"digest queued for {', '.join(send_to)}")

    @app.command()
    def forecast(
        db: DbOption = None,
        as_of: Annotated[Optional[str], typer.Option("--as-of", help="First day (YYYY-MM-DD; default today).")] = None,
        csv: Annotated[bool, typer.Option("--csv", help="Print the weeks as CSV.")] = False,
        backtest: Annotated[bool, typer.Option("--backtest", help="Print the error per week ahead instead.")] = False,
    ) -> None:
        """The 13-week cash forecast per currency and source (or, with --backtest, its past error)."""
        from handoff.reporting.cli_forecast import print_backtest, print_forecast

        day = None
        if as_of is not None:
            try:
                day = date.fromisoformat(as_of)
            except ValueError:
                fail(f"--as-of: {escape(as_of)!r} is not a date (YYYY-MM-DD)")
        ctx = context(db)
        if backtest:
            print_backtest(ctx, day)
        else:
            print_forecast(ctx, day, csv)
