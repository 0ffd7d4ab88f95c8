"""Resolving the review of a deal amended after invoicing over real HTTP, on SQLite and PostgreSQL:
the JSON API (difference, bill, credit, dismiss; roles; a step refused twice) and the task's page
with its forms. Seed: D-4 invoiced at 12,000.00 net (see conftest)."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import httpx
from sqlalchemy import select

from handoff.deals.service.intake import ingest
from handoff.kernel.storage import schema
from handoff.users.service import Role
from tests.builders import event
from tests.e2e.conftest import OTHER, T0, Site, csrf_of, login


def amend(site: Site, event_id: str, hours: int, **changes: str) -> int:
    """A new version of D-4, applied; the id of its review task."""
    deal = {"deal_id": "D-4", "owner_email": OTHER, "customer_id": "C-4", **changes}
    ingest(site.ctx, [event(event_id, T0 + timedelta(hours=hours), **deal)])
    t = schema.tasks
    with site.ctx.engine.connect() as conn:
        found: int = conn.execute(
            select(t.c.id).where(t.c.kind == "review_amendment", t.c.deal_id == "D-4")
        ).scalar_one()
    return found


def err(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]


def test_finance_bills_the_difference_once_and_issues_it(site: Site) -> None:
    task = amend(site, "s5", 1, amount="15000.00")
    url = f"/api/v1/tasks/{task}"
    with site.client(Role.SALES) as sales, site.client(Role.AUDITOR) as auditor:
        assert err(sales.get(url))["code"] == "forbidden"
        assert err(sales.post(f"{url}/bill"))["code"] == "forbidden"
        assert auditor.get(url).status_code == 200
        assert err(auditor.post(f"{url}/dismiss", json={"reason": "x"}))["code"] == "forbidden"
    with site.client(Role.FINANCE) as finance:
        shown = finance.get(url).json()
        assert (shown["kind"], shown["status"], shown["version_event"]) == ("review_amendment", "open", "s5")
        [change] = shown["difference"]["changes"]
        assert (change["old_amount"], change["new_amount"], change["difference"]) == ("12000.00", "15000.00", "3000.00")
        [line] = shown["difference"]["to_bill"]
        assert (line["quantity"], line["unit_price"], line["raises"]) == ("1", "3000.00", "12000.00")
        assert shown["difference"]["to_credit"] == [] and shown["resolutions"] == []

        stale = finance.post(f"{url}/bill", json={"version": "s4"})
        assert stale.status_code == 409 and err(stale)["code"] == "changed"
        billed = finance.post(f"{url}/bill", json={"note": "price raised to 15k", "version": "s5"})
        assert billed.status_code == 201, billed.text
        step = billed.json()
        assert (step["action"], step["task_status"], step["net"]) == ("bill", "done", "3000.00")
        assert step["task"]["resolutions"][0]["resolved_by"] == "user:finance@acme.example"
        for again in (finance.post(f"{url}/bill"), finance.post(f"{url}/dismiss", json={"reason": "x"})):
            assert again.status_code == 409 and err(again)["code"] == "already_resolved"
        assert len(finance.get("/api/v1/invoices", params={"status": "draft"}).json()["items"]) == 2  # D-1's, this

        issued = finance.post(f"/api/v1/invoices/{step['invoice_id']}/issue")
        assert issued.status_code == 200 and D(issued.json()["gross_amount"]) == D("3570.00"), issued.text
        assert issued.json()["number"] != site.issued_number and issued.json()["deal_ids"] == ["D-4"]
        trail = finance.get("/api/v1/orders/D-4/audit").json()
        assert any(e["action"] == "amendment.billed" and e["actor"] == "user:finance@acme.example" for e in trail)
        assert err(finance.get("/api/v1/tasks/99999"))["code"] == "not_found"


def test_a_lower_price_is_credited_by_one_person_approved_by_another_and_billed_again(site: Site) -> None:
    task = amend(site, "s5", 1, amount="9000.00")
    url = f"/api/v1/tasks/{task}"
    with site.client(Role.FINANCE) as finance, site.client(Role.ADMIN) as admin:
        diff = finance.get(url).json()["difference"]
        assert (diff["credit_net"], diff["bill_net"]) == ("12000.00", "9000.00")
        asked = finance.post(f"{url}/credit", json={"reason": "price cut to 9,000"})
        assert asked.status_code == 202, asked.text
        step = asked.json()
        assert step["task_status"] == "open" and "9000.00 EUR still to bill" in step["left"]
        [approval_id] = step["approval_ids"]
        own = finance.post(f"/api/v1/approvals/{approval_id}/approve")
        assert own.status_code == 409 and err(own)["code"] == "same_person"
        approved = admin.post(f"/api/v1/approvals/{approval_id}/approve", json={"note": "agreed"})
        assert approved.status_code == 200 and approved.json()["payload"]["amendment"]["task_id"] == task
        credit = finance.post(f"/api/v1/invoices/{approved.json()['result_invoice_id']}/issue")
        assert credit.json()["number"].startswith("CRN-") and D(credit.json()["gross_amount"]) == D("14280.00")
        assert err(finance.post(f"{url}/credit"))["code"] == "nothing_to_credit"
        rebilled = finance.post(f"{url}/bill")
        assert rebilled.status_code == 201 and rebilled.json()["task_status"] == "done"
        assert rebilled.json()["net"] == "9000.00"

    task_again = amend(site, "s6", 2, amount="9000.00", billing_contact_name="Jonas Weber")  # nothing billed changes
    assert task_again == task
    with site.client(Role.FINANCE) as finance:
        shown = finance.get(url).json()
        assert shown["status"] == "open" and shown["difference"]["to_bill"] == shown["difference"]["to_credit"] == []
        assert err(finance.post(f"{url}/bill"))["code"] == "nothing_to_bill"
        missing = finance.post(f"{url}/dismiss", json={"reason": ""})
        assert missing.status_code == 422 and err(missing)["field"] == "reason"
        done = finance.post(f"{url}/dismiss", json={"reason": "only the contact changed"})
        assert done.status_code == 200 and done.json()["task_status"] == "done"
        assert [r["action"] for r in done.json()["task"]["resolutions"]] == ["dismiss", "bill", "credit"]


def _post(client: httpx.Client, url: str, form: dict[str, str], page: str) -> tuple[str, str]:
    """Post a form as the browser does; the redirect target and the message shown there."""
    response = client.post(url, data={**form, "csrf_token": csrf_of(client.get(page).text)})
    assert response.status_code == 303, response.text
    target = response.headers["location"]
    shown = client.get(target).text
    flash = re.search(r'<div class="flash flash-(\w+)" role="status">([^<]*)</div>', shown)
    assert flash, f"no message on {target}"
    return target, f"{flash.group(1)}: {html.unescape(flash.group(2))}"


def test_the_task_page_shows_the_difference_and_resolves_it(site: Site) -> None:
    task = amend(site, "s5", 1, amount="15000.00")
    page = f"/tasks/{task}"
    with login(site, Role.SALES) as sales:
        assert sales.get(page).status_code == 403
        assert sales.post(f"{page}/bill", data={"csrf_token": csrf_of(sales.get("/account").text)}).status_code == 403
    with login(site, Role.FINANCE) as finance:
        assert f'href="/tasks/{task}"' in finance.get("/tasks").text  # from the board
        assert f'href="/tasks/{task}"' in finance.get("/deals/D-4").text  # and from the deal
        shown = finance.get(page).text
        assert "12,000.00" in shown and "15,000.00" in shown and "3,000.00 EUR" in shown
        assert "Price change from 12000.00 to 15000.00 per unit" in shown
        assert f'action="{page}/bill"' in shown and 'name="version" value="s5"' in shown
        assert f'action="{page}/credit"' not in shown  # nothing to credit

        _, flash = _post(finance, f"{page}/dismiss", {"reason": "", "version": "s5"}, page)
        assert flash == "error: Not done: dismissing an amendment needs a reason"
        target, flash = _post(finance, f"{page}/bill", {"note": "new price list", "version": "s5"}, page)
        assert target.startswith("/invoices/") and flash.startswith("ok: Invoice draft ")
        assert "Issue and send invoice" in finance.get(target).text
        done = finance.get(page).text
        assert "billed the difference" in done and "new price list" in done and f'action="{page}/bill"' not in done
        _, flash = _post(finance, f"{page}/bill", {"version": "s5"}, page)
        assert flash.startswith("error: Not done: task ") and "already resolved" in flash
