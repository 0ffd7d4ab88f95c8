"""Credit notes through the browser UI (server-rendered forms over HTTP): asked for on an issued
invoice's page, decided on the approvals page by someone else; the same rules as the API."""

from __future__ import annotations

import html
import re

import httpx
from sqlalchemy import func, select

from handoff.kernel.storage import schema
from handoff.users.service import Role
from tests.e2e.conftest import Site, csrf_of, login


def _invoice_id(site: Site, number: str) -> int:
    with site.ctx.engine.connect() as conn:
        found: int = conn.execute(select(schema.invoices.c.id).where(schema.invoices.c.number == number)).scalar_one()
    return found


def _approvals(site: Site) -> list[tuple[int, str, str]]:
    a = schema.approvals
    with site.ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(a.c.id, a.c.status, a.c.requested_by).order_by(a.c.id))]


def _waiting(page: str) -> int | None:
    """The count of approvals waiting, as the navigation shows it (None: no count shown)."""
    found = re.search(r'<span class="nav-count"[^>]*>(\d+)</span>', page)
    return int(found.group(1)) if found else None


def _post(client: httpx.Client, url: str, form: dict[str, str], page: str = "/approvals") -> tuple[str, str]:
    """Post a form as the browser does (with the CSRF secret of a page); the redirect target and
    the flash message shown there."""
    response = client.post(url, data={**form, "csrf_token": csrf_of(client.get(page).text)})
    assert response.status_code == 303, response.text
    target = response.headers["location"]
    shown = client.get(target).text
    flash = re.search(r'<div class="flash flash-(\w+)" role="status">([^<]*)</div>', shown)
    assert flash, f"no message on {target}"
    return target, f"{flash.group(1)}: {html.unescape(flash.group(2))}"


def test_one_person_asks_for_a_credit_note_and_another_approves_it(site: Site) -> None:
    invoice_id = _invoice_id(site, site.issued_number)
    with login(site, Role.FINANCE) as finance:
        page = finance.get(f"/invoices/{invoice_id}").text
        assert f'action="/invoices/{invoice_id}/credit-notes"' in page
        target, flash = _post(
            finance,
            f"/invoices/{invoice_id}/credit-notes",
            {"reason": "licences returned"},
            page=f"/invoices/{invoice_id}",
        )
        assert target == f"/invoices/{invoice_id}"
        assert flash.startswith("ok: Credit note of ") and "waits for another finance user" in flash
        [(approval_id, status, requested_by)] = _approvals(site)
        assert (status, requested_by) == ("pending", "user:finance@acme.example")
        assert "waiting for approval" in finance.get(f"/invoices/{invoice_id}").text

        queue = finance.get("/approvals").text
        assert f'id="approval-{approval_id}"' in queue and "licences returned" in queue
        assert _waiting(finance.get("/invoices").text) == 1  # on the navigation of every finance page
        assert f"/approvals/{approval_id}/approve" not in queue  # no Approve button on one's own request
        assert "someone else must approve it" in queue
        # nor does the server take it when posted anyway
        _, flash = _post(finance, f"/approvals/{approval_id}/approve", {"note": ""})
        assert flash.startswith("error: ") and "someone else must approve it" in flash
        assert _approvals(site)[0][1] == "pending"

    with login(site, Role.ADMIN) as admin:
        assert f"/approvals/{approval_id}/approve" in admin.get("/approvals").text
        target, flash = _post(admin, f"/approvals/{approval_id}/approve", {"note": "checked the return"})
        assert flash == f"ok: Credit note for {site.issued_number} approved; its draft is below, to issue."
        draft_id = int(target.rsplit("/", 1)[1])
        draft = admin.get(target).text
        assert f"Draft credit note {draft_id}" in draft and "Issue and send credit note" in draft
        decided = admin.get("/approvals").text
        assert "Nothing waits for approval." in decided and _waiting(decided) is None
        assert f'id="decided-{approval_id}"' in decided and "checked the return" in decided
    assert _approvals(site)[0][1] == "approved"
    with site.ctx.engine.connect() as conn:
        a = schema.audit_log
        actor = conn.execute(select(a.c.actor).where(a.c.action == "credit_note.approved")).scalar_one()
    assert actor == "user:admin@acme.example"


def test_a_rejection_says_why_and_the_requester_may_withdraw(site: Site) -> None:
    invoice_id = _invoice_id(site, site.issued_number)
    with login(site, Role.FINANCE) as finance:
        _post(finance, f"/invoices/{invoice_id}/credit-notes", {"reason": "goodwill"}, page=f"/invoices/{invoice_id}")
        [(approval_id, _, _)] = _approvals(site)
        assert "Withdraw" in finance.get("/approvals").text
        _, flash = _post(finance, f"/approvals/{approval_id}/reject", {"note": "  "})
        assert flash == "error: a rejection needs a note saying why"
        assert _approvals(site)[0][1] == "pending"
        _, flash = _post(finance, f"/approvals/{approval_id}/reject", {"note": "asked by mistake"})
        assert flash == f"ok: Credit note for {site.issued_number} rejected; finance@acme.example is told why."
        assert _approvals(site)[0][1] == "rejected"
        _, flash = _post(finance, f"/approvals/{approval_id}/reject", {"note": "again"})
        assert flash.startswith("error: ") and "already rejected" in flash


