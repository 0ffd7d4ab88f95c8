"""The contract and catalog pages over HTTP, on SQLite and PostgreSQL: who sees which contract and
which form, the milestone form's refusals, user text escaped, the catalog's prices in force and the
price form (finance and admins), and the navigation's links per role."""

from __future__ import annotations

from datetime import date

import httpx

from handoff.contracts.service import catalog
from handoff.users.service import Role
from tests.e2e.conftest import Site, csrf_of, login
from tests.e2e.contract_builders import lock

F, S, A, D = Role.FINANCE, Role.SALES, Role.AUDITOR, Role.ADMIN


def _flash(client: httpx.Client, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return client.get(response.headers["location"]).text


def test_who_sees_which_contract_and_form(site: Site) -> None:
    lock(site.ctx, "D-1")
    lock(site.ctx, "C-9", subscription='<script>alert("x")</script> & more')
    with login(site, S) as sales:
        listed = sales.get("/contracts").text
        assert "/contracts/D-1" in listed and "/contracts/C-9" not in listed
        own = sales.get("/contracts/D-1")
        assert own.status_code == 200 and "10,000.00 EUR" in own.text
        assert 'name="accepted_on"' not in own.text  # no acceptance form for sales
        assert sales.get("/contracts/C-9").status_code == 403
        assert sales.get("/contracts/NOPE").status_code == 404
        nav = own.text.split("</nav>")[0]
        assert 'href="/contracts"' in nav and 'href="/catalog"' in nav and 'href="/customers"' not in nav
    with login(site, A) as auditor:
        page = auditor.get("/contracts/C-9")
        assert page.status_code == 200 and 'name="accepted_on"' not in page.text
        assert (
            "<script>alert" not in page.text
            and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more" in page.text
        )
        assert 'href="/customers"' in page.text.split("</nav>")[0]
    with login(site, F) as finance:
        page = finance.get("/contracts?customer=CUST-9")
        assert "/contracts/D-1" in page.text and "/contracts/C-9" in page.text
        assert "/contracts/D-1" not in finance.get("/contracts?customer=OTHER").text
        detail = finance.get("/contracts/C-9").text
        csrf = csrf_of(detail)
        assert 'action="/contracts/C-9/milestones/M1/accept"' in detail
        url = "/contracts/C-9/milestones/M1/accept"
        refused = _flash(
            finance, finance.post(url, data={"csrf_token": csrf, "accepted_on": "30.10.2026", "reason": "x"})
        )
        assert "accepted on must be a date" in refused
        refused = _flash(finance, finance.post(url, data={"csrf_token": csrf, "accepted_on": "2026-10-30"}))
        assert "say why" in refused
        assert finance.post(url, data={"accepted_on": "2026-10-30", "reason": "x"}).status_code == 403  # no CSRF
        unknown = finance.post(
            "/contracts/C-9/milestones/M7/accept", data={"csrf_token": csrf, "accepted_on": "2026-10-30", "reason": "x"}
        )
        assert "has no milestone M7" in _flash(finance, unknown)
        done = _flash(
            finance, finance.post(url, data={"csrf_token": csrf, "accepted_on": "2026-10-30", "reason": "ok"})
        )
        assert "Milestone M1 accepted on 2026-10-30" in done
        again = finance.post(url, data={"csrf_token": csrf, "accepted_on": "2026-10-31", "reason": "twice"})
        assert "accepted already" in _flash(finance, again)
        customer = finance.get("/customers/C-1")  # the seeded deals' customer: its page links to its contracts
        assert customer.status_code == 200 and 'href="/contracts?customer=C-1"' in customer.text


def test_catalog_pages_and_the_price_form(site: Site) -> None:
    ctx = site.ctx
    catalog.change_product(ctx, "PLAT-ANNUAL", {"name": "Platform <annual>", "unit_code": "C62"}, "test", "new")
    catalog.set_price(ctx, "PLAT-ANNUAL", "USD", "11000", date(2026, 10, 1), "test")
    with login(site, S) as sales:
        listed = sales.get("/catalog").text
        assert "Platform &lt;annual&gt;" in listed and "11000.00 USD" in listed
        product = sales.get("/catalog/PLAT-ANNUAL").text
        assert 'name="unit_price"' not in product
        csrf = csrf_of(product)
        denied = sales.post(
            "/catalog/PLAT-ANNUAL/prices", data={"csrf_token": csrf, "currency": "EUR", "unit_price": "1"}
        )
        assert denied.status_code == 403
    with login(site, F) as finance:
        product = finance.get("/catalog/PLAT-ANNUAL").text
        csrf = csrf_of(product)
        url = "/catalog/PLAT-ANNUAL/prices"
        bad = finance.post(url, data={"csrf_token": csrf, "currency": "EUR", "unit_price": "ten"})
        assert "is not a number" in _flash(finance, bad)
        past = finance.post(
            url, data={"csrf_token": csrf, "currency": "USD", "unit_price": "9", "valid_from": "2026-10-15"}
        )
        assert "Price not set" in _flash(finance, past)  # a day already past keeps its price
        done = finance.post(
            url, data={"csrf_token": csrf, "currency": "eur", "unit_price": "10000.5", "reason": "2027"}
        )
        assert "PLAT-ANNUAL costs 10000.5 EUR from 2026-11-01" in _flash(finance, done)
        listed = finance.get("/catalog").text
        assert "10000.50 EUR" in listed and "11000.00 USD" in listed
        assert finance.get("/catalog/NOPE").status_code == 404
        missing = finance.post("/catalog/NOPE/prices", data={"csrf_token": csrf, "currency": "EUR", "unit_price": "1"})
        assert missing.status_code == 404
