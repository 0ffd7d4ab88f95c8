"""The contracts API on SQLite and PostgreSQL: a contract locked through the service reads back
with its terms, lines, versions (content hash) and schedule; sales users read only the contracts
of the deals they own; finance accepts a milestone (once per event, audited with its reason) and
runs the billing run, whose drafts then show on the schedule; auditors may read but not act."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from handoff.kernel.storage import schema
from handoff.users.service import Role
from tests.e2e.conftest import SALES, Site
from tests.e2e.contract_builders import CUSTOMER, lock

F, S, A, D = Role.FINANCE, Role.SALES, Role.AUDITOR, Role.ADMIN


def test_a_locked_contract_reads_back_through_the_api(site: Site) -> None:
    locked = lock(site.ctx, "D-1")  # the deal D-1 the sales user owns
    lock(site.ctx, "C-9")  # from no deal
    with site.client(F) as api:
        page = api.get("/api/v1/contracts").json()
        assert [c["contract_id"] for c in page["items"]] == ["C-9", "D-1"] and page["total"] == 2
        first = page["items"][1]
        assert (first["customer_name"], first["owner_email"], first["current_version"]) == (
            "Kestrel Analytics GmbH",
            SALES,
            1,
        )
        assert page["items"][0]["owner_email"] is None
        assert (
            api.get("/api/v1/contracts", params={"customer": CUSTOMER, "limit": 1, "offset": 1}).json()["items"][0][
                "contract_id"
            ]
            == "D-1"
        )
        assert api.get("/api/v1/contracts", params={"customer": "nobody"}).json()["total"] == 0

        detail = api.get("/api/v1/contracts/D-1").json()
    assert detail["terms"]["payment_terms"] == "net30" and detail["terms"]["billing_start"] == "2026-10-01"
    assert [ln["key"] for ln in detail["lines"]] == ["L1", "L2", "L3"]
    assert [s["unit_price"] for s in detail["lines"][0]["rule"]["ramp"]] == ["12000.00", "15000.00"]
    assert [(v["version"], v["content_hash"]) for v in detail["versions"]] == [(1, locked.content_hash)]
    ramp = [(i["period_start"], i["amount"], i["due"]) for i in detail["schedule"] if i["line_key"] == "L1"]
    assert ramp == [
        ("2026-10-01", "10000.00", True),  # the e2e clock stands at 1 Nov 2026
        ("2027-10-01", "12000.00", False),
        ("2028-10-01", "15000.00", False),
    ]
    assert {i["status"] for i in detail["schedule"]} == {"planned"}
    assert all(i["invoice_id"] is None for i in detail["schedule"])
    assert [(m["key"], m["amount"], m["accepted_on"]) for m in detail["milestones"]] == [
        ("M1", "8000.00", None),
        ("M2", "12000.00", None),
    ]
    assert detail["next_bill_date"] == "2026-10-01"


def test_sales_reads_only_the_contracts_of_their_deals(site: Site) -> None:
    lock(site.ctx, "D-1")
    lock(site.ctx, "D-3")  # another owner's deal
    lock(site.ctx, "C-9")
    with site.client(S) as api:
        assert [c["contract_id"] for c in api.get("/api/v1/contracts").json()["items"]] == ["D-1"]
        assert api.get("/api/v1/contracts/D-1").status_code == 200
        assert api.get("/api/v1/contracts/D-3").status_code == 403
        assert api.get("/api/v1/contracts/C-9").status_code == 403
        assert api.get("/api/v1/contracts/NOPE").status_code == 404
        accept = {"date": "2026-11-01", "reason": "signed"}
        assert api.post("/api/v1/contracts/D-1/milestones/M1/accept", json=accept).status_code == 403
        assert api.post("/api/v1/billing/runs", json={"date": "2026-11-01"}).status_code == 403
    with site.client(A) as api:
        assert len(api.get("/api/v1/contracts").json()["items"]) == 3
        assert api.get("/api/v1/contracts/C-9").status_code == 200
        assert api.post("/api/v1/contracts/C-9/milestones/M1/accept", json=accept).status_code == 403
        assert api.post("/api/v1/billing/runs", json={"date": "2026-11-01"}).status_code == 403


def test_finance_accepts_a_milestone_and_runs_the_billing(site: Site) -> None:
    lock(site.ctx, "D-1")
    lock(site.ctx, "C-9")
    body = {"date": "2026-10-20", "reason": "design signed off by Kestrel's CTO"}
    with site.client(F) as api:
        url = "/api/v1/contracts/D-1/milestones/M1/accept"
        first = api.post(url, json=body)
        assert first.status_code == 200, first.text
        assert first.json() == {
            "contract_id": "D-1",
            "milestone_key": "M1",
            "accepted_on": "2026-10-20",
            "accepted_by": "user:finance@acme.example",
            "event_id": "api:D-1:M1:2026-10-20",
        }
        assert api.post(url, json=body).json() == first.json()  # the same acceptance again: nothing new
        other = api.post(url, json={**body, "event_id": "sign-off-2"})
        assert other.status_code == 409 and "accepted already" in other.json()["error"]["message"]
        assert api.post("/api/v1/contracts/D-1/milestones/M9/accept", json=body).status_code == 404
        assert api.post("/api/v1/contracts/NOPE/milestones/M1/accept", json=body).status_code == 404
        assert api.post(url, json={"date": "2026-10-20", "reason": ""}).status_code == 422

        too_far = api.post("/api/v1/billing/runs", json={"date": "2030-01-01"})
        assert too_far.status_code == 422 and "days after today" in too_far.json()["error"]["message"]
        run = api.post("/api/v1/billing/runs", json={"date": "2026-11-01"})
        assert run.status_code == 200, run.text
        made = run.json()
        # D-1: year 1, the fee and M1; C-9: year 1 and the fee; one draft per contract
        assert (made["drafts"], made["items"], made["failures"], made["date"]) == (2, 5, [], "2026-11-01")
        again = api.post("/api/v1/billing/runs", json={"date": "2026-11-01"}).json()
        assert (again["drafts"], again["items"], again["invoice_ids"]) == (0, 0, [])

        detail = api.get("/api/v1/contracts/D-1").json()
        invoice = api.get(f"/api/v1/invoices/{detail['schedule'][0]['invoice_id']}").json()
    billed = {(i["line_key"], i["period_key"]): i for i in detail["schedule"] if i["status"] == "billed"}
    assert set(billed) == {("L1", "2026-10-01"), ("L2", "once"), ("L3", "milestone:M1")}
    assert {(i["invoice_id"], i["invoice_status"], i["invoice_number"]) for i in billed.values()} == {
        (invoice["id"], "draft", None)
    }
    assert invoice["id"] in made["invoice_ids"]
    assert Decimal(invoice["net_amount"]) == Decimal("23000.00")  # 10,000 + 5,000 + 8,000
    m1 = detail["milestones"][0]
    assert (m1["accepted_on"], m1["accepted_by"], m1["status"]) == ("2026-10-20", "user:finance@acme.example", "billed")
    a = schema.audit_log
    with site.ctx.engine.connect() as conn:
        reasons = (
            conn.execute(select(a.c.reason).where(a.c.action == "contract.milestone_accepted", a.c.entity_id == "D-1"))
            .scalars()
            .all()
        )
    assert reasons == ["design signed off by Kestrel's CTO (milestone M1, event api:D-1:M1:2026-10-20)"]
