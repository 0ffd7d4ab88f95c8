"""The customer master and catalog forms over HTTP, on SQLite and PostgreSQL: finance changes a
customer's record (a new version) and a product (a new product version); sales is refused; a bad
VAT id is refused naming its field with nothing written; user text is shown escaped."""

from __future__ import annotations

import httpx

from handoff.contracts.service import catalog
from handoff.customers.service import get_customer
from handoff.users.service import Role
from tests.e2e.conftest import EMAILS, Site, csrf_of, login

F, S = Role.FINANCE, Role.SALES


def _flash(client: httpx.Client, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return client.get(response.headers["location"]).text


def _customer_form(page: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf_of(page),
        "legal_name": "Kestrel Labs GmbH",
        "contact_name": "AP",
        "billing_email": "ap@kestrel.de",
        "vat_id": "",
        "invoice_language": "en",
        "delivery_channel": "email",
        "peppol_id": "",
        "reason": "billing moved",
    }
    return {**form, **changes}


def test_finance_changes_a_customer_sales_is_refused_bad_input_named(site: Site) -> None:
    with login(site, S) as sales:
        csrf = csrf_of(sales.get("/account").text)
        refused = sales.post("/customers/C-1", data={"csrf_token": csrf, "legal_name": "X", "reason": "x"})
        assert refused.status_code == 403
    with login(site, F) as finance:
        page = finance.get("/customers/C-1").text
        assert 'action="/customers/C-1"' in page and 'name="billing_email"' in page
        assert finance.post("/customers/C-1", data={"legal_name": "X", "reason": "x"}).status_code == 403  # no CSRF
        no_reason = finance.post("/customers/C-1", data=_customer_form(page, reason=""))
        assert "say why" in _flash(finance, no_reason)
        done = finance.post("/customers/C-1", data=_customer_form(page, billing_email="billing@kestrel.de"))
        shown = _flash(finance, done)
        assert "Customer C-1: version 2" in shown and "billing@kestrel.de" in shown and "billing moved" in shown
        view = get_customer(site.ctx, "C-1", site.ctx.clock().date())
        assert view is not None and view.version is not None and view.version.version == 2
        assert view.version.changed_by == f"user:{EMAILS[F]}"
        page = finance.get("/customers/C-1").text
        bad = finance.post("/customers/C-1", data=_customer_form(page, vat_id="DE123", reason="bad vat"))
        said = _flash(finance, bad)
        assert "Customer not changed" in said and "vat_ids" in said
        after = get_customer(site.ctx, "C-1", site.ctx.clock().date())
        assert after is not None and [v.version for v in after.versions] == [1, 2]
        escaped = finance.post(
            "/customers/C-1", data=_customer_form(page, legal_name='<script>alert("x")</script> Kestrel')
        )
        text = _flash(finance, escaped)
        assert "<script>alert" not in text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Kestrel" in text


def test_finance_changes_a_product_sales_is_refused(site: Site) -> None:
    ctx = site.ctx
    catalog.change_product(ctx, "PLAT-ANNUAL", {"name": "Platform annual", "unit_code": "C62"}, "test", "new")
    before = catalog.show_product(ctx, "PLAT-ANNUAL")
    assert before is not None
    with login(site, S) as sales:
        page = sales.get("/catalog/PLAT-ANNUAL").text
        assert 'action="/catalog/PLAT-ANNUAL"' not in page
        denied = sales.post("/catalog/PLAT-ANNUAL", data={"csrf_token": csrf_of(page), "name": "X", "reason": "x"})
        assert denied.status_code == 403
    with login(site, F) as finance:
        page = finance.get("/catalog/PLAT-ANNUAL").text
        assert 'action="/catalog/PLAT-ANNUAL"' in page
        form = {
            "csrf_token": csrf_of(page),
            "name": '<script>alert("p")</script> Platform',
            "unit_code": before["unit_code"],
            "tax_category": before["tax_category"],
            "gl_account": before["gl_account"],
            "revenue_rule": before["revenue_rule"],
            "active": "1",
            "reason": "renamed",
        }
        assert "say why" in _flash(finance, finance.post("/catalog/PLAT-ANNUAL", data={**form, "reason": ""}))
        shown = _flash(finance, finance.post("/catalog/PLAT-ANNUAL", data=form))
        assert f"Product PLAT-ANNUAL changed: version {before['version'] + 1}" in shown
        assert "<script>alert" not in shown and "&lt;script&gt;alert(&#34;p&#34;)&lt;/script&gt; Platform" in shown
        after = catalog.show_product(ctx, "PLAT-ANNUAL")
        assert after is not None and after["version"] == before["version"] + 1
        assert after["name"] == '<script>alert("p")</script> Platform'
        missing = finance.post("/catalog/NOPE", data=form)
        assert missing.status_code == 404
