"""The JSON API over real HTTP, on SQLite and PostgreSQL: lists, filters and paging, fixing a deal,
invoices and documents, payments, metrics, the audit trail with the user as actor, and errors that
are always 4xx JSON with a stable code."""

from __future__ import annotations

import httpx

from handoff.users.service import Role
from tests.e2e.conftest import PASSWORDS, SALES, Site, csrf_of, login


def err(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]  # type: ignore[no-any-return]


def test_orders_list_filters_and_paging(site: Site) -> None:
    with site.client(Role.FINANCE) as api:
        everything = api.get("/api/v1/orders").json()
        assert everything["total"] == 4
        assert {o["deal_id"] for o in api.get("/api/v1/orders", params={"state": "blocked"}).json()["items"]} == {
            "D-2",
            "D-3",
        }
        assert api.get("/api/v1/orders", params={"owner": SALES}).json()["total"] == 2
        assert api.get("/api/v1/orders", params={"customer": "C-4"}).json()["items"][0]["deal_id"] == "D-4"
        assert api.get("/api/v1/orders", params={"text": "blocked sales"}).json()["items"][0]["deal_id"] == "D-2"
        page = api.get("/api/v1/orders", params={"limit": 3, "offset": 3}).json()
        assert (page["total"], len(page["items"]), page["offset"]) == (4, 1, 3)
        for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "ten"}, {"state": "lost"}):
            e = err(api.get("/api/v1/orders", params=bad))
            assert e["code"] == "invalid_request" and e["field"] in bad
    with site.client(Role.SALES) as api:  # sales see only their own deals
        assert {o["deal_id"] for o in api.get("/api/v1/orders").json()["items"]} == {"D-1", "D-2"}
        assert err(api.get("/api/v1/orders", params={"owner": "other.sales@acme.example"}))["code"] == "forbidden"
        assert api.get("/api/v1/orders/D-3").status_code == 403
        assert api.get("/api/v1/orders/D-404").status_code == 404


def test_sales_fixes_a_deal_it_is_rechecked_at_once_and_audited(site: Site) -> None:
    with site.client(Role.SALES) as api:
        queue = api.get("/api/v1/exceptions").json()
        assert [(i["deal_id"], [p["field"] for p in i["problems"]]) for i in queue["items"]] == [("D-2", ["po_number"])]
        assert api.get("/api/v1/exceptions", params={"reason": "vat_id"}).json()["total"] == 0
        assert api.get("/api/v1/exceptions", params={"min_age_days": 30}).json()["total"] == 0
        assert err(api.patch("/api/v1/orders/D-2", json={"po_number": "PO-9", "amount": "1"}))["field"] == "amount"
        assert err(api.patch("/api/v1/orders/D-2", json={"po_number": 9}))["field"] == "po_number"
        assert err(api.patch("/api/v1/orders/D-2", json={}))["code"] == "invalid_request"
        assert err(api.patch("/api/v1/orders/D-3", json={"po_number": "PO-9"}))["code"] == "forbidden"
        fixed = api.patch("/api/v1/orders/D-2", json={"po_number": "PO-9"})
        assert fixed.status_code == 200, fixed.text
        assert fixed.json()["state"] == "drafted" and fixed.json()["problems"] == []
        assert api.get("/api/v1/exceptions").json()["total"] == 0
        trail = api.get("/api/v1/orders/D-2/audit").json()
        assert any(e["actor"] == f"user:{SALES}" and e["action"] == "exception.resolved" for e in trail)
    with site.client(Role.FINANCE) as api:
        tasks = api.get("/api/v1/tasks").json()["items"]
        assert {t["deal_id"] for t in tasks} == {"D-1", "D-2"} and all(t["draft_invoice_id"] for t in tasks)


