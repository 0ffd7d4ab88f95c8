"""Stripe Tax as the US entity's sales tax engine (issue 16, item 9), against a loopback stand-in
that checks each request against Stripe's API reference and answers in the shape of Stripe's own
`tax.calculation` example (fixtures3.json of stripe/openapi), on SQLite and PostgreSQL: the Austin,
TX customer gets Stripe's answer; an outage or a refusal holds the deal in the exception queue
(never an invoice at 0) until it is retried; no key, no tax."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from handoff.bootstrap import build_tax_engines
from handoff.config import SalesTaxEntityModel, Settings, TaxModel
from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service import tax_holds
from handoff.deals.service.intake import ingest
from handoff.invoicing.connectors.stripe_tax import StripeTax
from handoff.invoicing.domain.invoices import Invoice, invoice_from_json
from handoff.invoicing.service.issuing import issue_all_drafts
from handoff.kernel.storage import schema
from tests.builders import AUSTIN, deal_with_lines, event, line
from tests.contract import stripe_tax_standin as stripe_api
from tests.contract.standin import Seen, StandIn

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
US = {
    "country": "US",
    "vat_id": "",
    "legal_entity": "ACME-US",
    "currency": "USD",
    "customer_legal_name": "Lone Star Inc.",
}


@pytest.fixture
def stripe(oracles: Path) -> Iterator[StandIn]:
    count = itertools.count(1)
    server = StandIn(lambda seen: stripe_api.calculation(oracles, seen, next(count)), check=stripe_api.check).start()
    yield server
    server.stop()
    assert not server.violations, server.violations


BUILT: list[StripeTax] = []


@pytest.fixture(autouse=True)
def _close_engines() -> Iterator[None]:
    yield
    while BUILT:
        BUILT.pop().close()


def on_stripe(ctx: AppContext, env: dict[str, str]) -> AppContext:
    """The context with the US entity's sales tax on Stripe Tax, its engines built from `env`."""
    tax = TaxModel(sales_tax={"ACME-US": SalesTaxEntityModel(engine="stripe_tax")})
    config = dataclasses.replace(ctx.config, model=ctx.config.model.model_copy(update={"tax": tax}))
    engines = build_tax_engines(Settings.from_env(env))
    BUILT.extend(e for e in engines.values() if isinstance(e, StripeTax))
    return dataclasses.replace(ctx, config=config, tax_engines=engines)


@pytest.fixture
def stripe_ctx(ctx: AppContext, stripe: StandIn) -> AppContext:
    return on_stripe(ctx, {"HANDOFF_STRIPE_API_KEY": stripe_api.API_KEY, "HANDOFF_STRIPE_API_URL": stripe.url})


def austin(deal_id: str = "D-1", **changes: Any) -> DealEvent:
    lines = [line("Platform licence", quantity="3", unit_price="3000.00"), line("Onboarding", unit_price="3000.00")]
    return DealEvent("crm", f"e-{deal_id}", T0, deal_with_lines(lines, deal_id=deal_id, **{**US, **AUSTIN, **changes}))


def draft_of(ctx: AppContext, deal_id: str = "D-1") -> Invoice | None:
    inv, link, o = schema.invoices, schema.invoice_orders, schema.orders
    with ctx.engine.connect() as conn:
        doc = conn.execute(
            select(inv.c.document)
            .join(link, link.c.invoice_id == inv.c.id)
            .join(o, o.c.id == link.c.order_id)
            .where(o.c.deal_id == deal_id)
        ).scalar()
    return None if doc is None else invoice_from_json(doc)


def held_problem(ctx: AppContext, deal_id: str = "D-1") -> dict[str, str]:
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(schema.orders.c.state, schema.exceptions.c.problems)
            .join(schema.exceptions, schema.exceptions.c.order_id == schema.orders.c.id)
            .where(schema.orders.c.deal_id == deal_id, schema.exceptions.c.status == "open")
        ).one()
    assert row.state == "blocked"
    [problem] = [p for p in row.problems if p["code"] == "tax_undetermined"]
    return dict(problem)


