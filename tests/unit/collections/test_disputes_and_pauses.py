"""Disputes and pauses as use cases, on a fake repository: what is written, what is audited, and
that a refused request writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from handoff.collections import service
from handoff.collections.repository import DunningRepository
from tests.fakes import FakeContext, FakeUnitOfWork

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)


class Disputes:
    """DunningRepository's dispute and pause part, in memory."""

    def __init__(self) -> None:
        self.invoices = {"INV-DE-2026-000001": 1, "INV-DE-2026-000002": 2}
        self.customers = {"C-1"}
        self.disputed: dict[int, str] = {}
        self.pauses: dict[str, tuple[date | None, str]] = {}

    def invoice_id(self, number: str) -> int | None:
        return self.invoices.get(number)

    def is_disputed(self, invoice_id: int) -> bool:
        return invoice_id in self.disputed

    def open_dispute(self, invoice_id: int, reason: str, opened_by: str, opened_at: datetime) -> None:
        self.disputed.setdefault(invoice_id, reason)

    def clear_dispute(self, invoice_id: int) -> bool:
        return self.disputed.pop(invoice_id, None) is not None

    def customer_has_invoice(self, customer_id: str) -> bool:
        return customer_id in self.customers

    def lift_pause(self, customer_id: str) -> None:
        self.pauses.pop(customer_id, None)

    def add_pause(self, customer_id: str, until: date | None, reason: str, paused_by: str, paused_at: datetime) -> None:
        self.pauses[customer_id] = (until, reason)


def context() -> tuple[FakeContext, FakeUnitOfWork, Disputes]:
    repo = Disputes()
    uow = FakeUnitOfWork({DunningRepository: repo})
    return FakeContext(uow, NOW), uow, repo


def test_a_dispute_is_opened_once_and_audited_once() -> None:
    ctx, uow, repo = context()
    assert service.set_dispute(ctx, "INV-DE-2026-000001", "clerk@acme", "wrong licence count")  # type: ignore[arg-type]
    assert not service.set_dispute(ctx, "INV-DE-2026-000001", "clerk@acme", "again")  # type: ignore[arg-type]
    assert repo.disputed == {1: "wrong licence count"}
    assert [(e["action"], e["entity_id"], e["after"]) for e in uow.audited] == [
        ("invoice.disputed", "INV-DE-2026-000001", {"disputed": True})
    ]
    assert uow.commits == 2


def test_clearing_a_dispute_that_is_not_there_changes_nothing() -> None:
    ctx, uow, repo = context()
    assert not service.set_dispute(ctx, "INV-DE-2026-000002", "clerk@acme", clear=True)  # type: ignore[arg-type]
    service.set_dispute(ctx, "INV-DE-2026-000002", "clerk@acme", "short delivery")  # type: ignore[arg-type]
    assert service.set_dispute(ctx, "INV-DE-2026-000002", "clerk@acme", clear=True)  # type: ignore[arg-type]
    assert repo.disputed == {}
    assert [e["action"] for e in uow.audited] == ["invoice.disputed", "invoice.dispute_cleared"]


def test_an_unknown_invoice_or_customer_is_refused_and_nothing_is_written() -> None:
    ctx, uow, repo = context()
    with pytest.raises(service.DunningError, match="no invoice numbered INV-X"):
        service.set_dispute(ctx, "INV-X", "clerk@acme", "?")  # type: ignore[arg-type]
    with pytest.raises(service.DunningError, match="no invoice for customer C-9"):
        service.pause_dunning(ctx, "C-9", "clerk@acme", until=date(2026, 12, 31))  # type: ignore[arg-type]
    assert (repo.disputed, repo.pauses, uow.audited, uow.commits) == ({}, {}, [], 0)


def test_a_new_pause_replaces_the_old_one_and_lifting_leaves_none() -> None:
    ctx, uow, repo = context()
    service.pause_dunning(ctx, "C-1", "clerk@acme", until=date(2026, 12, 1), reason="plan")  # type: ignore[arg-type]
    service.pause_dunning(ctx, "C-1", "clerk@acme", until=date(2027, 1, 15), reason="plan moved")  # type: ignore[arg-type]
    assert repo.pauses == {"C-1": (date(2027, 1, 15), "plan moved")}
    service.pause_dunning(ctx, "C-1", "clerk@acme", lift=True)  # type: ignore[arg-type]
    assert repo.pauses == {}
    assert [(e["action"], e["after"]) for e in uow.audited] == [
        ("customer.dunning_paused", {"until": date(2026, 12, 1)}),
        ("customer.dunning_paused", {"until": date(2027, 1, 15)}),
        ("customer.dunning_resumed", None),
    ]
