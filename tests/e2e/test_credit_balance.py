"""Customer credit over HTTP (API and pages, on SQLite and PostgreSQL) and on the command line: a
credit note settles the invoice it corrects, the rest is the customer's credit, which finance
refunds or applies; auditors read it, sales does not see it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from handoff.users.service import Role
from tests.builders import GOOD
from tests.e2e.conftest import Site, csrf_of, login
from tests.e2e.test_api import err
from tests.e2e.test_cli import add_user, csv_file, run, said


def credited_half_paid(site: Site) -> int:
    """D-4's invoice (14,280.00) half paid, then credited in full by finance and admin; its id."""
    number = site.issued_number
    with site.client(Role.FINANCE) as finance, site.client(Role.ADMIN) as admin:
        paid = finance.post(
            "/api/v1/payments", json={"invoice_number": number, "amount": "7140.00", "paid_on": "2026-11-01"}
        )
        assert paid.status_code == 201 and paid.json()["payment_state"] == "partial", paid.text
        asked = finance.post(f"/api/v1/invoices/{number}/credit-notes", json={"reason": "cancelled"}).json()
        draft = admin.post(f"/api/v1/approvals/{asked['id']}/approve").json()["result_invoice_id"]
        assert finance.post(f"/api/v1/invoices/{draft}/issue").status_code == 200
        found = finance.get("/api/v1/invoices", params={"customer": "C-4", "status": "issued"}).json()["items"]
    return next(i["id"] for i in found if i["number"] == number)


def test_credit_through_the_api(site: Site) -> None:
    invoice_id = credited_half_paid(site)
    with (
        site.client(Role.FINANCE) as finance,
        site.client(Role.AUDITOR) as auditor,
        site.client(Role.SALES) as sales,
    ):
        inv = finance.get(f"/api/v1/invoices/{invoice_id}").json()
        amounts = [Decimal(inv[k]) for k in ("paid_amount", "credited_amount", "open_amount")]
        assert (inv["payment_state"], amounts) == ("credited", [Decimal("7140"), Decimal("7140"), 0]), inv
        assert [(c["kind"], Decimal(c["amount"])) for c in inv["credits"]] == [("corrected", Decimal("7140"))]
        assert inv["overdue"] is False
        settled = finance.get("/api/v1/invoices", params={"payment_state": "credited"}).json()["items"]
        assert [i["number"] for i in settled] == [site.issued_number]

        [balance] = auditor.get("/api/v1/credits").json()["items"]
        assert (balance["customer_id"], balance["legal_entity"], balance["currency"], Decimal(balance["amount"])) == (
            "C-4",
            "ACME-DE",
            "EUR",
            Decimal("7140"),
        )
        assert sales.get("/api/v1/credits").status_code == 403
        assert err(auditor.post("/api/v1/credits/refunds", json={}))["code"] == "forbidden"

        settled_already = finance.post(f"/api/v1/invoices/{site.issued_number}/apply-credit", json={})
        assert settled_already.status_code == 409 and err(settled_already)["code"] == "not_open"
        unknown = finance.post("/api/v1/invoices/INV-NOPE-1/apply-credit", json={})
        assert unknown.status_code == 404
        body = {"customer_id": "C-4", "legal_entity": "ACME-DE", "currency": "EUR", "reference": "SEPA-9"}
        too_much = finance.post("/api/v1/credits/refunds", json={**body, "amount": "7140.01"})
        assert too_much.status_code == 409 and err(too_much) | {"message": ""} == {
            "code": "no_credit",
            "message": "",
            "field": "amount",
        }
        bad = finance.post("/api/v1/credits/refunds", json={**body, "amount": "-5"})
        assert bad.status_code == 422 and err(bad)["field"] == "amount"
        refund = finance.post("/api/v1/credits/refunds", json={**body, "amount": "7140.00", "paid_on": "2026-11-05"})
        assert refund.status_code == 201, refund.text
        assert (Decimal(refund.json()["amount"]), Decimal(refund.json()["balance"])) == (Decimal("7140"), 0)
        assert finance.get("/api/v1/credits").json()["items"] == []
        used = auditor.get("/api/v1/credits/allocations", params={"customer": "C-4"}).json()["items"]
        assert [(u["kind"], Decimal(u["amount"]), u["reference"], u["created_by"]) for u in used] == [
            ("corrected", Decimal("7140"), "", "user:finance@acme.example"),
            ("refund", Decimal("7140"), "SEPA-9", "user:finance@acme.example"),
        ]
        trail = auditor.get("/api/v1/audit/customer/C-4").json()
        assert {"customer_credit.added", "customer_credit.refunded"} <= {e["action"] for e in trail}, trail


