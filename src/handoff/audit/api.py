"""API: the audit trail. Verify the hash chain, and read who did what, when and why to a deal or
to any record; a sales user reads only the trails of their own deals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from handoff.audit import service as audit
from handoff.users.service import Role, User
from handoff.web.auth import ALL, api_user, check_deal_access
from handoff.web.deps import Ctx, DealId
from handoff.web.errors import ERROR_RESPONSES
from handoff.web.schemas import LINE, Out, plain

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["audit"])
READERS = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
EntityType = Annotated[str, Path(pattern="^(order|user|invoice|customer)$")]
EntityId = Annotated[str, Path(max_length=320, pattern=LINE)]


class AuditEntry(Out):
    seq: int
    at: str
    actor: str
    action: str
    reason: str
    before: Any = None
    after: Any = None


class AuditVerification(Out):
    entries: int
    intact: bool
    broken_at: int | None
    reason: str | None


@router.get("/audit/verify", response_model=AuditVerification)
def verify_audit(ctx: Ctx, user: User = api_user(Role.AUDITOR, Role.ADMIN)) -> Any:
    """Recompute the hash chain; name the first altered, inserted or deleted entry."""
    count, broken = audit.verify(ctx)
    return {
        "entries": count,
        "intact": broken is None,
        "broken_at": broken.seq if broken else None,
        "reason": broken.reason if broken else None,
    }


@router.get("/audit/{entity_type}/{entity_id}", response_model=list[AuditEntry])
def entity_audit(ctx: Ctx, entity_type: EntityType, entity_id: EntityId, user: User = api_user(*READERS)) -> Any:
    """Any record's audit trail (`order` by deal id, `user` by e-mail, `invoice` by number), oldest first."""
    return plain(audit.history(ctx, entity_type, entity_id))


@router.get("/orders/{deal_id}/audit", response_model=list[AuditEntry])
def order_audit(ctx: Ctx, deal_id: DealId, user: User = api_user(*ALL)) -> Any:
    """The deal's audit trail, oldest first: who did what, when and why."""
    check_deal_access(ctx, user, deal_id)
    return plain(audit.history(ctx, "order", deal_id))