def test_invoices_documents_and_payments(site: Site) -> None:
    with site.client(Role.FINANCE) as api:
        drafts = api.get("/api/v1/invoices", params={"status": "draft"}).json()["items"]
        assert [i["id"] for i in drafts] == [site.draft_id]
        preview = api.get(f"/api/v1/invoices/{site.draft_id}/document", params={"format": "pdf"})
        assert preview.status_code == 200 and preview.content.startswith(b"%PDF")
        document = f"/api/v1/invoices/{site.draft_id}/document"
        assert err(api.get(document, params={"format": "ubl"}))["code"] == "conflict"
        assert err(api.get(document, params={"format": "doc"}))["field"] == "format"
        issued = api.post(f"/api/v1/invoices/{site.draft_id}/issue")
        assert issued.status_code == 200 and issued.json()["number"] and issued.json()["status"] == "issued"
        assert err(api.post(f"/api/v1/invoices/{site.draft_id}/issue"))["code"] == "conflict"
        number = issued.json()["number"]
        for fmt, magic in (("ubl", b"<?xml"), ("cii", b"<?xml"), ("facturx", b"%PDF")):
            doc = api.get(f"/api/v1/invoices/{site.draft_id}/document", params={"format": fmt})
            assert doc.status_code == 200 and doc.content.startswith(magic), fmt
        gross = issued.json()["gross_amount"]
        body = {"invoice_number": number, "amount": gross, "paid_on": "2026-11-02", "reference": "bank 1"}
        paid = api.post("/api/v1/payments", json=body)
        assert paid.status_code == 201 and paid.json()["payment_state"] == "paid", paid.text
        assert api.post("/api/v1/payments", json=body).json()["duplicates"] == 1
        assert err(api.post("/api/v1/payments", json={**body, "invoice_number": "NOPE"}))["code"] == "conflict"
        assert err(api.post("/api/v1/payments", json={**body, "amount": "-5"}))["field"] == "amount"
        assert api.get("/api/v1/payments").json()["items"][0]["invoice_number"] == number
        trail = api.get("/api/v1/orders/D-1/audit").json()
        assert {"invoice.issued", "invoice.payment_applied"} <= {
            e["action"] for e in trail if e["actor"] == "user:finance@acme.example"
        }
        metrics = api.get("/api/v1/metrics").json()
        assert metrics["deals_by_state"]["paid"] == 1 and metrics["deals_by_state"]["blocked"] == 2
        assert metrics["exception_rate"] == 0.5 and metrics["invoiced_deals"] == 2


def test_errors_are_json_4xx_with_stable_codes(site: Site) -> None:
    with site.client() as anon:
        assert err(anon.get("/api/v1/orders"))["code"] == "unauthenticated"
        assert anon.get("/api/v1/orders", headers={"Authorization": "Bearer hnd_wrong"}).status_code == 401
        assert anon.get("/api/v1/health").json() == {"status": "ok"}
        assert err(anon.get("/api/v1/nothing-here"))["code"] == "not_found"
    with site.client(Role.ADMIN) as api:
        assert (
            err(api.post("/api/v1/payments", content=b"{broken", headers={"content-type": "application/json"}))["code"]
            == "invalid_json"
        )
        assert err(api.post("/api/v1/payments", content=b"x" * 1_000_001))["code"] == "too_large"
        assert (
            err(api.post("/api/v1/users", json={"email": "x@y.z", "role": "boss", "password": "longenough"}))["field"]
            == "role"
        )
        assert err(api.delete("/api/v1/orders"))["code"] == "method_not_allowed"
        assert err(api.get("/api/v1/invoices/99999999999"))["field"] == "invoice_id"
        myself = f"/api/v1/users/{site.user_ids[Role.ADMIN]}"
        assert err(api.patch(myself, json={"active": False}))["code"] == "conflict"


def test_users_tokens_and_session_csrf(site: Site) -> None:
    with site.client(Role.ADMIN) as api:
        new = {"email": "New@Acme.example", "role": "auditor", "password": "long-pass-1"}
        added = api.post("/api/v1/users", json=new)
        assert added.status_code == 201 and added.json()["email"] == "new@acme.example"
        assert (
            err(
                api.post(
                    "/api/v1/users", json={"email": "new@acme.example", "role": "auditor", "password": "long-pass-1"}
                )
            )["code"]
            == "conflict"
        )
        token = api.post("/api/v1/me/tokens", json={"name": "ci"}).json()["token"]
        assert token.startswith("hnd_")
        trail = api.get("/api/v1/audit/user/new@acme.example").json()
        assert trail[0]["action"] == "user.added" and trail[0]["actor"] == "user:admin@acme.example"
        assert api.get("/api/v1/audit/verify").json()["intact"] is True
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/api/v1/me").json()["role"] == "admin"
    sales_id = site.user_ids[Role.SALES]
    with site.client(Role.ADMIN) as api:
        assert api.patch(f"/api/v1/users/{sales_id}", json={"active": False}).json()["active"] is False
    with site.client(Role.SALES) as api:  # deactivation revokes the tokens at once
        assert api.get("/api/v1/me").status_code == 401
    # The UI's session cookie works on the API, but a state change needs the CSRF header too.
    with login(site, Role.FINANCE) as browser:
        assert browser.get("/api/v1/me").json()["role"] == "finance"
        assert err(browser.post(f"/api/v1/invoices/{site.draft_id}/issue"))["code"] == "csrf_failed"
        page = browser.get("/tasks")
        csrf = csrf_of(page.text)
        issued = browser.post(f"/api/v1/invoices/{site.draft_id}/issue", headers={"X-CSRF-Token": csrf})
        assert issued.status_code == 200
        assert browser.post("/logout", data={"csrf_token": "forged"}).status_code == 403  # forms need it too
        assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
        assert browser.get("/tasks").headers["location"].startswith("/login")


