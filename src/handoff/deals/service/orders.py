"""Order use cases for people: fix billing fields, list the exception queue, read an order."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from handoff.context import AppContext
from handoff.deals.domain.orders import DEAL_FIELDS, DealEvent
from handoff.deals.repository import queries
from handoff.deals.repository.orders import stored_deal
from handoff.deals.service import owners
from handoff.deals.service.admission import refusal
from handoff.deals.service.intake import USER_SOURCE, ProcessReport, ingest
from handoff.users.service import UserError

# Fields a person may correct; identity (deal_id) and CRM-owned facts (the money: amount, currency,
# discount) stay with the source.
EDITABLE = frozenset(DEAL_FIELDS) - {"deal_id", "stage", "close_date", "amount", "currency", "discount"}


class OrderError(Exception):
    """A fix refused; `field` when one field's value is the reason."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def update_fields(ctx: AppContext, deal_id: str, changes: Mapping[str, str], actor: str) -> ProcessReport:
    """A person's fix is a new version of the deal, applied through the same flow as any event:
    it is re-checked at once and moves on by itself when it becomes ready. A new owner must be an
    active sales, finance or admin user (`owners`); it is stored as that user's address, and the
    version's audit entry keeps the owner before and after."""
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise OrderError(f"field(s) {', '.join(unknown)} cannot be edited here")
    if "owner_email" in changes:
        try:
            changes = {**changes, "owner_email": owners.new_owner(ctx, changes["owner_email"])}
        except UserError as exc:
            raise OrderError(f"{deal_id}: {exc.message}", owners.FIELD) from exc
    stored = stored_deal(ctx.engine, deal_id)
    if stored is None:
        raise OrderError(f"no deal {deal_id}")
    deal = stored.deal.with_fields(changes)
    # A person edits what they see: their version is newer than it even if clocks disagree.
    at = max(ctx.clock(), stored.version_at + timedelta(microseconds=1))
    event = DealEvent(f"{USER_SOURCE}{actor}", f"edit-{uuid.uuid4()}", at, deal)
    # the fields' text and lengths, as the database takes them (the inbox takes `user:` and any user's address)
    if (refused := refusal(replace(event, source=USER_SOURCE))) is not None:
        raise OrderError(f"{deal_id}: {refused}", refused.field)
    return ingest(ctx, [event])[1]


def exception_queue(ctx: AppContext, owner: str | None = None) -> list[dict[str, Any]]:
    """Every open exception, oldest first (`owner`: only theirs)."""
    return queries.exception_queue(ctx, owner)
