"""What every `handoff` command shares, whichever package defines it: the consoles, the --db option, failing.

Only typer and rich, so that each capability's `cli` module can use it without importing the shell
(`handoff.cli`) that mounts it.
"""

from __future__ import annotations

from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console

out = Console()
err = Console(stderr=True)

DbOption = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: HANDOFF_DATABASE_URL).")]
ActorOption = Annotated[
    Optional[str], typer.Option(help="Your e-mail (audited): an active finance or admin user.", metavar="EMAIL")
]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print the error on stderr and end the command with `code` (2: refused input, 1: a check failed)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)
