"""Pull the product catalog from a configured CRM and keep it (issue 20: "synced from the CRM").

The whole catalog is read first (`connectors.crm_catalog`, every page), then stored in one
transaction by `catalog.sync_products`: a CRM that does not answer, answers outside its published
shape, or gives a product the catalog refuses (no SKU, a float price, an unknown unit) fails the
sync with an error naming the CRM and the product, and nothing is kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx

from handoff.context import AppContext
from handoff.contracts.connectors.crm_catalog import CatalogFetcher, CatalogFetchError, build_fetcher, configured
from handoff.contracts.domain.catalog import CatalogError
from handoff.contracts.service.catalog import CRM_SOURCES, SyncReport, sync_products
from handoff.kernel.storage.connector_state import DbConnectorState

__all__ = ["CatalogFetchError", "CatalogSyncError", "configured_sources", "sync_catalog"]


class CatalogSyncError(Exception):
    """The catalog of a CRM was not synced; the message names the CRM (and the product, when one was refused)."""


def configured_sources(env: Mapping[str, str] | None = None) -> list[str]:
    """The CRMs whose catalog the settings let us read (`HANDOFF_*`, default the environment)."""
    return configured(os.environ if env is None else env)


def _default_currency(ctx: AppContext) -> str:
    """The selling entities' currency when they share one ("" otherwise: set HANDOFF_<CRM>_CURRENCY)."""
    found = {e.currency for e in ctx.config.model.legal_entities.values()}
    return found.pop() if len(found) == 1 else ""


def sync_catalog(
    ctx: AppContext,
    source: str,
    *,
    env: Mapping[str, str] | None = None,
    fetcher: CatalogFetcher | None = None,
    transport: httpx.BaseTransport | None = None,
    actor: str = "",
) -> SyncReport:
    """Read every product of CRM `source` and sync them into the catalog (all or nothing).

    The fetcher is built from the settings (`env`, default the environment) unless given;
    CatalogSyncError when the CRM is not configured, cannot be read, or any product is refused."""
    if source not in CRM_SOURCES:
        raise CatalogSyncError(f"{source!r} is not one of {', '.join(CRM_SOURCES)}")
    if fetcher is None:
        settings = os.environ if env is None else env
        try:
            fetcher = build_fetcher(settings, source, _default_currency(ctx), DbConnectorState(ctx), transport)
        except CatalogFetchError as exc:
            raise CatalogSyncError(str(exc)) from None
        if fetcher is None:
            raise CatalogSyncError(f"{source}: not configured (its HANDOFF_{source.upper()}_* settings are missing)")
    try:
        mapped = fetcher.fetch()
    except CatalogFetchError as exc:
        raise CatalogSyncError(str(exc)) from None
    finally:
        fetcher.close()
    if mapped.problems:
        raise CatalogSyncError(f"{source}: catalog not synced, nothing kept: " + "; ".join(mapped.problems))
    try:
        return sync_products(ctx, source, mapped.products, actor or f"sync:{source}")
    except CatalogError as exc:
        raise CatalogSyncError(f"{source}: catalog not synced, nothing kept: {exc}") from None
