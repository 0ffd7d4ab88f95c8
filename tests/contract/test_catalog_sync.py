"""The product catalog pulled from each CRM (issue 20: "synced from the CRM"), against loopback
stand-ins that answer in the vendors' published shapes (`catalog_standins`): every page is read,
prices land as Decimals, a second sync only adds what changed, and a CRM that fails or gives a
product the catalog refuses writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest

from handoff.context import AppContext
from handoff.contracts.service.catalog import list_products, price_for, show_product
from handoff.contracts.service.catalog_sync import CatalogSyncError, configured_sources, sync_catalog
from tests.conftest import Clock
from tests.contract.catalog_standins import (
    HubSpotProducts,
    PipedriveProducts,
    SalesforceProducts,
    pipedrive_product,
    salesforce_entry,
)
from tests.contract.standin import StandIn

NOV2, NOV3 = date(2026, 11, 2), date(2026, 11, 3)


def hubspot_product(pid: str, sku: str, name: str, price: str, **more: str) -> dict[str, object]:
    return {"id": pid, "properties": {"name": name, "hs_sku": sku, "price": price, "hs_object_id": pid, **more}}


@pytest.fixture
def hubspot() -> Iterator[tuple[HubSpotProducts, StandIn]]:
    crm = HubSpotProducts(page_size=2)
    crm.products = [
        hubspot_product("1001", "PLAT-SEAT", "Platform seat", "49.90", recurringbillingfrequency="monthly"),
        hubspot_product("1002", "ONBOARD", "Onboarding", "1500.00", description="One-off setup"),
        hubspot_product("1003", "SUPPORT-PRM", "Premium support", "299.005"),
    ]
    server = StandIn(crm).start()
    yield crm, server
    server.stop()
    assert not crm.violations, crm.violations


def hubspot_env(server: StandIn) -> dict[str, str]:
    return {
        "HANDOFF_HUBSPOT_ACCESS_TOKEN": "pat-1",
        "HANDOFF_HUBSPOT_API_URL": server.url,
        "HANDOFF_HUBSPOT_CURRENCY": "EUR",  # the account's company currency
    }


def skus(ctx: AppContext) -> list[str]:
    return [p["sku"] for p in list_products(ctx, limit=100).items]


def test_two_pages_of_hubspot_products_land_with_their_prices(
    ctx: AppContext, hubspot: tuple[HubSpotProducts, StandIn]
) -> None:
    _, server = hubspot
    report = sync_catalog(ctx, "hubspot", env=hubspot_env(server))
    assert sorted(report.added) == ["ONBOARD", "PLAT-SEAT", "SUPPORT-PRM"]
    assert report.prices_set == 3
    pages = [s for s in server.seen if s.path == "/crm/v3/objects/products"]
    assert len(pages) == 2 and pages[1].query["after"] == ["2"]
    assert all(s.query["limit"] == ["100"] for s in pages)
    assert "hs_sku" in pages[0].query["properties"][0].split(",")
    assert price_for(ctx, "PLAT-SEAT", "EUR", NOV2) == Decimal("49.90")
    assert price_for(ctx, "SUPPORT-PRM", "EUR", NOV2) == Decimal("299.005")  # exact, never through float
    shown = show_product(ctx, "ONBOARD")
    assert shown is not None
    assert (shown["name"], shown["description"], shown["source"], shown["external_id"]) == (
        "Onboarding",
        "One-off setup",
        "hubspot",
        "1002",
    )
    seat = show_product(ctx, "PLAT-SEAT")
    assert seat is not None and seat["revenue_rule"] == "ratable"  # a monthly subscription


def test_a_second_sync_adds_a_price_version_only_for_the_changed_price(
    ctx: AppContext, clock: Clock, hubspot: tuple[HubSpotProducts, StandIn]
) -> None:
    crm, server = hubspot
    sync_catalog(ctx, "hubspot", env=hubspot_env(server))
    clock.advance(days=1)
    crm.products[1]["properties"]["price"] = "1650.00"  # type: ignore[index]
    report = sync_catalog(ctx, "hubspot", env=hubspot_env(server))
    assert report.added == [] and report.changed == []
    assert sorted(report.unchanged) == ["ONBOARD", "PLAT-SEAT", "SUPPORT-PRM"]
    assert report.prices_set == 1
    assert price_for(ctx, "ONBOARD", "EUR", NOV2) == Decimal("1500.00")  # the day before keeps its price
    assert price_for(ctx, "ONBOARD", "EUR", NOV3) == Decimal("1650.00")
    onboard, seat = show_product(ctx, "ONBOARD"), show_product(ctx, "PLAT-SEAT")
    assert onboard is not None and seat is not None
    assert len(onboard["prices"]) == 2 and len(seat["prices"]) == 1
    assert len(onboard["versions"]) == 1 and len(seat["versions"]) == 1


def test_a_page_that_is_not_hubspots_shape_writes_nothing(
    ctx: AppContext, hubspot: tuple[HubSpotProducts, StandIn]
) -> None:
    crm, server = hubspot
    crm.broken = True  # the second page
    with pytest.raises(CatalogSyncError, match=r"^hubspot GET /crm/v3/objects/products: `results` is not a list"):
        sync_catalog(ctx, "hubspot", env=hubspot_env(server))
    assert skus(ctx) == []


def test_an_http_error_of_the_crm_writes_nothing(ctx: AppContext, hubspot: tuple[HubSpotProducts, StandIn]) -> None:
    _, server = hubspot
    server.fail("GET", "/crm/v3/objects/products", "500", "500", "500")  # every in-place retry too
    with pytest.raises(CatalogSyncError, match=r"^hubspot: .*HTTP 500"):
        sync_catalog(ctx, "hubspot", env=hubspot_env(server))
    assert skus(ctx) == []


def test_a_product_the_catalog_refuses_names_the_crm_and_the_product_and_writes_nothing(
    ctx: AppContext, hubspot: tuple[HubSpotProducts, StandIn]
) -> None:
    crm, server = hubspot
    crm.products.append({"id": "1004", "properties": {"name": "No code", "price": "10.00"}})  # no hs_sku
    with pytest.raises(CatalogSyncError, match=r"hubspot: catalog not synced.*hubspot product 1004: "):
        sync_catalog(ctx, "hubspot", env=hubspot_env(server))
    assert skus(ctx) == []


def test_pipedrive_products_with_a_price_per_currency(ctx: AppContext) -> None:
    account = PipedriveProducts(
        products=[
            pipedrive_product(
                7, "CONSULT-H", "Consulting hour", {"EUR": Decimal("120.5"), "USD": Decimal("135")}, "hour"
            ),
            pipedrive_product(8, "LIC-Y", "Licence", {"EUR": Decimal("990")}, "year"),
        ]
    )
    server = StandIn(account).start()
    try:
        env = {"HANDOFF_PIPEDRIVE_API_TOKEN": "pd-token", "HANDOFF_PIPEDRIVE_API_URL": server.url}
        assert "pipedrive" in configured_sources(env)
        report = sync_catalog(ctx, "pipedrive", env=env)
    finally:
        server.stop()
    assert not account.violations, account.violations
    assert sorted(report.added) == ["CONSULT-H", "LIC-Y"] and report.prices_set == 3
    assert server.seen[0].query == {"start": ["0"], "limit": ["100"]}
    assert price_for(ctx, "CONSULT-H", "EUR", NOV2) == Decimal("120.50")
    assert price_for(ctx, "CONSULT-H", "USD", NOV2) == Decimal("135")
    hour = show_product(ctx, "CONSULT-H")
    assert hour is not None and hour["unit_code"] == "HUR" and hour["external_id"] == "7"


def test_salesforce_price_book_entries_with_their_products(ctx: AppContext) -> None:
    org = SalesforceProducts(
        entries=[
            salesforce_entry("01u1", "01t1", "IMPL-D", "Implementation day", Decimal("1100.00"), "Day"),
            salesforce_entry("01u2", "01t2", "HOST-M", "Hosting", Decimal("75.25")),
        ]
    )
    server = StandIn(org).start()
    try:
        env = {
            "HANDOFF_SALESFORCE_INSTANCE_URL": server.url,
            "HANDOFF_SALESFORCE_ACCESS_TOKEN": "sf-token",
            "HANDOFF_SALESFORCE_CURRENCY": "EUR",
        }
        report = sync_catalog(ctx, "salesforce", env=env)
    finally:
        server.stop()
    assert not org.violations, org.violations
    assert "Pricebook2.IsStandard = true" in org.queries[0]
    assert sorted(report.added) == ["HOST-M", "IMPL-D"]
    assert price_for(ctx, "HOST-M", "EUR", NOV2) == Decimal("75.25")
    day = show_product(ctx, "IMPL-D")
    assert day is not None and day["unit_code"] == "DAY" and day["external_id"] == "01t1"


def test_salesforce_reads_the_next_records_url(ctx: AppContext) -> None:
    org = SalesforceProducts(
        entries=[salesforce_entry(f"01u{i}", f"01t{i}", f"SKU-{i}", f"P{i}", Decimal(i * 10)) for i in range(1, 4)],
        page_size=2,
    )
    server = StandIn(org).start()
    try:
        env = {
            "HANDOFF_SALESFORCE_INSTANCE_URL": server.url,
            "HANDOFF_SALESFORCE_ACCESS_TOKEN": "sf-token",
            "HANDOFF_SALESFORCE_CURRENCY": "EUR",
        }
        report = sync_catalog(ctx, "salesforce", env=env)
    finally:
        server.stop()
    assert not org.violations, org.violations
    assert len(server.seen) == 2 and server.seen[1].path.endswith("/query/01g-2")
    assert sorted(report.added) == ["SKU-1", "SKU-2", "SKU-3"]


def test_a_crm_that_is_not_configured_is_an_error_naming_it(ctx: AppContext) -> None:
    assert configured_sources({}) == []
    with pytest.raises(CatalogSyncError, match=r"^pipedrive: not configured"):
        sync_catalog(ctx, "pipedrive", env={})


def test_hubspot_without_a_currency_is_refused_before_any_request(
    ctx: AppContext, hubspot: tuple[HubSpotProducts, StandIn]
) -> None:
    _, server = hubspot
    env = {k: v for k, v in hubspot_env(server).items() if k != "HANDOFF_HUBSPOT_CURRENCY"}
    with pytest.raises(CatalogSyncError, match="HANDOFF_HUBSPOT_CURRENCY is not set"):
        sync_catalog(ctx, "hubspot", env=env)  # the test entities sell in more than one currency
    assert server.seen == []


def test_the_worker_job_syncs_each_configured_crm_and_logs_one_that_fails(
    ctx: AppContext, hubspot: tuple[HubSpotProducts, StandIn], caplog: pytest.LogCaptureFixture
) -> None:
    from handoff.cli.operations import _catalog_sync_jobs

    _, server = hubspot
    assert _catalog_sync_jobs({}) == []  # no CRM configured: no job
    env = {**hubspot_env(server), "HANDOFF_PIPEDRIVE_API_TOKEN": "pd-token", "HANDOFF_PIPEDRIVE_API_URL": server.url}
    [job] = _catalog_sync_jobs(env)
    assert job.name == "catalog_sync" and job.period(ctx.clock()) != job.period(ctx.clock() + timedelta(hours=1))
    job.run(ctx)  # pipedrive (pointed at the HubSpot stand-in) is refused: logged, hubspot's products kept all the same
    assert sorted(skus(ctx)) == ["ONBOARD", "PLAT-SEAT", "SUPPORT-PRM"]
    assert any("catalog not synced" in r.message and "pipedrive" in r.message for r in caplog.records)


def test_the_command_syncs_and_names_a_crm_that_fails(
    ctx: AppContext, db_url: str, hubspot: tuple[HubSpotProducts, StandIn]
) -> None:
    from typer.testing import CliRunner

    from handoff.cli import app

    _, server = hubspot
    runner = CliRunner()
    ran = runner.invoke(app, ["catalog", "sync", "--source", "hubspot", "--db", db_url], env=hubspot_env(server))
    assert ran.exit_code == 0, ran.output
    assert "hubspot: 3 added, 0 changed, 0 unchanged, 3 prices set" in ran.output
    failed = runner.invoke(app, ["catalog", "sync", "--source", "salesforce", "--db", db_url], env={})
    assert failed.exit_code == 2 and "salesforce: not configured" in failed.output
