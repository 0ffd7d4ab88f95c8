"""`handoff catalog sync --source hubspot|pipedrive|salesforce`: pull the product catalog from a
configured CRM now (the worker's `catalog_sync` job does it hourly), all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape

from handoff.kernel.cli_support import DbOption, fail, out
from handoff.users.service import FINANCE_ROLES, actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext


class CrmSource(str, Enum):
    hubspot = "hubspot"
    pipedrive = "pipedrive"
    salesforce = "salesforce"


def _group(app: typer.Typer, name: str) -> typer.Typer | None:
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    return None


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    catalog = _group(app, "catalog")
    if catalog is None:
        catalog = typer.Typer(help="The product catalog: products, list prices, rate cards.", no_args_is_help=True)
        app.add_typer(catalog, name="catalog")

    @catalog.command("sync")
    def sync_cmd(
        source: Annotated[CrmSource, typer.Option("--source", help="The CRM to read the catalog from.")],
        db: DbOption = None,
        actor: Annotated[
            Optional[str],
            typer.Option(
                help="Your e-mail (audited): an active finance or admin user (default: sync:<crm>).", metavar="EMAIL"
            ),
        ] = None,
    ) -> None:
        """Pull the product catalog from a CRM now: all or nothing.

        Every product of the CRM (HANDOFF_<CRM>_* settings, as for its deals) is read: new ones
        added, changed ones versioned, changed prices in force from today. A CRM that fails or a
        product the catalog refuses stops the sync and nothing is kept."""
        from handoff.contracts.service.catalog_sync import CatalogSyncError, sync_catalog

        ctx = context(db)
        who = actor_email(ctx, actor, f"sync:{source.value}", FINANCE_ROLES)
        try:
            report = sync_catalog(ctx, source.value, actor=who)
        except CatalogSyncError as exc:
            fail(escape(str(exc)))
        out.print(
            f"{source.value}: {len(report.added)} added, {len(report.changed)} changed, "
            f"{len(report.unchanged)} unchanged, {report.prices_set} prices set",
            highlight=False,
        )
