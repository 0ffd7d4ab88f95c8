"""The deal desk on SQLite and PostgreSQL: a contract locked with a 25 % discount (the policy allows
20 %) waits for a finance approval that shows the findings; its deal owner and the requester cannot
approve it; another finance user does, and the billing run bills it. Terms within the policy need
no approval; rejected terms stay unbilled."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from handoff.approvals import service as approvals
from handoff.approvals.api.schemas import Approval
from handoff.cli import app
from handoff.context import AppContext
from handoff.contracts.domain.catalog import Product
from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Frequency,
)
from handoff.contracts.domain.review import DISCOUNT_ABOVE_LIMIT
from handoff.contracts.service import catalog, contracts
from handoff.contracts.service.billing_run import run_billing
from handoff.contracts.service.terms_review import TermsReview, review_on_lock, review_state
from handoff.kernel.parties import Address, Customer
from handoff.users import service as users
from handoff.users.service import Role

FINANCE = "finance@acme.example"  # locks the contract: the requester
OWNER = "owner@acme.example"  # the deal owner, a finance user too
CONTROLLER = "controller@acme.example"
START = date(2026, 11, 15)  # 13 days after the close (the clock's day)
BUYER = Customer(
    "CUST-9",
    "Kestrel Analytics GmbH",
    "DE",
    True,
    "DE811907980",
    billing_email="ap@kestrel.example",
    address=Address("Invalidenstraße 1", "Berlin", "10115", "DE"),
)


def _version(contract_id: str, discount: str) -> ContractVersion:
    terms = ContractTerms("CUST-9", "ACME-DE", "EUR", "net30", START, owner_email=OWNER)
    seats = ContractLine(
        "L1",
        "PLAT-SEAT",
        "Platform seats",
        Decimal(10),
        Decimal("1000.00"),
        BillingRule(BillingKind.RECURRING, frequency=Frequency.ANNUAL, end=date(2029, 11, 15)),
        discount=discount,
    )
    return ContractVersion(contract_id, 1, START, terms, (seats,))


@pytest.fixture
def desk(ctx: AppContext) -> AppContext:
    for email in (FINANCE, OWNER, CONTROLLER):
        users.add_user(ctx, email, Role.FINANCE, "pw-finance-12345", actor="test")
    catalog.upsert_product(ctx, Product("PLAT-SEAT", "Platform seat"), FINANCE, "offer", valid_from=date(2026, 1, 1))
    catalog.set_price(ctx, "PLAT-SEAT", "EUR", "1000.00", date(2026, 1, 1), FINANCE)
    return ctx


def _terms_approvals(ctx: AppContext, contract_id: str) -> list[dict[str, object]]:
    page = approvals.list_approvals(ctx, None, subject=contract_id)
    return [a for a in page.items if a["kind"] == "contract_terms"]


def _lock(ctx: AppContext, version: ContractVersion) -> None:
    """The lock path: `lock`, then its terms review in a transaction of its own unless the lock
    already asked for one (once `lock` calls `review_on_lock` itself)."""
    contracts.lock(ctx, version, BUYER, FINANCE, "won quote")
    if _terms_approvals(ctx, version.contract_id) or review_state(ctx, version.contract_id) != "approved":
        return
    with ctx.unit_of_work() as uow:
        review_on_lock(uow, ctx, version, actor=FINANCE, now=ctx.clock(), close_date=ctx.clock().date())
        uow.commit()


def test_a_25_percent_discount_waits_for_another_finance_user(desk: AppContext, db_url: str) -> None:
    ctx = desk
    _lock(ctx, _version("C-25", "25%"))
    assert review_state(ctx, "C-25") == "pending"
    (asked,) = _terms_approvals(ctx, "C-25")
    assert asked["status"] == "pending" and asked["requested_by"] == FINANCE
    payload = Approval.model_validate(asked).payload  # as the API shows it
    assert [(f.code, f.field) for f in payload.findings or []] == [(DISCOUNT_ABOVE_LIMIT, "lines[L1].discount")]
    assert "25%" in (payload.findings or [])[0].message and payload.owner == OWNER

    approval_id = int(str(asked["id"]))
    with pytest.raises(approvals.ApprovalError, match="deal owner of contract C-25") as by_owner:
        approvals.approve(ctx, approval_id, OWNER)
    assert by_owner.value.code == "same_person"
    refused = CliRunner().invoke(
        app, ["approvals", "approve", str(approval_id), "--actor", f" {OWNER.upper()} ", "--db", db_url]
    )
    assert refused.exit_code != 0 and "deal owner" in refused.output
    with pytest.raises(approvals.ApprovalError, match="someone else must approve"):
        approvals.approve(ctx, approval_id, FINANCE)  # the requester
    assert review_state(ctx, "C-25") == "pending"

    approved = CliRunner().invoke(
        app, ["approvals", "approve", str(approval_id), "--actor", CONTROLLER, "--note", "in mandate", "--db", db_url]
    )
    assert approved.exit_code == 0 and "contract C-25 is billed from the next run" in approved.output
    decided = approvals.get_approval(ctx, approval_id)
    assert (decided["status"], decided["decided_by"]) == ("approved", CONTROLLER)
    assert review_state(ctx, "C-25") == "approved"

    billed = run_billing(ctx, START, "w1")
    assert (billed.drafts, billed.items, billed.failures) == (1, 1, [])


def test_the_run_skips_a_contract_awaiting_approval(desk: AppContext) -> None:
    _lock(desk, _version("C-25", "25%"))
    skipped = run_billing(desk, START, "w1")
    assert (skipped.drafts, skipped.items) == (0, 0)
    (asked,) = _terms_approvals(desk, "C-25")
    approvals.approve(desk, int(str(asked["id"])), CONTROLLER)
    assert run_billing(desk, START, "w1").drafts == 1  # from the next run on


def test_terms_within_the_policy_need_no_approval(desk: AppContext) -> None:
    ctx = desk
    contracts.lock(ctx, _version("C-20", "20%"), BUYER, FINANCE, "won quote")
    with ctx.unit_of_work() as uow:
        found = review_on_lock(uow, ctx, _version("C-20", "20%"), actor=FINANCE, now=ctx.clock())
        uow.commit()
    assert found == TermsReview("C-20", (), None) and found.state == "approved"
    assert review_state(ctx, "C-20") == "approved" and _terms_approvals(ctx, "C-20") == []


def test_rejected_terms_stay_rejected(desk: AppContext) -> None:
    ctx = desk
    _lock(ctx, _version("C-30", "30%"))
    (asked,) = _terms_approvals(ctx, "C-30")
    with pytest.raises(approvals.ApprovalError, match="needs a note"):
        approvals.reject(ctx, int(str(asked["id"])), OWNER, "")
    approvals.reject(ctx, int(str(asked["id"])), OWNER, "30 % is beyond any mandate")
    assert review_state(ctx, "C-30") == "rejected"
