"""The audit commands: `handoff audit verify` recomputes the tamper-evident chain (keyed, and held
against signed checkpoints) and names the first bad entry; `handoff audit checkpoint` signs the
chain's head into the checkpoint directory now.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from handoff.kernel.cli_support import DbOption, fail, out

if TYPE_CHECKING:
    from handoff.context import AppContext

CHECKPOINTS = "HANDOFF_AUDIT_CHECKPOINTS"


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    audit = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command("verify")
    def audit_verify(
        db: DbOption = None,
        checkpoints: Annotated[
            Optional[list[Path]],
            typer.Option(
                "--checkpoints",
                envvar=CHECKPOINTS,
                metavar="DIR",
                help=f"Hold the chain against the signed checkpoints in DIR (repeatable; default: {CHECKPOINTS}).",
            ),
        ] = None,
    ) -> None:
        """Recompute the hash chain; report the first entry that was altered, inserted or deleted,
        and entries missing against a signed checkpoint."""
        from handoff.audit.service import AuditError, check

        ctx = context(db)
        try:
            found = check(ctx, checkpoints or ())
        except AuditError as exc:
            fail(str(exc), code=1)
        if found.broken is not None:
            fail(f"audit chain broken at entry {found.broken.seq}: {found.broken.reason}", code=1)
        keyed = found.entries - found.unkeyed
        detail = f"{keyed} keyed, {found.unkeyed} from before keying" if found.unkeyed and keyed else ""
        detail = detail or ("keyed" if keyed else "not keyed")
        out.print(f"audit chain intact: {found.entries} entries verified ({detail})")
        if found.newest is not None:
            out.print(
                f"held against {found.checkpoints} signed checkpoints (newest: entry {found.newest.seq} "
                f"at {found.newest.at})"
            )
        else:
            out.print(
                f"no checkpoints given (--checkpoints DIR or {CHECKPOINTS}): a cut tail or a chain rewritten "
                "from its start would not show"
            )
        if ctx.audit_keys.current is None and not keyed:
            out.print("the chain is not keyed: set HANDOFF_AUDIT_KEY so that rewriting it needs the key")

    @audit.command("checkpoint")
    def audit_checkpoint(
        db: DbOption = None,
        to: Annotated[
            Optional[Path],
            typer.Option("--to", envvar=CHECKPOINTS, metavar="DIR", help=f"Directory (default: {CHECKPOINTS})."),
        ] = None,
    ) -> None:
        """Verify the chain since the newest checkpoint, then sign its head ({seq, hash, at}) into DIR."""
        from handoff.audit.service import AuditError, checkpoint

        if to is None:
            fail(f"where to? pass --to DIR or set {CHECKPOINTS}")
        try:
            signed = checkpoint(context(db), to, always=True)
        except AuditError as exc:
            fail(str(exc), code=1)
        assert signed is not None
        out.print(f"checkpoint written to {to}: entry {signed.seq}, hash {signed.hash[:16]}…, key {signed.key_id}")
