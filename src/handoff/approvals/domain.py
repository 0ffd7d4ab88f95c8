"""Approvals: what a four-eyes request is, what it may become, and who stands behind an actor.

An approval is of one kind about one subject: a credit note about the invoice number, or a
contract's non-standard terms (`contract_terms`, the deal desk) about the contract id, whose
payload carries the review's findings. It asks for what its payload says, and leaves `pending`
once, to `approved` or `rejected`. Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from handoff.kernel.money import D
from handoff.users.domain import normal_email


class ApprovalKind(enum.StrEnum):
    CREDIT_NOTE = "credit_note"
    CONTRACT_TERMS = "contract_terms"  # a contract's terms beyond the review policy (contracts.domain.review)


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Approval:
    id: int
    kind: ApprovalKind
    subject: str  # the invoice number (credit_note), the contract id (contract_terms)
    payload: Mapping[str, Any]  # what was asked: reason, quantities, gross, currency
    status: ApprovalStatus
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    result_invoice_id: int | None = None  # the credit-note draft made on approval


def person(actor: str) -> str:
    """The person behind an actor: web users act as `user:EMAIL`, the CLI as `EMAIL`; compared on
    the normalised address (case, whitespace, the domain's trailing dot, Unicode forms)."""
    return normal_email(actor.strip().removeprefix("user:"))


def quantities_in(payload: Mapping[str, Any]) -> dict[int, Decimal]:
    """The quantities a credit-note request asks for: invoice line number -> quantity."""
    return {int(n): D(q) for n, q in (payload.get("quantities") or {}).items()}
