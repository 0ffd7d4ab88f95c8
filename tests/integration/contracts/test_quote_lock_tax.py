"""Quote lock keeps the agreed VAT treatment (issue 20), on SQLite and PostgreSQL: a deal for an EU
business buyer in another member state, locked at intake, has its lines' reverse charge with the
evidence it was decided on in the stored, hashed contract version and in the contract's detail;
the billing run still determines the tax of its invoices at billing."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
from sqlalchemy import select

from handoff.context import AppContext
from handoff.contracts.domain.model import ContractVersion, canonical_json
from handoff.contracts.service import queries as contract_queries
from handoff.contracts.service.billing_run import run_billing
from handoff.contracts.service.contracts import show_contract
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.intake import ingest
from handoff.invoicing.domain.tax import VatCategory
from handoff.kernel.storage import schema
from tests.builders import deal_with_lines, line
from tests.integration.deals.test_intake_flow import state

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
PLATFORM = line(
    "Platform subscription",
    "1",
    "10000.00",
    billing="recurring",
    frequency="annual",
    start="2027-01-01",
    end="2030-01-01",
    product="PLAT-ANNUAL",
)
SETUP = line("Onboarding fee", "1", "2000.00")
FR_BUYER = {"country": "FR", "vat_id": "FR 40303265045", "customer_legal_name": "Kestrel SAS"}


def test_a_deal_locked_at_intake_keeps_each_lines_reverse_charge_with_its_evidence(ctx: AppContext) -> None:
    ingest(ctx, [DealEvent("crm", "e1", T0, deal_with_lines([PLATFORM, SETUP], amount="12000.00", **FR_BUYER))])
    assert state(ctx, "D-1") == "ready"

    v = schema.contract_versions
    with ctx.engine.connect() as conn:
        row = conn.execute(select(v.c.content, v.c.content_hash).where(v.c.contract_id == "D-1")).one()
    content = row.content if isinstance(row.content, dict) else orjson.loads(row.content)
    stored = [ln["tax"] for ln in content["lines"]]
    for tax in stored:
        assert (tax["category"], tax["rate"], tax["rule"]) == ("AE", "0", "reverse_charge")
        assert (tax["exemption_code"], tax["place_of_supply"]) == ("VATEX-EU-AE", "FR")
        evidence = tax["evidence"]
        assert (evidence["seller_country"], evidence["buyer_country"]) == ("DE", "FR")
        assert (evidence["buyer_is_business"], evidence["buyer_vat_id"]) == ("true", "FR40303265045")
        assert evidence["rates_source"].startswith(ctx.config.vat_rates.source)
    # the hash covers the tax: the stored version is proven unchanged with it
    assert hashlib.sha256(canonical_json(content).encode()).hexdigest() == row.content_hash

    version = show_contract(ctx, "D-1").current
    assert version == ContractVersion.from_json(content)
    for ln in version.lines:
        assert ln.tax is not None and (ln.tax.category, ln.tax.rate) == (VatCategory.REVERSE_CHARGE, Decimal(0))

    detail = contract_queries.contract_detail(ctx, "D-1")
    assert detail is not None
    assert [(ln["key"], ln["tax"]["category"], ln["tax"]["rule"]) for ln in detail["lines"]] == [
        ("L1", "AE", "reverse_charge"),
        ("L2", "AE", "reverse_charge"),
    ]

    # the billing run decides the invoice's VAT at billing: reverse charge too, nothing charged
    assert run_billing(ctx, date(2026, 11, 2)).items == 1
    i = schema.invoices
    with ctx.engine.connect() as conn:
        net, gross = conn.execute(select(i.c.net_amount, i.c.gross_amount)).one()
    assert Decimal(net) == Decimal(gross) == Decimal("2000.00")


def test_a_domestic_deal_is_locked_at_the_sellers_standard_rate(ctx: AppContext) -> None:
    ingest(ctx, [DealEvent("crm", "e1", T0, deal_with_lines([PLATFORM, SETUP], amount="12000.00"))])
    rate = ctx.config.vat_rates.rate("DE", "standard")
    for ln in show_contract(ctx, "D-1").current.lines:
        assert ln.tax is not None
        assert (ln.tax.category, ln.tax.rate, ln.tax.rule, ln.tax.place_of_supply) == (
            VatCategory.STANDARD,
            rate,
            "domestic",
            "DE",
        )
