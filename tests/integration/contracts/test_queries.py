"""The contracts read models on SQLite and PostgreSQL: contracts paged and filtered by customer,
status and the owner of their deal; one contract in detail with the same digits from either
database; the list price in force per currency on a day."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from handoff.context import AppContext
from handoff.contracts.service import catalog, contracts
from handoff.contracts.service import queries as contract_queries
from handoff.deals.service.intake import ingest
from tests.builders import event
from tests.integration.contracts.test_billing_run import BUYER, FINANCE, _version


def test_contracts_page_filters_and_owner(ctx: AppContext, clock) -> None:  # type: ignore[no-untyped-def]
    ingest(ctx, [event("e1", clock.now, deal_id="D-7", owner_email="Owner@Acme.example")])
    contracts.lock(ctx, _version("D-7"), BUYER, FINANCE, "won")
    contracts.lock(ctx, _version("C-2"), BUYER, FINANCE, "won")
    other = replace(_version("C-3"), terms=replace(_version("C-3").terms, customer_id="CUST-8"))
    contracts.lock(ctx, other, replace(BUYER, customer_id="CUST-8"), FINANCE, "won")

    page = contract_queries.list_contracts(ctx)
    assert [c["contract_id"] for c in page.items] == ["C-2", "C-3", "D-7"] and page.total == 3
    assert page.items[2]["owner_email"].lower() == "owner@acme.example"
    assert page.items[0]["owner_email"] is None
    assert page.items[0]["customer_name"] == "Kestrel Analytics GmbH"
    assert page.items[0]["next_bill_date"] == date(2027, 1, 1)
    assert [c["contract_id"] for c in contract_queries.list_contracts(ctx, customer_id="CUST-8").items] == ["C-3"]
    assert [c["contract_id"] for c in contract_queries.list_contracts(ctx, owner="owner@acme.example").items] == ["D-7"]
    assert contract_queries.list_contracts(ctx, status="ended").total == 0
    second = contract_queries.list_contracts(ctx, limit=1, offset=1)
    assert [c["contract_id"] for c in second.items] == ["C-3"] and second.total == 3
    assert contract_queries.contract_owner(ctx, "C-2") == (True, None)
    assert contract_queries.contract_owner(ctx, "NOPE") == (False, None)


def test_contract_detail_reads_the_same_on_both_databases(ctx: AppContext) -> None:
    locked = contracts.lock(ctx, _version("C-1"), BUYER, FINANCE, "won")
    contracts.accept_milestone(ctx, "C-1", "M2", date(2027, 6, 1), FINANCE, "evt-9", reason="go-live signed")
    detail = contract_queries.contract_detail(ctx, "C-1")
    assert detail is not None and contract_queries.contract_detail(ctx, "NOPE") is None
    assert detail["versions"][0]["content_hash"] == locked.content_hash
    first = detail["schedule"][0]
    assert (first["amount"], first["quantity"], first["unit_price"]) == (
        Decimal("10000.00"),
        "1",
        Decimal("10000.00"),
    )
    assert str(first["amount"]) == "10000.00"  # cents, whichever database kept it
    m2 = detail["milestones"][1]
    assert (m2["key"], m2["accepted_on"], m2["accepted_by"], str(m2["amount"])) == (
        "M2",
        date(2027, 6, 1),
        FINANCE,
        "12000.00",
    )
    assert detail["milestones"][0]["accepted_on"] is None


def test_prices_in_force_per_currency(ctx: AppContext) -> None:
    catalog.change_product(ctx, "PLAT", {"name": "Platform"}, FINANCE, "new")
    catalog.change_product(ctx, "SUP", {"name": "Support"}, FINANCE, "new")
    catalog.set_price(ctx, "PLAT", "EUR", "100", date(2026, 12, 1), FINANCE)
    catalog.set_price(ctx, "PLAT", "EUR", "120.5", date(2027, 1, 1), FINANCE)
    catalog.set_price(ctx, "PLAT", "USD", "110", date(2026, 12, 1), FINANCE)
    catalog.set_price(ctx, "SUP", "EUR", "9.125", date(2027, 2, 1), FINANCE)

    def shown(on: date) -> dict[str, dict[str, str]]:
        found = contract_queries.prices_in_force(ctx, ["PLAT", "SUP", "NONE"], on)
        return {sku: {cur: str(p) for cur, p in by.items()} for sku, by in found.items()}

    assert shown(date(2026, 11, 30)) == {}
    assert shown(date(2026, 12, 31)) == {"PLAT": {"EUR": "100.00", "USD": "110.00"}}
    assert shown(date(2027, 2, 1)) == {"PLAT": {"EUR": "120.50", "USD": "110.00"}, "SUP": {"EUR": "9.125"}}
    assert contract_queries.prices_in_force(ctx, [], date(2027, 2, 1)) == {}
