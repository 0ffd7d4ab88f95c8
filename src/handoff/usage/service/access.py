"""Who may act on usage: finance and admins (metrics, prices, rating, events), and programs under a
system name (`automation:usage_rating`, `api:<token>`, `webhook:<source>`) whose adapter
authenticated them already (API token, webhook signature)."""

from __future__ import annotations

from handoff.context import AppContext
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.usage.domain.events import UsageError
from handoff.users.service import Role, UserError, acting_user

FINANCE = (Role.FINANCE, Role.ADMIN)
SYSTEM_PREFIXES = ("automation:", "webhook:", "api:", "system:", "demo:", "migration:", "worker:", "file:")


def is_system(actor: str) -> bool:
    """Whether `actor` names a program (authenticated by its adapter), not a person."""
    return actor.startswith(SYSTEM_PREFIXES)


def check_finance(ctx: AppContext, actor: str, record: str, uow: UnitOfWork | None = None) -> str:
    """`actor` when it may act (a system, or an active finance or admin user); UsageError naming
    the actor otherwise, before anything is written."""
    if not isinstance(actor, str) or not actor.strip():
        raise UsageError(record, "actor", "is missing")
    if is_system(actor):
        return actor
    try:
        return acting_user(ctx, actor, FINANCE, uow=uow).email
    except UserError as exc:
        raise UsageError(record, "actor", f"may not: {exc}") from None
