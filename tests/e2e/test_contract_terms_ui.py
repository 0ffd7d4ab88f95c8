"""A contract's terms on the approvals page and API (over HTTP): the findings show; the deal owner
sees that someone else must approve and is refused if they try; another user approves through the
API, and the contract is billed from the next run."""

from __future__ import annotations

import html
from dataclasses import replace

from sqlalchemy import select

from handoff.contracts.service import contracts
from handoff.contracts.service.billing_run import run_billing
from handoff.contracts.service.terms_review import review_on_lock, review_state
from handoff.kernel.storage import schema
from handoff.users.service import Role
from tests.e2e.conftest import EMAILS, Site, csrf_of, login
from tests.e2e.contract_builders import BUYER, START, version

OWNER = EMAILS[Role.FINANCE]


def _approval_id(site: Site) -> int:
    a = schema.approvals
    with site.ctx.engine.connect() as conn:
        found: int = conn.execute(select(a.c.id).where(a.c.kind == "contract_terms")).scalar_one()
    return found


def test_the_deal_owner_cannot_approve_and_another_user_does(site: Site) -> None:
    ctx = site.ctx
    base = version("C-7")
    contract = replace(
        base,
        terms=replace(base.terms, owner_email=OWNER),
        lines=(replace(base.lines[0], discount="25%"), *base.lines[1:]),
    )
    contracts.lock(ctx, contract, BUYER, "automation:lock", "won quote")
    if review_state(ctx, "C-7") == "approved":  # until `lock` reviews the terms itself
        with ctx.unit_of_work() as uow:
            review_on_lock(uow, ctx, contract, actor="automation:lock", now=ctx.clock(), close_date=START)
            uow.commit()
    approval_id = _approval_id(site)

    with login(site, Role.FINANCE) as owner:
        page = html.unescape(owner.get("/approvals").text)
        assert "Contract terms" in page and "lines[L1].discount" in page
        assert "line L1 discount 25% is above the 20% limit" in page
        assert "You are this contract's deal owner" in page
        response = owner.post(
            f"/approvals/{approval_id}/approve", data={"note": "", "csrf_token": csrf_of(owner.get("/approvals").text)}
        )
        assert response.status_code == 303
        shown = html.unescape(owner.get(response.headers["location"]).text)
        assert "is the deal owner of contract C-7 and cannot approve its own terms" in shown
    assert review_state(ctx, "C-7") == "pending"
    assert run_billing(ctx, START, "w1").drafts == 0

    with site.client(Role.ADMIN) as admin:
        (listed,) = [a for a in admin.get("/api/v1/approvals").json()["items"] if a["id"] == approval_id]
        assert listed["kind"] == "contract_terms" and listed["payload"]["owner"] == OWNER
        codes = [f["code"] for f in listed["payload"]["findings"]]
        assert codes == ["discount_above_limit"]  # prices off the list are not reviewed by default
        decided = admin.post(f"/api/v1/approvals/{approval_id}/approve", json={"note": "ok"})
        assert decided.status_code == 200 and decided.json()["status"] == "approved"
    assert review_state(ctx, "C-7") == "approved"
    assert run_billing(ctx, START, "w1").drafts == 1
