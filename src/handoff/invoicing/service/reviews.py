"""Reviews of amended deals (`review_amendment` tasks) reopened by a step taken elsewhere: a credit
that such a review asked for and that will not be made (rejected, or its draft voided) brings the
difference back, so the review opens again. Runs in the caller's transaction; nothing commits here."""

from __future__ import annotations

from datetime import datetime

from handoff.invoicing.repository.amendments import REVIEW, AmendmentRepository
from handoff.kernel.storage.unit_of_work import UnitOfWork


def reopen(uow: UnitOfWork, task_id: int, now: datetime, actor: str, why: str) -> bool:
    """Open review `task_id` again, saying why (audited); False when it is open already."""
    repo = uow.repository(AmendmentRepository)
    task = repo.task(task_id)
    if task is None or not repo.reopen(task_id, why):
        return False
    uow.audit(
        at=now,
        actor=actor,
        action="task.reopened",
        entity_type="order",
        entity_id=task.deal_id,
        reason=why,
        before={"task": REVIEW, "status": task.status},
        after={"task": REVIEW, "status": "open"},
    )
    return True
