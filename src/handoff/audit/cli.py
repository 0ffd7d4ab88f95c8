"""The audit command (`handoff audit verify`): recompute the tamper-evident hash chain and name the first bad entry.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from handoff.kernel.cli_support import DbOption, fail, out

if TYPE_CHECKING:
    from handoff.context import AppContext


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    audit = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command("verify")
    def audit_verify(db: DbOption = None) -> None:
        """Recompute the hash chain; report the first entry that was altered, inserted or deleted."""
        from handoff.audit.service import verify

        count, broken = verify(context(db))
        if broken is not None:
            fail(f"audit chain broken at entry {broken.seq}: {broken.reason}", code=1)
        out.print(f"audit chain intact: {count} entries verified")
