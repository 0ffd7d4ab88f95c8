"""The customer master over real HTTP: finance reads and replaces a record (a new version, audited
with the user), auditors read but may not change, sales may do neither; refused records name the
field; the customer page shows the record, its versions, its invoices and what is open."""

from __future__ import annotations

from typing import Any

import httpx

from handoff.users.service import Role
from tests.e2e.conftest import EMAILS, Site, login

RECORD: dict[str, Any] = {
    "legal_name": "Kestrel Labs GmbH",
    "vat_ids": {"DE": "DE136695976"},
    "billing_contacts": [{"name": "AP", "email": "invoices@kestrel.de"}],
    "invoice_language": "de",
    "delivery_channel": "peppol",
    "peppol_id": "0088:1234567890128",
    "billing_address": {"street": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
    "reason": "customer master set up",
}


def err(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]


def test_finance_replaces_a_record_as_a_new_version_others_are_refused(site: Site) -> None:
    with site.client(Role.SALES) as api:
        assert api.get("/api/v1/customers").status_code == 403
        assert api.put("/api/v1/customers/C-1", json=RECORD).status_code == 403
    with site.client(Role.AUDITOR) as api:
        assert api.get("/api/v1/customers/C-1").json()["version"] is None  # as intake stored it
        assert api.put("/api/v1/customers/C-1", json=RECORD).status_code == 403
    with site.client(Role.FINANCE) as api:
        listed = api.get("/api/v1/customers", params={"text": "C-"}).json()
        assert [c["customer_id"] for c in listed["items"]] == ["C-1", "C-4"]
        assert err(api.put("/api/v1/customers/C-404", json=RECORD))["code"] == "not_found"
        bad = err(api.put("/api/v1/customers/C-1", json={**RECORD, "peppol_id": "0088:1234567890123"}))
        assert (bad["code"], bad["field"]) == ("invalid_request", "peppol_id") and "'C-1'" in bad["message"]
        assert err(api.put("/api/v1/customers/C-1", json={**RECORD, "colour": "red"}))["field"] == "colour"
        done = api.put("/api/v1/customers/C-1", json=RECORD)
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["version"] == 2 and [v["version"] for v in body["versions"]] == [1, 2]
        assert body["record"]["delivery_channel"] == "peppol" and body["record"]["invoice_language"] == "de"
        assert body["versions"][0]["record"]["invoice_language"] == "en"  # version 1 as it was
        earlier = api.get("/api/v1/customers/C-1", params={"as_of": "2026-01-01"}).json()
        assert earlier["version"] == 1 and earlier["record"]["billing_contacts"][0]["email"] == "ap@kestrel.de"
        trail = api.get("/api/v1/audit/customer/C-1").json()
        assert any(e["actor"] == f"user:{EMAILS[Role.FINANCE]}" and e["action"] == "customer.updated" for e in trail)


def test_the_customer_page_shows_record_versions_invoices_and_open_balance(site: Site) -> None:
    with site.client(Role.ADMIN) as api:
        assert api.put("/api/v1/customers/C-4", json={**RECORD, "legal_name": "Kestrel Four"}).status_code == 200
    with login(site, Role.FINANCE) as browser:
        record = browser.get("/customers/C-4").text
        assert "Kestrel Four" in record and "0088:1234567890128" in record and "customer master set up" in record
        assert "Kestrel Labs GmbH" in browser.get("/customers/C-4", params={"as_of": "2026-01-01"}).text
        page = browser.get("/customers/C-4")
        assert page.status_code == 200
        assert site.issued_number in page.text and "Open balance" in page.text
        assert "Kestrel Labs GmbH" in browser.get("/customers").text
        assert browser.get("/customers/C-404").status_code == 404
    with login(site, Role.SALES) as browser:
        assert browser.get("/customers/C-4").status_code == 403
