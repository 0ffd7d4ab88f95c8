"""Changing an issued invoice's billing contact from the JSON API, the invoice page and the CLI:
finance and admins only, a reason required, a bad e-mail refused naming its field; the document
stays as issued while the invoice's e-mails go to the new contact."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from handoff.kernel.storage import schema
from handoff.users.service import Role
from tests.builders import GOOD
from tests.e2e.conftest import Site, csrf_of, login
from tests.e2e.test_api import err
from tests.e2e.test_cli import add_user, csv_file, run, said


def issued_id(site: Site) -> int:
    with site.ctx.engine.connect() as conn:
        q = select(schema.invoices.c.id).where(schema.invoices.c.number == site.issued_number)
        return int(conn.execute(q).scalar_one())


def test_finance_changes_the_contact_through_the_api(site: Site) -> None:
    url = f"/api/v1/invoices/{issued_id(site)}/billing-contact"
    body = {"billing_email": "payables@kestrel.de", "billing_contact_name": "Jonas Weber", "reason": "new AP"}
    for role in (Role.SALES, Role.AUDITOR):
        with site.client(role) as api:
            assert api.put(url, json=body).status_code == 403
    with site.client(Role.FINANCE) as api:
        bad = err(api.put(url, json={**body, "billing_email": "payables at kestrel"}))
        assert (bad["code"], bad["field"]) == ("invalid_request", "billing_email")
        assert "not a valid e-mail address" in bad["message"]
        assert err(api.put(url, json={"billing_email": "a@kestrel.de"}))["field"] == "reason"
        assert err(api.put(url, json={**body, "reason": " "}))["field"] == "reason"
        assert err(api.put(f"/api/v1/invoices/{site.draft_id}/billing-contact", json=body))["code"] == "conflict"
        missing = err(api.put("/api/v1/invoices/999999/billing-contact", json=body))
        assert (missing["code"], missing["field"]) == ("not_found", "invoice_id")
        changed = api.put(url, json={**body, "resend": True})
        assert changed.status_code == 200, changed.text
        detail = changed.json()
        assert detail["billing_contact"]["email"] == "payables@kestrel.de"
        assert detail["billing_contact"]["name"] == "Jonas Weber"
        assert detail["billing_contact"]["changed_by"] == "user:finance@acme.example"
        assert detail["buyer_email"] == "ap@kestrel.de"  # the document as issued
        trail = api.get(f"/api/v1/audit/invoice/{site.issued_number}").json()
        [entry] = [e for e in trail if e["action"] == "invoice.billing_contact_changed"]
        assert entry["before"]["billing_email"] == "ap@kestrel.de"
        assert entry["after"]["billing_email"] == "payables@kestrel.de"
        assert entry["reason"] == "new AP"
    o = schema.outbox
    with site.ctx.engine.connect() as conn:
        sent = conn.execute(select(o.c.payload).where(o.c.topic == "invoice").order_by(o.c.id)).scalars().all()
    assert sent[-1]["to"] == ["payables@kestrel.de"]


def test_the_invoice_page_has_the_form_for_finance(site: Site) -> None:
    invoice_id = issued_id(site)
    with login(site, Role.AUDITOR) as auditor:
        assert "/billing-contact" not in auditor.get(f"/invoices/{invoice_id}").text
    with login(site, Role.FINANCE) as finance:
        page = finance.get(f"/invoices/{invoice_id}").text
        assert f'action="/invoices/{invoice_id}/billing-contact"' in page
        assert 'value="ap@kestrel.de"' in page

        def post(form: dict[str, str]) -> str:
            csrf = csrf_of(finance.get(f"/invoices/{invoice_id}").text)
            response = finance.post(f"/invoices/{invoice_id}/billing-contact", data={**form, "csrf_token": csrf})
            assert response.status_code == 303 and response.headers["location"] == f"/invoices/{invoice_id}"
            shown = finance.get(response.headers["location"]).text
            flash = re.search(r'<div class="flash flash-(\w+)" role="status">([^<]*)</div>', shown)
            assert flash
            return f"{flash.group(1)}: {html.unescape(flash.group(2))}"

        refused = post({"billing_email": "nobody", "billing_contact_name": "X", "reason": "r"})
        assert refused.startswith("error: Not changed: ") and "billing_email 'nobody'" in refused
        done = post({"billing_email": "<b>ap2@kestrel.de</b>", "billing_contact_name": "Jo", "reason": "r"})
        assert done.startswith("error: ")  # markup is no address
        done = post({"billing_email": "ap2@kestrel.de", "billing_contact_name": "<b>Jo</b>", "reason": "moved"})
        assert done == f"ok: Billing contact of {site.issued_number} is now ap2@kestrel.de."
        page = finance.get(f"/invoices/{invoice_id}").text
        assert "&lt;b&gt;Jo&lt;/b&gt;" in page and "<b>Jo</b>" not in page  # escaped
        assert "issued to ap@kestrel.de" in page


def test_the_cli_changes_the_contact_and_names_a_bad_option(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = f"sqlite:///{tmp_path / 'contact.db'}"
    assert run("import", str(csv_file(tmp_path, [GOOD])), "--db", db, cwd=tmp_path).returncode == 0
    issued = run("invoice", "issue", "--all", "--db", db, cwd=tmp_path)
    number = next(line.split(":")[0] for line in issued.stdout.splitlines() if line.startswith("INV-"))
    add_user(db, "finance@acme.example", "finance", tmp_path)  # --actor names a real finance user
    args = ("invoice", "contact", number, "--reason", "new AP", "--actor", "finance@acme.example", "--db", db)
    add_user(db, "sales@acme.example", "sales", tmp_path)
    sales = run(*args[:6], "sales@acme.example", *args[7:], "--email", "payables@kestrel.de", cwd=tmp_path)
    assert sales.returncode == 2 and "payables@kestrel.de" not in said(sales)  # finance or admin only
    bad = run(*args, "--email", "payables at kestrel", cwd=tmp_path)
    assert bad.returncode == 2 and "--email" in bad.stderr and "billing_email" in bad.stderr
    done = run(*args, "--email", "payables@kestrel.de", "--name", "Jonas Weber", "--resend", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{number}: billing contact ap@kestrel.de -> payables@kestrel.de" in said(done)
    assert f"{number}: sent again to payables@kestrel.de" in said(done)
    again = run(*args, "--email", "payables@kestrel.de", cwd=tmp_path)
    assert "nothing changed" in said(again)
    draft = run(*args[:2], "INV-XX-2026-000009", *args[3:], "--email", "a@b.de", cwd=tmp_path)
    assert draft.returncode == 2 and "there is no invoice" in " ".join(draft.stderr.split())