def test_session_cookie_is_signed_httponly_samesite(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        form = client.get("/login")
        wrong = client.post(
            "/login", data={"email": "finance@acme.example", "password": "nope", "csrf_token": csrf_of(form.text)}
        )
        assert wrong.status_code == 401 and "wrong" in wrong.text
        ok = client.post(
            "/login",
            data={
                "email": "finance@acme.example",
                "password": PASSWORDS[Role.FINANCE],
                "csrf_token": csrf_of(form.text),
            },
            follow_redirects=False,
        )
        cookie = ok.headers["set-cookie"].lower()
        assert ok.status_code == 303 and "httponly" in cookie and "samesite=lax" in cookie
        client.cookies.set("handoff_session", client.cookies["handoff_session"][:-4] + "AAAA")
        assert client.get("/tasks", follow_redirects=False).status_code == 303  # tampered: not logged in


def test_credit_note_needs_a_second_person(site: Site) -> None:
    number = site.issued_number
    with site.client(Role.FINANCE) as finance, site.client(Role.ADMIN) as admin, site.client(Role.SALES) as sales:
        assert err(sales.post(f"/api/v1/invoices/{number}/credit-notes", json={"reason": "x"}))["code"] == "forbidden"
        missing = finance.post("/api/v1/invoices/INV-NOPE-1/credit-notes", json={"reason": "x"})
        assert missing.status_code == 404 and err(missing)["field"] == "number"
        too_much = finance.post(
            f"/api/v1/invoices/{number}/credit-notes", json={"reason": "x", "quantities": {"1": "5"}}
        )
        assert too_much.status_code == 409 and err(too_much)["code"] == "not_creditable"
        asked = finance.post(f"/api/v1/invoices/{number}/credit-notes", json={"reason": "billed twice"})
        assert asked.status_code == 202, asked.text
        approval = asked.json()
        assert (approval["status"], approval["subject"], approval["requested_by"]) == (
            "pending",
            number,
            "user:finance@acme.example",
        )
        assert approval["payload"]["quantities"] == {"1": "1"}
        assert [a["id"] for a in admin.get("/api/v1/approvals").json()["items"]] == [approval["id"]]

        own = finance.post(f"/api/v1/approvals/{approval['id']}/approve", json={"note": "mine"})
        assert own.status_code == 409 and err(own)["code"] == "same_person"
        no_note = admin.post(f"/api/v1/approvals/{approval['id']}/reject", json={"note": ""})
        assert no_note.status_code == 422 and err(no_note)["field"] == "note"
        done = admin.post(f"/api/v1/approvals/{approval['id']}/approve", json={"note": "agreed"})
        assert done.status_code == 200 and done.json()["status"] == "approved"
        draft = done.json()["result_invoice_id"]
        twice = admin.post(f"/api/v1/approvals/{approval['id']}/reject", json={"note": "changed my mind"})
        assert twice.status_code == 409 and err(twice)["code"] == "not_pending"
        assert admin.get("/api/v1/approvals", params={"status": "approved"}).json()["total"] == 1
        issued = finance.post(f"/api/v1/invoices/{draft}/issue")
        assert issued.status_code == 200 and issued.json()["number"].startswith("CRN-"), issued.text
        assert err(admin.post("/api/v1/approvals/999/approve"))["code"] == "not_found"
