"""Every route of the app × every role: forbidden pairs are denied (401/403, or the login page
for an anonymous browser), allowed pairs are not. The routes are enumerated from the app itself,
so a new route fails this test until its roles are written down here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import Mount

from handoff.users.service import Role
from tests.builders import GOOD
from tests.e2e.conftest import EMAILS, PASSWORDS, Site, csrf_of, login

S, F, A, D = Role.SALES, Role.FINANCE, Role.AUDITOR, Role.ADMIN
ALL = frozenset(Role)
READ = frozenset({F, A, D})
WRITE = frozenset({F, D})
ADMIN = frozenset({D})
PUBLIC = "public"
WEBHOOK = "webhook token"  # machine-to-machine: no user role, only the shared token
SIGNED = "vendor signature"  # CRM webhooks: only the CRM's signature counts (404 for an unconfigured CRM)

EXPECTED: dict[tuple[str, str], frozenset[Role] | str] = {
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/api/v1/docs"): PUBLIC,
    ("GET", "/api/v1/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/api/v1/health"): PUBLIC,
    ("POST", "/api/v1/webhooks/deals/{source}"): WEBHOOK,
    ("POST", "/api/v1/webhooks/crm/{source}"): SIGNED,
    ("POST", "/slack/interactions"): SIGNED,
    ("GET", "/api/v1/orders"): ALL,
    ("GET", "/api/v1/orders/{deal_id}"): ALL,
    ("PATCH", "/api/v1/orders/{deal_id}"): frozenset({S, F, D}),
    ("GET", "/api/v1/orders/{deal_id}/audit"): ALL,
    ("GET", "/api/v1/exceptions"): ALL,
    ("GET", "/api/v1/tasks"): READ,
    ("GET", "/api/v1/tasks/{task_id}"): READ,
    ("POST", "/api/v1/tasks/{task_id}/bill"): WRITE,
    ("POST", "/api/v1/tasks/{task_id}/credit"): WRITE,
    ("POST", "/api/v1/tasks/{task_id}/dismiss"): WRITE,
    ("GET", "/api/v1/invoices"): READ,
    ("GET", "/api/v1/invoices/{invoice_id}"): READ,
    ("POST", "/api/v1/invoices/{invoice_id}/issue"): WRITE,
    ("PUT", "/api/v1/invoices/{invoice_id}/billing-contact"): WRITE,
    ("GET", "/api/v1/invoices/{invoice_id}/document"): READ,
    ("GET", "/api/v1/payments"): READ,
    ("POST", "/api/v1/payments"): WRITE,
    ("POST", "/api/v1/invoices/{number}/credit-notes"): WRITE,
    ("POST", "/api/v1/credit-notes/{invoice_id}/void"): WRITE,
    ("GET", "/api/v1/credits"): READ,
    ("GET", "/api/v1/credits/allocations"): READ,
    ("POST", "/api/v1/invoices/{number}/apply-credit"): WRITE,
    ("POST", "/api/v1/credits/refunds"): WRITE,
    ("GET", "/api/v1/approvals"): READ,
    ("POST", "/api/v1/approvals/{approval_id}/approve"): WRITE,
    ("POST", "/api/v1/approvals/{approval_id}/reject"): WRITE,
    ("GET", "/api/v1/catalog/products"): ALL,
    ("GET", "/api/v1/catalog/products/{sku}"): ALL,
    ("PUT", "/api/v1/catalog/products/{sku}"): WRITE,
    ("PUT", "/api/v1/catalog/products/{sku}/prices/{currency}"): WRITE,
    ("GET", "/api/v1/me"): ALL,
    ("POST", "/api/v1/me/tokens"): ALL,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("PATCH", "/api/v1/users/{user_id}"): ADMIN,
    ("POST", "/api/v1/users/{user_id}/unlock"): ADMIN,
    ("GET", "/api/v1/metrics"): READ,
    ("GET", "/api/v1/forecast"): READ,
    ("GET", "/api/v1/forecast.csv"): READ,
    ("GET", "/api/v1/forecast/backtest"): READ,
    ("GET", "/api/v1/audit/verify"): frozenset({A, D}),
    ("GET", "/api/v1/audit/{entity_type}/{entity_id}"): READ,
    ("GET", "/api/v1/settings"): ADMIN,
    ("GET", "/api/v1/customers"): READ,
    ("GET", "/api/v1/customers/{customer_id}"): READ,
    ("PUT", "/api/v1/customers/{customer_id}"): WRITE,
    ("GET", "/api/v1/contracts"): ALL,  # sales: the contracts of the deals they own
    ("GET", "/api/v1/contracts/{contract_id}"): ALL,
    ("POST", "/api/v1/contracts/{contract_id}/milestones/{key}/accept"): WRITE,
    ("POST", "/api/v1/contracts/{contract_id}/change-orders"): WRITE,
    ("POST", "/api/v1/billing/runs"): WRITE,
    # sales: the projects they own or manage (403 otherwise)
    ("GET", "/api/v1/projects/{project_id}/health"): ALL,
    ("GET", "/api/v1/projects"): ALL,
    ("GET", "/api/v1/projects/{project_id}"): ALL,
    ("PUT", "/api/v1/projects/{project_id}/plan"): WRITE,
    ("POST", "/api/v1/projects/{project_id}/close-period"): WRITE,
    # approving and rejecting delivery: finance, admins and the project's manager (any role)
    ("POST", "/api/v1/projects/{project_id}/approve"): ALL,
    ("POST", "/api/v1/projects/{project_id}/reject"): ALL,
    ("POST", "/api/v1/time-entries"): WRITE,
    ("POST", "/api/v1/expenses"): WRITE,
    ("POST", "/api/v1/milestone-acceptances"): WRITE,
    ("POST", "/api/v1/delivery/postings"): WRITE,
    ("POST", "/api/v1/webhooks/delivery/{source}"): SIGNED,  # the source's HMAC secret (404 unconfigured)
    # usage-based billing: events from finance and admins (or the signed webhook), metrics and prices
    ("POST", "/api/v1/usage"): WRITE,
    ("POST", "/api/v1/webhooks/usage/{source}"): SIGNED,  # the platform's HMAC secret (404 unconfigured)
    ("GET", "/api/v1/usage/current"): READ,
    ("GET", "/api/v1/usage/metrics"): READ,
    ("GET", "/api/v1/usage/metrics/{code}"): READ,
    ("PUT", "/api/v1/usage/metrics/{code}"): WRITE,
    ("PUT", "/api/v1/contracts/{contract_id}/lines/{key}/usage-price"): WRITE,
    # the browser UI
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): ALL,
    ("GET", "/"): ALL,
    ("GET", "/exceptions"): ALL,
    ("GET", "/deals"): ALL,
    ("GET", "/deals/{deal_id}"): ALL,
    ("POST", "/deals/{deal_id}/fix"): frozenset({S, F, D}),
    ("GET", "/tasks"): READ,
    ("GET", "/tasks/{task_id}"): READ,
    ("POST", "/tasks/{task_id}/bill"): WRITE,
    ("POST", "/tasks/{task_id}/credit"): WRITE,
    ("POST", "/tasks/{task_id}/dismiss"): WRITE,
    ("GET", "/invoices"): READ,
    ("GET", "/invoices/{invoice_id}"): READ,
    ("POST", "/invoices/{invoice_id}/issue"): WRITE,
    ("POST", "/invoices/{invoice_id}/billing-contact"): WRITE,
    ("POST", "/invoices/{invoice_id}/credit-notes"): WRITE,
    ("POST", "/invoices/{invoice_id}/void"): WRITE,
    ("POST", "/invoices/{invoice_id}/apply-credit"): WRITE,
    ("GET", "/credits"): READ,
    ("POST", "/credits/refund"): WRITE,
    ("GET", "/approvals"): READ,
    ("POST", "/approvals/{approval_id}/approve"): WRITE,
    ("POST", "/approvals/{approval_id}/reject"): WRITE,
    ("GET", "/payments"): READ,
    ("POST", "/payments"): WRITE,
    ("GET", "/dashboard"): READ,
    ("GET", "/charts/{name}.svg"): READ,
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("POST", "/admin/users/{user_id}/active"): ADMIN,
    ("POST", "/admin/users/{user_id}/unlock"): ADMIN,
    ("GET", "/admin/inbox"): ADMIN,
    ("POST", "/admin/inbox/{inbox_id}/retry"): ADMIN,
    ("POST", "/admin/inbox/retry-all"): ADMIN,
    ("GET", "/account"): ALL,
    ("POST", "/account/tokens"): ALL,
    ("POST", "/account/password"): ALL,
    ("GET", "/customers"): READ,
    ("GET", "/customers/{customer_id}"): READ,
    ("POST", "/customers/{customer_id}"): WRITE,
    ("GET", "/contracts"): ALL,
    ("GET", "/contracts/{contract_id}"): ALL,
    ("POST", "/contracts/{contract_id}/milestones/{key}/accept"): WRITE,
    ("GET", "/catalog"): ALL,
    ("GET", "/catalog/{sku}"): ALL,
    ("POST", "/catalog/{sku}/prices"): WRITE,
    ("POST", "/catalog/{sku}"): WRITE,
    # sales see the projects they own or manage; approving: finance, admins and the project's manager (any role)
    ("GET", "/projects"): ALL,
    ("GET", "/projects/{project_id}"): ALL,
    ("GET", "/projects/{project_id}/charts/{name}.svg"): ALL,
    ("POST", "/projects/{project_id}/approve"): ALL,
    ("GET", "/usage/metrics"): READ,
}


def _walk(routes: list[Any]) -> Iterator[tuple[str, str]]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI keeps included routers as they were built
            yield from _walk(route.original_router.routes)
        elif isinstance(route, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}"  # static files: public
        else:
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, route.path


def app_routes(site: Site) -> list[tuple[str, str]]:
    return list(_walk(site.app.routes))


def test_every_route_is_in_the_matrix(site: Site) -> None:
    routes = app_routes(site)
    assert len(routes) == len(set(routes))
    assert set(routes) == set(EXPECTED), {
        "not in the matrix": set(routes) - set(EXPECTED),
        "no longer in the app": set(EXPECTED) - set(routes),
    }


def _url(site: Site, path: str) -> str:
    return path.format(
        deal_id="D-1",
        invoice_id=site.draft_id,
        user_id=site.user_ids[A],
        entity_type="order",
        entity_id="D-1",
        source="crm",
        name="states",
        number=site.issued_number,
        approval_id=1,
        task_id=1,
        inbox_id=1,
        customer_id="C-1",
        sku="SUP-STD",
        currency="EUR",
        contract_id="D-1",
        key="M1",
        project_id="PRJ-D-1",
        code="api_calls",
    )


def _json_body(site: Site, method: str, path: str, who: str) -> dict[str, object] | None:
    bodies: dict[tuple[str, str], dict[str, object]] = {
        ("PATCH", "/api/v1/orders/{deal_id}"): {"billing_city": "Berlin"},
        ("POST", "/api/v1/payments"): {"invoice_number": site.issued_number, "amount": "1.00", "paid_on": "2026-11-01"},
        ("POST", "/api/v1/me/tokens"): {"name": "matrix"},
        ("PUT", "/api/v1/catalog/products/{sku}"): {"name": "Standard support", "unit_code": "MON"},
        ("PUT", "/api/v1/catalog/products/{sku}/prices/{currency}"): {"unit_price": "100.00"},
        ("POST", "/api/v1/contracts/{contract_id}/milestones/{key}/accept"): {"date": "2026-11-01", "reason": "m"},
        ("POST", "/api/v1/contracts/{contract_id}/change-orders"): {
            "key": f"CO-{who}",
            "effective": "2026-11-01",
            "reason": "matrix",
            "changes": [{"type": "terminate", "on": "2026-12-01"}],
        },
        ("POST", "/api/v1/billing/runs"): {"date": "2026-11-01"},
        ("POST", "/api/v1/invoices/{number}/credit-notes"): {"reason": "matrix"},
        ("POST", "/api/v1/approvals/{approval_id}/reject"): {"note": "matrix"},
        ("POST", "/api/v1/credit-notes/{invoice_id}/void"): {"reason": "matrix"},
        ("POST", "/api/v1/tasks/{task_id}/dismiss"): {"reason": "matrix"},
        ("PUT", "/api/v1/invoices/{invoice_id}/billing-contact"): {"billing_email": "ap@x.example", "reason": "m"},
        ("POST", "/api/v1/users"): {"email": f"matrix-{who}@acme.example", "role": "sales", "password": "long-pass-1"},
        ("PATCH", "/api/v1/users/{user_id}"): {"active": True},
        ("POST", "/api/v1/webhooks/deals/{source}"): {"event_id": f"matrix-{who}", "deal": GOOD},
        ("POST", "/api/v1/usage"): {
            "transaction_id": f"matrix-{who}",
            "customer": "C-1",
            "metric": "api_calls",
            "timestamp": "2026-11-01T08:00:00Z",
        },
        ("PUT", "/api/v1/usage/metrics/{code}"): {"aggregation": "count"},
        ("PUT", "/api/v1/contracts/{contract_id}/lines/{key}/usage-price"): {"model": "per_unit", "unit_price": "0.01"},
    }
    return bodies.get((method, path))


def _form(site: Site, path: str, who: str) -> dict[str, str]:
    forms = {
        "/deals/{deal_id}/fix": {"billing_city": "Berlin"},
        "/payments": {"invoice_number": site.issued_number, "amount": "1.00", "paid_on": "2026-11-01"},
        "/admin/users": {"email": f"ui-{who}@acme.example", "role": "auditor", "password": "long-pass-1"},
        "/admin/users/{user_id}/active": {"active": "1"},
        "/account/tokens": {"name": "matrix"},
        "/invoices/{invoice_id}/credit-notes": {"reason": "matrix"},
        "/approvals/{approval_id}/reject": {"note": "matrix"},
        "/invoices/{invoice_id}/void": {"reason": "matrix"},
        "/tasks/{task_id}/dismiss": {"reason": "matrix"},
        "/invoices/{invoice_id}/billing-contact": {"billing_email": "ap@x.example", "reason": "matrix"},
        "/contracts/{contract_id}/milestones/{key}/accept": {"accepted_on": "2026-11-01", "reason": "matrix"},
        "/catalog/{sku}/prices": {"currency": "EUR", "unit_price": "100.00"},
        "/customers/{customer_id}": {"legal_name": "Kestrel Labs GmbH", "reason": "matrix"},
        "/catalog/{sku}": {
            "name": "Standard support",
            "unit_code": "MON",
            "tax_category": "standard",
            "revenue_rule": "point_in_time",
            "active": "1",
            "reason": "matrix",
        },
        "/login": {"email": EMAILS[F], "password": PASSWORDS[F]},
    }
    return forms.get(path, {})


def call(site: Site, client: httpx.Client, method: str, path: str, who: str, csrf: str) -> httpx.Response:
    url = _url(site, path)
    if path.startswith("/api/"):
        return client.request(method, url, json=_json_body(site, method, path, who))
    if method == "POST":
        return client.post(url, data={**_form(site, path, who), "csrf_token": csrf})
    return client.get(url)


def denied(path: str, response: httpx.Response) -> bool:
    if response.status_code in (401, 403):
        return True
    signed = ("/api/v1/webhooks/crm/", "/api/v1/webhooks/delivery/", "/api/v1/webhooks/usage/")
    if path.startswith(signed) or path == "/slack/interactions":
        return response.status_code == 404  # no such CRM or source / no Slack configured: nothing accepted either
    return (
        not path.startswith("/api/")
        and response.status_code == 303
        and response.headers["location"].startswith("/login?next=")
    )


def ordered(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted(routes, key=lambda r: r == ("POST", "/logout"))  # logging out last


def test_anonymous_is_denied_everywhere_but_public_routes(site: Site) -> None:
    with httpx.Client(base_url=site.url, timeout=30, follow_redirects=False) as client:
        csrf = csrf_of(client.get("/login").text)
        for method, path in ordered(app_routes(site)):
            expected = EXPECTED[(method, path)]
            response = call(site, client, method, path, "anon", csrf)
            if expected == PUBLIC:
                assert not denied(path, response), (method, path, response.status_code)
                client.cookies.clear()
                csrf = csrf_of(client.get("/login").text)
            else:
                assert denied(path, response), (method, path, response.status_code)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_on_every_route(site: Site, role: Role) -> None:
    failures = []
    with login(site, role) as browser, site.client(role, follow_redirects=False) as api:
        csrf = csrf_of(browser.get("/account").text)
        for method, path in ordered(app_routes(site)):
            expected = EXPECTED[(method, path)]
            if expected == PUBLIC or (method, path) == ("POST", "/login"):
                continue
            client = api if path.startswith("/api/") else browser
            response = call(site, client, method, path, role.value, csrf)
            allowed = expected not in (WEBHOOK, SIGNED) and role in expected  # type: ignore[operator]
            if denied(path, response) == allowed or response.status_code >= 500:
                failures.append((method, path, response.status_code, response.text[:120]))
    assert not failures, failures


def test_sales_is_denied_other_owners_deals(site: Site) -> None:
    with site.client(S) as api:
        for method, path, body in (
            ("GET", "/api/v1/orders/D-3", None),
            ("GET", "/api/v1/orders/D-3/audit", None),
            ("PATCH", "/api/v1/orders/D-3", {"po_number": "X"}),
            ("GET", "/api/v1/exceptions?owner=other.sales@acme.example", None),
        ):
            assert api.request(method, path, json=body).status_code == 403, path
    with login(site, S) as browser:
        csrf = csrf_of(browser.get("/account").text)
        assert browser.get("/deals/D-3").status_code == 403
        assert browser.post("/deals/D-3/fix", data={"po_number": "X", "csrf_token": csrf}).status_code == 403
        assert "D-3" not in browser.get("/exceptions").text


def test_webhook_needs_its_token(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        url = "/api/v1/webhooks/deals/crm"
        assert client.post(url, json={"deal": GOOD}).status_code == 401
        assert client.post(url, json={"deal": GOOD}, headers={"X-Handoff-Token": "s3cret"}).status_code == 202
