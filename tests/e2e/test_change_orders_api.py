"""The change orders API on SQLite and PostgreSQL: finance applies a change order to a contract
(the next version, adjustments as exact decimal strings); the same order again changes nothing;
another order under a used key is a 409, an unknown contract a 404, a change order before the
contract's start a 422 naming the field; sales users may not amend."""

from __future__ import annotations

from typing import Any

from handoff.users.service import Role
from tests.e2e.conftest import Site
from tests.e2e.contract_builders import lock

F, S = Role.FINANCE, Role.SALES


def _order(key: str = "CO-1", quantity: str = "2", effective: str = "2026-11-01") -> dict[str, Any]:
    return {
        "key": key,
        "effective": effective,
        "reason": "second platform instance",
        "changes": [{"type": "change_quantity", "line_key": "L1", "quantity": quantity}],
    }


def test_finance_applies_a_change_order(site: Site) -> None:
    lock(site.ctx, "D-1")
    with site.client(F) as api:
        done = api.post("/api/v1/contracts/D-1/change-orders", json=_order())
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["version"], body["change_order"], body["repeated"]) == (2, "CO-1", False)
        # nothing billed yet: year 1 at 2 units from 1 Nov, the October days restored at 1 unit
        assert [a["period_key"] for a in body["adjustments"]] == ["adjust:CO-1:2026-10-01"]
        assert body["adjustment_total"] == body["adjustments"][0]["amount"]
        again = api.post("/api/v1/contracts/D-1/change-orders", json=_order()).json()
        assert again["repeated"] and again["content_hash"] == body["content_hash"]
        other = api.post("/api/v1/contracts/D-1/change-orders", json=_order(quantity="3"))
        assert (other.status_code, other.json()["error"]["field"]) == (409, "key")
        missing = api.post("/api/v1/contracts/NOPE/change-orders", json=_order())
        assert missing.status_code == 404
        early = api.post("/api/v1/contracts/D-1/change-orders", json=_order("CO-2", effective="2026-09-01"))
        assert (early.status_code, early.json()["error"]["field"]) == (422, "effective")
        detail = api.get("/api/v1/contracts/D-1").json()
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    with site.client(S) as api:
        assert api.post("/api/v1/contracts/D-1/change-orders", json=_order("CO-3")).status_code == 403