def test_the_austin_customer_gets_stripe_taxs_answer_in_stripes_shapes(
    stripe_ctx: AppContext, stripe: StandIn, oracles: Path
) -> None:
    ingest(stripe_ctx, [austin()])
    [seen] = stripe.seen
    params = stripe_api.form(seen)
    assert {k: v for k, v in params.items() if not k.startswith("line_items")} == {
        "currency": "usd",
        "customer_details[address][line1]": "Hauptstraße 1",
        "customer_details[address][city]": "Austin",
        "customer_details[address][state]": "TX",
        "customer_details[address][postal_code]": "78701",
        "customer_details[address][country]": "US",
        "customer_details[address_source]": "billing",
        "expand[0]": "line_items.data.tax_breakdown",
    }
    assert {k: v for k, v in params.items() if k.startswith("line_items[0]")} == {
        "line_items[0][amount]": "900000",  # 3 x 3,000.00 USD in cents
        "line_items[0][reference]": "1",
        "line_items[0][tax_code]": "txcd_20030000",
        "line_items[0][quantity]": "3",
        "line_items[0][tax_behavior]": "exclusive",
    }
    # the answer has every field of Stripe's example calculation, and its line items of the example line item
    examples = stripe_api.fixtures(oracles)
    answer = json.loads(json.dumps(stripe_api.calculation(oracles, seen)[2]))
    assert stripe_api.shape_problems(answer, examples["tax.calculation"]) == []
    for item in answer["line_items"]["data"]:
        assert stripe_api.shape_problems(item, examples["tax.calculation_line_item"]) == []

    draft = draft_of(stripe_ctx)
    assert draft is not None and draft.totals.tax == Decimal("990.00")  # 8.25 % of 12,000.00
    tax = draft.lines[0].tax
    assert (tax.category, tax.rate, tax.rule) == ("S", Decimal("8.25"), "us_sales_tax")
    assert (tax.evidence["engine"], tax.evidence["calculation"]) == ("stripe_tax", "taxcalc_standin000001")
    assert tax.evidence["engine_tax_amount"] == "742.50"
    assert [(j.level, j.name, j.rate) for j in tax.jurisdictions] == [
        ("state", "Texas", Decimal("6.25")),
        ("city", "AUSTIN", Decimal("1.0")),
        ("district", "CAPITAL METROPOLITAN TRANSPORTATION AUTHORITY", Decimal("1.0")),
    ]
    [issued] = issue_all_drafts(stripe_ctx, "finance@test")
    assert issued.totals.tax_inclusive == Decimal("12990.00")


def test_the_stand_ins_check_refuses_what_stripe_does_not_take() -> None:
    def seen(body: str, **headers: str) -> Seen:
        base = {"authorization": f"Bearer {stripe_api.API_KEY}", "content-type": "application/x-www-form-urlencoded"}
        return Seen("POST", stripe_api.PATH, {}, {**base, **headers}, body.encode())

    ok = "currency=usd&customer_details[address][country]=US&line_items[0][amount]=100"
    assert stripe_api.check(seen(ok)) is None
    assert "form-encoded" in (stripe_api.check(seen("{}", **{"content-type": "application/json"})) or "")
    assert "undocumented parameter line_items[0][price]" in (
        stripe_api.check(seen(ok + "&line_items[0][price]=1")) or ""
    )
    assert "not a non-negative integer" in (stripe_api.check(seen(ok.replace("=100", "=1.00"))) or "")
    assert "currency is required" in (stripe_api.check(seen(ok.replace("currency=usd&", ""))) or "")
    assert "bearer" in (stripe_api.check(seen(ok, authorization="Basic x")) or "")


@pytest.mark.parametrize("fault", ["500", "close"])
def test_an_outage_holds_the_deals_until_the_retry_drafts_them(
    stripe_ctx: AppContext, stripe: StandIn, fault: str
) -> None:
    stripe.fail("POST", stripe_api.PATH, fault)
    ingest(stripe_ctx, [austin("D-1"), austin("D-2", customer_id="C-2")])
    assert len(stripe.seen) == 1  # the second deal of the batch waits without asking again
    for deal_id in ("D-1", "D-2"):
        problem = held_problem(stripe_ctx, deal_id)
        assert (problem["code"], problem["field"]) == ("tax_undetermined", "tax.engine")
        assert "Stripe Tax did not answer" in problem["message"] and draft_of(stripe_ctx, deal_id) is None
    assert tax_holds.held(stripe_ctx, engine_only=True) == ["D-1", "D-2"]

    tax_holds.retry(stripe_ctx, "automation:tax_retry", engine_only=True)  # what the workers do every 15 minutes
    assert tax_holds.held(stripe_ctx) == []
    assert [draft_of(stripe_ctx, d).totals.tax for d in ("D-1", "D-2")] == [Decimal("990.00")] * 2  # type: ignore[union-attr]


def test_a_refusal_holds_the_deal_with_stripes_reason(stripe_ctx: AppContext, stripe: StandIn) -> None:
    ingest(stripe_ctx, [austin(billing_postal_code="73301")])  # an Austin ZIP code Stripe cannot place here
    problem = held_problem(stripe_ctx)
    assert (problem["code"], problem["field"]) == ("tax_undetermined", "tax.engine_refused")
    assert "HTTP 400 customer_tax_location_invalid" in problem["message"]
    assert "parameter customer_details[address]" in problem["message"]
    assert tax_holds.held(stripe_ctx, engine_only=True) == []  # the workers do not ask again: the data needs a fix


def test_without_an_api_key_nothing_is_taxed_at_zero(ctx: AppContext, stripe: StandIn) -> None:
    keyless = on_stripe(ctx, {"HANDOFF_STRIPE_API_URL": stripe.url})
    ingest(keyless, [event("e1", T0, **US, **AUSTIN)])
    problem = held_problem(keyless)
    assert problem["field"] == "tax.engine" and "HANDOFF_STRIPE_API_KEY" in problem["message"]
    assert stripe.seen == [] and draft_of(keyless) is None


def test_the_secret_key_is_never_in_what_a_person_sees(stripe_ctx: AppContext, stripe: StandIn) -> None:
    stripe.fail("POST", stripe_api.PATH, "500")
    ingest(stripe_ctx, [austin()])
    assert stripe_api.API_KEY not in json.dumps(held_problem(stripe_ctx))
    assert stripe_api.API_KEY not in repr(stripe_ctx.tax_engines)
