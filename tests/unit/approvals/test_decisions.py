"""The four-eyes rules of approving and rejecting, on fake repositories: who may decide, what a
decision writes, and that a refused decision commits nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from handoff.approvals import service
from handoff.approvals.domain import Approval, ApprovalKind, ApprovalStatus
from handoff.approvals.repository import ApprovalRepository, InvoiceToCredit
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceKind, draft_invoice, issue
from tests.corpus import DE_BUYER, DE_SELLER, RATES, SAAS, SEATS, TERMS, order
from tests.fakes import FakeContext, FakeUnitOfWork

NOW = datetime(2026, 11, 5, 10, tzinfo=UTC)
ASKER, APPROVER = "sales.lead@acme.example", "finance.lead@acme.example"


def issued() -> Invoice:
    draft = draft_invoice(order("D-1", DE_BUYER, "EUR", [SAAS, SEATS]), DE_SELLER, RATES, TERMS)
    return issue(draft, "INV-DE-2026-000001", NOW.date())


class Approvals:
    """ApprovalRepository's part that deciding uses, in memory."""

    def __init__(self, approval: Approval, invoice: Invoice, race_lost: bool = False) -> None:
        self.approval, self.invoice, self.race_lost = approval, invoice, race_lost
        self.decided: list[tuple[int, ApprovalStatus, str, str]] = []
        self.drafts: list[tuple[int, Invoice, str]] = []
        self.results: dict[int, int] = {}

    def get(self, approval_id: int) -> Approval | None:
        return self.approval if approval_id == self.approval.id else None

    def decide(self, approval_id: int, status: ApprovalStatus, actor: str, note: str, at: datetime) -> bool:
        if self.race_lost:
            return False
        self.decided.append((approval_id, status, actor, note))
        return True

    def invoice_to_credit(self, number: str) -> InvoiceToCredit | None:
        if number != self.invoice.number:
            return None
        return InvoiceToCredit(7, InvoiceKind.INVOICE, DocumentStatus.ISSUED, self.invoice)

    def add_credit_note_draft(self, invoice_id: int, draft: Invoice, draft_key: str, at: datetime) -> int:
        self.drafts.append((invoice_id, draft, draft_key))
        return 99

    def set_result(self, approval_id: int, invoice_id: int) -> None:
        self.results[approval_id] = invoice_id


def pending(requested_by: str = ASKER, status: ApprovalStatus = ApprovalStatus.PENDING) -> Approval:
    payload = {"reason": "service outage in November", "quantities": {"2": "5"}, "gross": "296.905", "currency": "EUR"}
    return Approval(
        3,
        ApprovalKind.CREDIT_NOTE,
        "INV-DE-2026-000001",
        payload,
        status,
        requested_by,
        NOW,
        decided_by=None if status is ApprovalStatus.PENDING else APPROVER,
    )


def context(repo: Approvals) -> tuple[FakeContext, FakeUnitOfWork]:
    uow = FakeUnitOfWork({ApprovalRepository: repo})
    return FakeContext(uow, NOW), uow


@pytest.fixture(autouse=True)
def approval_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The read model the use cases return at the end; not what is tested here."""
    monkeypatch.setattr(service, "get_approval", lambda ctx, approval_id: {"id": approval_id})


def test_approving_makes_the_credit_note_draft_audits_tells_the_requester_and_commits_once() -> None:
    repo = Approvals(pending(), issued())
    ctx, uow = context(repo)
    assert service.approve(ctx, 3, f"user:{APPROVER}", note="agreed") == {"id": 3}  # type: ignore[arg-type]
    assert repo.decided == [(3, ApprovalStatus.APPROVED, f"user:{APPROVER}", "agreed")]
    ((invoice_id, draft, key),) = repo.drafts
    assert (invoice_id, key, draft.kind) == (7, "approval:3", InvoiceKind.CREDIT_NOTE)
    assert [(ln.description, ln.quantity) for ln in draft.lines] == [(SEATS[0], Decimal("5"))]  # line 2 only
    assert repo.results == {3: 99}
    (entry,) = uow.audited
    assert entry["action"] == "credit_note.approved" and entry["after"]["requested_by"] == ASKER
    assert entry["after"]["credit_note_draft"] == 99 and entry["reason"] == "agreed"
    assert any(ASKER in n.payload.get("to", []) for n in uow.notices)
    assert uow.commits == 1


@pytest.mark.parametrize("who", [ASKER, f"user:{ASKER}", f"user:{ASKER.upper()}"])
def test_the_requester_may_not_approve_in_any_guise_and_nothing_is_written(who: str) -> None:
    repo = Approvals(pending(), issued())
    ctx, uow = context(repo)
    with pytest.raises(service.ApprovalError) as refused:
        service.approve(ctx, 3, who)  # type: ignore[arg-type]
    assert refused.value.code == "same_person"
    assert (repo.decided, repo.drafts, uow.audited, uow.notices, uow.commits) == ([], [], [], [], 0)


def test_the_requester_may_withdraw_by_rejecting() -> None:
    repo = Approvals(pending(), issued())
    ctx, uow = context(repo)
    service.reject(ctx, 3, ASKER, "asked on the wrong invoice")  # type: ignore[arg-type]
    assert repo.decided == [(3, ApprovalStatus.REJECTED, ASKER, "asked on the wrong invoice")]
    assert repo.drafts == [] and uow.audited[0]["action"] == "credit_note.rejected" and uow.commits == 1


@pytest.mark.parametrize("race_lost, status", [(False, ApprovalStatus.APPROVED), (True, ApprovalStatus.PENDING)])
def test_a_decided_request_or_a_lost_race_is_not_pending_and_nothing_is_written(
    race_lost: bool, status: ApprovalStatus
) -> None:
    repo = Approvals(pending(status=status), issued(), race_lost=race_lost)
    ctx, uow = context(repo)
    with pytest.raises(service.ApprovalError) as refused:
        service.approve(ctx, 3, APPROVER)  # type: ignore[arg-type]
    assert refused.value.code == "not_pending"
    assert (repo.drafts, uow.audited, uow.commits) == ([], [], 0)


@pytest.mark.parametrize("note", ["", "   "])
def test_a_rejection_needs_a_note(note: str) -> None:
    ctx, uow = context(Approvals(pending(), issued()))
    with pytest.raises(service.ApprovalError) as refused:
        service.reject(ctx, 3, APPROVER, note)  # type: ignore[arg-type]
    assert refused.value.code == "invalid" and uow.commits == 0


def test_the_fake_offers_only_what_the_real_repository_has() -> None:
    used = {"get", "decide", "invoice_to_credit", "add_credit_note_draft", "set_result"}
    assert used <= {name for name in vars(Approvals) if not name.startswith("_")}
    assert all(callable(getattr(ApprovalRepository, name, None)) for name in used)
