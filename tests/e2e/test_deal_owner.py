"""Who may own a deal, over real HTTP on SQLite and PostgreSQL: a fix (API and page) may hand a deal
only to an active sales, finance or admin user, compared on the normalised address, and the change
is audited; a CRM naming anybody else has the deal's exceptions routed to finance with a problem on
`owner_email`, never to the outside address."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from handoff.deals.service.intake import ingest
from handoff.kernel.storage import schema
from handoff.users import service as users
from handoff.users.service import Role
from tests.builders import event
from tests.e2e.conftest import EMAILS, SALES, T0, Site, csrf_of, login

OUTSIDE = "someone@outside.example"
FINANCE = EMAILS[Role.FINANCE]


def owner_of(site: Site, deal_id: str) -> str:
    with site.client(Role.FINANCE) as api:
        return str(api.get(f"/api/v1/orders/{deal_id}").json()["owner_email"])


def exception_of(site: Site, deal_id: str) -> dict[str, Any]:
    with site.client(Role.FINANCE) as api:
        items = api.get("/api/v1/exceptions", params={"limit": 200}).json()["items"]
    return next(i for i in items if i["deal_id"] == deal_id)


def error(response: httpx.Response, status: int = 409) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


@pytest.mark.parametrize("given", [OUTSIDE, EMAILS[Role.AUDITOR], "retired@acme.example"])
def test_api_fix_refuses_an_owner_who_is_no_active_sales_finance_or_admin_user(site: Site, given: str) -> None:
    retired = users.add_user(site.ctx, "retired@acme.example", Role.SALES, "pw-retired-12345-x", actor="test")
    users.set_active(site.ctx, retired.id, False, actor="test")
    with site.client(Role.SALES) as api:
        refused = error(api.patch("/api/v1/orders/D-2", json={"owner_email": given}))
        assert refused["field"] == "owner_email" and "D-2" in refused["message"]
        assert error(api.patch("/api/v1/orders/D-2", json={"po_number": "PO-9", "owner_email": given}))
        for malformed in ("not an address", f"{SALES}@x", "", f"{SALES}.", "a@b"):  # refused by the schema
            assert (
                error(api.patch("/api/v1/orders/D-2", json={"owner_email": malformed}), 422)["field"] == "owner_email"
            )
    assert owner_of(site, "D-2") == SALES
    assert exception_of(site, "D-2")["owner"] == SALES  # nothing half-written: the PO is not taken either
    assert [p["field"] for p in exception_of(site, "D-2")["problems"]] == ["po_number"]


def test_api_fix_hands_a_deal_to_a_user_by_the_normalised_address_and_audits_it(site: Site) -> None:
    with site.client(Role.SALES) as api:
        moved = api.patch("/api/v1/orders/D-2", json={"owner_email": "Ｆinance@ACME.example"})
        assert moved.status_code == 200, moved.text
        assert moved.json()["owner_email"] == FINANCE
        assert api.get("/api/v1/orders/D-2").status_code == 403  # no longer theirs
    assert exception_of(site, "D-2")["owner"] == FINANCE
    with site.client(Role.AUDITOR) as api:
        trail = api.get("/api/v1/orders/D-2/audit").json()
    change = [e for e in trail if e["action"] == "order.version_applied" and e["actor"] == f"user:{SALES}"]
    assert [(e["before"]["owner_email"], e["after"]["owner_email"]) for e in change] == [(SALES, FINANCE)]


def test_page_fix_refuses_an_outside_owner_and_takes_a_user(site: Site) -> None:
    with login(site, Role.SALES) as browser:
        csrf = csrf_of(browser.get("/deals/D-2").text)
        refused = browser.post("/deals/D-2/fix", data={"owner_email": OUTSIDE, "csrf_token": csrf, "back": "/deals"})
        assert refused.status_code == 303
        page = browser.get("/deals").text
        assert "not saved" in page and "owner_email" in page
        assert owner_of(site, "D-2") == SALES
        taken = browser.post("/deals/D-2/fix", data={"owner_email": "Sales@Acme.Example", "csrf_token": csrf})
        assert taken.status_code == 303
    assert owner_of(site, "D-2") == SALES
    with login(site, Role.FINANCE) as browser:
        csrf = csrf_of(browser.get("/deals/D-3").text)
        browser.post("/deals/D-3/fix", data={"owner_email": SALES.upper(), "csrf_token": csrf})
    assert owner_of(site, "D-3") == SALES and exception_of(site, "D-3")["owner"] == SALES


def test_crm_owner_who_is_no_user_routes_the_exception_to_finance_with_a_problem(site: Site) -> None:
    finance = site.ctx.config.model.notifications.finance_email.lower()
    ingest(site.ctx, [event("o1", T0, deal_id="D-9", owner_email=OUTSIDE, po_number="")])
    found = exception_of(site, "D-9")
    assert found["owner"] == finance
    assert {p["field"] for p in found["problems"]} == {"po_number", "owner_email"}
    assert OUTSIDE in next(p["message"] for p in found["problems"] if p["field"] == "owner_email")
    with site.client(Role.FINANCE) as api:
        by_reason = api.get("/api/v1/exceptions", params={"reason": "owner_email"}).json()["items"]
        assert {i["deal_id"] for i in by_reason} == {"D-3", "D-9"}  # D-3's owner is no user either
    with site.ctx.engine.connect() as conn:
        recipients = " ".join(str(r) for r in conn.execute(select(schema.outbox)).all())
    assert OUTSIDE not in recipients  # nothing about the deal is sent to the outside address
    # a user's address spelled otherwise is that user; a fix naming a user moves the exception
    ingest(site.ctx, [event("o2", T0, deal_id="D-10", owner_email="SALES@acme.example.", po_number="")])
    assert exception_of(site, "D-10")["owner"] == SALES
    assert {p["field"] for p in exception_of(site, "D-10")["problems"]} == {"po_number"}
    with site.client(Role.FINANCE) as api:
        assert api.patch("/api/v1/orders/D-9", json={"owner_email": SALES}).status_code == 200
    assert exception_of(site, "D-9")["owner"] == SALES
    assert {p["field"] for p in exception_of(site, "D-9")["problems"]} == {"po_number"}
    # the owner is not billed: a ready deal with an outside owner still flows to an invoice draft
    ingest(site.ctx, [event("o3", T0, deal_id="D-11", owner_email=OUTSIDE)])
    with site.client(Role.FINANCE) as api:
        assert api.get("/api/v1/orders/D-11").json()["state"] == "drafted"