def test_credit_on_the_pages(site: Site) -> None:
    invoice_id = credited_half_paid(site)
    with login(site, Role.FINANCE) as browser:
        page = browser.get(f"/invoices/{invoice_id}").text
        assert "Credited" in page and "credited" in page and "from <a" in page
        credit_page = browser.get("/credits").text
        assert "C-4" in credit_page and "7,140.00 EUR" in credit_page and "Record refund" in credit_page
        refused = browser.post(
            "/credits/refund",
            data={
                "customer_id": "C-4",
                "legal_entity": "ACME-DE",
                "currency": "EUR",
                "amount": "7140.00",
                "reference": "",
                "csrf_token": csrf_of(credit_page),
            },
        )
        assert refused.status_code == 303
        assert "needs the reference" in browser.get(refused.headers["location"]).text
        done = browser.post(
            "/credits/refund",
            data={
                "customer_id": "C-4",
                "legal_entity": "ACME-DE",
                "currency": "EUR",
                "amount": "7140.00",
                "reference": "SEPA-<b>1</b>",
                "csrf_token": csrf_of(credit_page),
            },
        )
        shown = browser.get(done.headers["location"]).text
        assert "Refund of 7,140.00 EUR to C-4 recorded" in shown and "No customer has credit" not in shown
        assert "SEPA-&lt;b&gt;1&lt;/b&gt;" in shown and "<b>1</b>" not in shown  # escaped
    with login(site, Role.AUDITOR) as auditor:
        read_only = auditor.get("/credits").text
        assert "Where credit went" in read_only and "Record refund" not in read_only


def test_credit_commands(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'credit.db'}"
    rows = [GOOD, {**GOOD, "deal_id": "D-2"}]  # two invoices of one customer
    assert run("import", str(csv_file(tmp_path, rows)), "--db", db, cwd=tmp_path).returncode == 0
    issued = run("invoice", "issue", "--all", "--db", db, cwd=tmp_path)
    first, second = sorted(line.split(":")[0] for line in issued.stdout.splitlines() if line.startswith("INV-"))
    for email in ("ann@acme.example", "bob@acme.example"):
        add_user(db, email, "finance", tmp_path)
    payments = tmp_path / "pay.csv"
    payments.write_text(f"invoice_number,amount,date\n{first},7140.00,2026-11-10\n")
    assert run("import-payments", str(payments), "--db", db, cwd=tmp_path).returncode == 0
    actor = ("--actor", "ann@acme.example")
    run("credit-note", "request", first, "--reason", "cancelled", *actor, "--db", db, cwd=tmp_path)
    run("approvals", "approve", "1", "--actor", "bob@acme.example", "--db", db, cwd=tmp_path)
    assert "CRN-" in run("invoice", "issue", "--id", "3", "--db", db, cwd=tmp_path).stdout

    balance = said(run("credit", "balance", "--db", db, cwd=tmp_path))
    assert "C-1" in balance and "7,140.00 EUR" in balance and "CRN-DE-2026-000001" in balance
    settled = run("credit", "apply", first, *actor, "--db", db, cwd=tmp_path)
    assert settled.returncode == 2 and "has nothing open" in " ".join(settled.stderr.split())
    applied = run("credit", "apply", second, "--amount", "5000", *actor, "--db", db, cwd=tmp_path)
    assert f"{second}: 5,000.00 EUR of credit applied" in said(applied), applied.stderr
    assert "9,280.00 open, unpaid; 2,140.00 of credit left" in said(applied)
    nobody = run("credit", "apply", second, "--actor", "eve@acme.example", "--db", db, cwd=tmp_path)
    assert nobody.returncode == 2 and "no user eve@acme.example" in " ".join(nobody.stderr.split())
    refund = ["credit", "refund", "C-1", "--entity", "ACME-DE", "--currency", "eur", "--reference", "SEPA-1"]
    too_much = run(*refund, "--amount", "3000", *actor, "--db", db, cwd=tmp_path)
    assert too_much.returncode == 2 and "(--amount)" in too_much.stderr
    done = run(*refund, "--amount", "2140.00", *actor, "--db", db, cwd=tmp_path)
    assert "C-1: refund of 2,140.00 EUR recorded; 0.00 of credit left" in said(done), done.stderr
    assert "no customer credit" in said(run("credit", "balance", "--db", db, cwd=tmp_path))
