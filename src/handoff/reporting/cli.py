"""The reporting command (`handoff digest`): the weekly exception digest, printed or queued as an e-mail.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from handoff.kernel.cli_support import DbOption, err

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