def test_bad_quantities_are_refused_naming_the_line_and_store_nothing(site: Site) -> None:
    invoice_id = _invoice_id(site, site.issued_number)
    url, page = f"/invoices/{invoice_id}/credit-notes", f"/invoices/{invoice_id}"
    with login(site, Role.FINANCE) as finance:
        assert 'name="quantity_1"' in finance.get(page).text
        _, flash = _post(finance, url, {"reason": "returned", "quantity_1": "two"}, page=page)
        assert flash == "error: Not requested: line 1: 'two' is not a quantity"
        _, flash = _post(finance, url, {"reason": "returned", "quantity_1": "NaN"}, page=page)
        assert flash == "error: Not requested: line 1: 'NaN' is not a quantity"
        _, flash = _post(finance, url, {"reason": "returned", "quantity_1": "500"}, page=page)
        assert flash.startswith("error: Not requested: ") and "line 1: crediting 500 but only" in flash
        _, flash = _post(finance, url, {"reason": "", "quantity_1": "1"}, page=page)
        assert flash == "error: Not requested: a credit note needs a reason"
    assert _approvals(site) == []


def test_only_an_issued_invoice_can_be_credited(site: Site) -> None:
    with login(site, Role.FINANCE) as finance:
        page = finance.get(f"/invoices/{site.draft_id}").text
        assert "/credit-notes" not in page  # no form on a draft
        _, flash = _post(
            finance, f"/invoices/{site.draft_id}/credit-notes", {"reason": "x"}, page=f"/invoices/{site.draft_id}"
        )
        assert flash == "error: Only an issued invoice can be credited."
    assert _approvals(site) == []


def test_auditors_read_approvals_but_decide_nothing(site: Site) -> None:
    invoice_id = _invoice_id(site, site.issued_number)
    with login(site, Role.FINANCE) as finance:
        _post(finance, f"/invoices/{invoice_id}/credit-notes", {"reason": "returned"}, page=f"/invoices/{invoice_id}")
    with login(site, Role.SALES) as sales:  # sales neither sees approvals nor their count
        assert _waiting(sales.get("/exceptions").text) is None and "/approvals" not in sales.get("/deals").text
    with login(site, Role.AUDITOR) as auditor:
        assert _waiting(auditor.get("/dashboard").text) == 1
        queue = auditor.get("/approvals").text
        assert "returned" in queue and '<form method="post" action="/approvals/' not in queue
        assert "/credit-notes" not in auditor.get(f"/invoices/{invoice_id}").text
    with site.ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.approvals)).scalar_one() == 1


def test_a_credit_note_draft_approved_by_mistake_is_voided_on_its_page(site: Site) -> None:
    invoice_id = _invoice_id(site, site.issued_number)
    with login(site, Role.FINANCE) as finance:
        _post(finance, f"/invoices/{invoice_id}/credit-notes", {"reason": "returned"}, page=f"/invoices/{invoice_id}")
    [(approval_id, _, _)] = _approvals(site)
    with login(site, Role.ADMIN) as admin:
        target, _ = _post(admin, f"/approvals/{approval_id}/approve", {"note": ""})
        draft_id = int(target.rsplit("/", 1)[1])
        assert f'action="/invoices/{draft_id}/void"' in admin.get(target).text
        _, flash = _post(admin, f"/invoices/{draft_id}/void", {"reason": " "}, page=target)
        assert flash == "error: Not voided: voiding a credit-note draft needs a reason"
        _, flash = _post(admin, f"/invoices/{draft_id}/void", {"reason": "wrong customer"}, page=target)
        assert flash == (
            f"ok: Credit-note draft voided: it will not be issued, and what it credited on "
            f"{site.issued_number} can be credited again."
        )
        page = admin.get(target).text
        assert 'class="badge doc-void"' in page and f"/invoices/{draft_id}/issue" not in page
        assert "format=ubl" not in page and "Voided before it was issued" in page
        assert f"draft voided {draft_id}" in admin.get(f"/invoices/{invoice_id}").text
        # an invoice's own draft is not voided by hand: it follows its deal
        assert f'action="/invoices/{site.draft_id}/void"' not in admin.get(f"/invoices/{site.draft_id}").text
        _, flash = _post(admin, f"/invoices/{site.draft_id}/void", {"reason": "x"}, page=f"/invoices/{site.draft_id}")
        assert flash.startswith("error: Not voided: ") and "is an invoice, not a credit note" in flash
    with login(site, Role.FINANCE) as finance:  # what the voided draft credited can be asked for again
        _, flash = _post(
            finance,
            f"/invoices/{invoice_id}/credit-notes",
            {"reason": "returned, rightly"},
            page=f"/invoices/{invoice_id}",
        )
        assert flash.startswith("ok: Credit note of ")
