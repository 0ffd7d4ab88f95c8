"""The `handoff` command: the root app, on which each package mounts its commands (thin wrappers that parse
arguments, call one use case and print). The shell passes each package how a command gets its AppContext.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from handoff.approvals import cli as approvals
from handoff.audit import cli as audit
from handoff.cash import cli as cash
from handoff.cli import common, operations
from handoff.collections import cli as collections
from handoff.contracts import cli as contracts
from handoff.contracts import cli_amend, cli_catalog_sync, cli_contracts
from handoff.customers import cli as customers
from handoff.deals import cli as deals
from handoff.invoicing import cli as invoicing
from handoff.kernel.cli_support import fail
from handoff.kernel.storage.unit_of_work import AuditKeyMissing
from handoff.projects import cli as projects
from handoff.reporting import cli as reporting
from handoff.usage import cli as usage
from handoff.users import cli as users

HELP_ORDER = (
    "check",
    "import",
    "import-payments",
    "import-statement",
    "match",
    "dispute",
    "pause-dunning",
    "worker",
    "digest",
    "serve",
    "demo",
    "audit",
    "db",
    "invoice",
    "outbox",
    "inbox",
    "review",
    "dunning",
    "users",
    "credit-note",
    "credit",
    "approvals",
)


class _InHelpOrder(TyperGroup):
    """`handoff --help` lists the commands in HELP_ORDER (a new one comes last), not in the order they were mounted."""

    def list_commands(self, ctx: Any) -> list[str]:
        rank = {name: i for i, name in enumerate(HELP_ORDER)}
        return sorted(super().list_commands(ctx), key=lambda name: rank.get(name, len(rank)))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except AuditKeyMissing as exc:  # any command that writes: an error to act on, not a traceback
            fail(str(exc))
        except Exception as exc:
            # a refused --actor (or any other user refusal a command lets through): exit 2 with its reason
            from rich.markup import escape

            from handoff.users.service import UserError

            if isinstance(exc, UserError):
                fail(escape(exc.message))
            raise


app = typer.Typer(
    cls=_InHelpOrder,
    help="handoff: from closed-won to cash in the bank.",
    no_args_is_help=True,
    add_completion=False,
    callback=common.close_engines_on_exit,
)

deals.register(app, common.context)
invoicing.register(app, common.context)
cash.register(app, common.context)
collections.register(app, common.context)
contracts.register(app, common.context)
cli_contracts.register(app, common.context)
cli_amend.register(app, common.context)  # after cli_contracts: adds `contracts amend`
cli_catalog_sync.register(app, common.context)  # after contracts: adds `catalog sync`
approvals.register(app, common.context)
users.register(app, common.context)
audit.register(app, common.context)
reporting.register(app, common.context)
customers.register(app, common.context)
projects.register(app, common.context)
usage.register(app, common.context)
operations.register(app)


def main() -> None:
    app()
