"""Who may change a project: finance and admins everything, the project's manager its plan and
approvals, sales nobody (read only).

A person acts under their e-mail, checked here through the users service (`acting_user`: an
active user with a role that may). A program acts under a system name with a prefix
(`automation:posting`, `webhook:harvest`, `api:...`): the adapter that names it authenticated it
already (webhook token, API token), so it is taken as given.
"""

from __future__ import annotations

from handoff.context import AppContext
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.projects.domain.model import ProjectError
from handoff.users.service import Role, UserError, acting_user

FINANCE = (Role.FINANCE, Role.ADMIN)
SYSTEM_PREFIXES = ("automation:", "webhook:", "api:", "system:", "demo:", "migration:", "worker:")


def is_system(actor: str) -> bool:
    """Whether `actor` names a program (authenticated by its adapter), not a person."""
    return actor.startswith(SYSTEM_PREFIXES)


def check_finance(ctx: AppContext, actor: str, record: str, uow: UnitOfWork | None = None) -> str:
    """`actor` if it may act on money (a system, or a finance or admin user); ProjectError naming
    the actor otherwise, before anything is written."""
    if not actor.strip():
        raise ProjectError.at(
            record,
            "actor",
            "is missing",
        )
    if is_system(actor):
        return actor
    try:
        return acting_user(ctx, actor, FINANCE, uow=uow).email
    except UserError as exc:
        raise ProjectError(f"{record}: {exc}", record=record, field="actor") from None


def check_manager(ctx: AppContext, actor: str, manager_email: str, record: str, uow: UnitOfWork | None = None) -> str:
    """`actor` if it may approve the project's delivery or change its plan: a system, a finance
    or admin user, or the project's manager (an active user of any role). `uow`: read in its
    transaction (a use case checking inside its unit of work must pass it)."""
    if not actor.strip():
        raise ProjectError.at(record, "actor", "is missing")
    if is_system(actor):
        return actor
    is_manager = bool(manager_email) and actor.strip().lower() == manager_email.strip().lower()
    try:
        return acting_user(ctx, actor, tuple(Role) if is_manager else FINANCE, uow=uow).email
    except UserError as exc:
        also = "" if is_manager else f" (or the project's manager {manager_email or '(none)'})"
        raise ProjectError(f"{record}: {exc}{also}", record=record, field="actor") from None
