"""A deal's owner: the person its exceptions go to and who, as a sales user, may see and fix it.

Only an existing, active sales, finance or admin user may own a deal, compared on the normalised
address (`users.service.acting_user`). A person's fix naming anyone else is refused. A CRM may
name anybody: a deal whose `owner_email` is no such user still flows (the owner is not billed),
but its exceptions go to the finance owner (`notifications.finance_email`), never to an outside
address, with a problem on `owner_email` saying why, until the CRM or a person names a user.
"""

from __future__ import annotations

from handoff.context import AppContext
from handoff.deals.domain.readiness import INVALID, Problem
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.users.domain import normal_email
from handoff.users.service import Role, UserError, acting_user

OWNER_ROLES = (Role.SALES, Role.FINANCE, Role.ADMIN)
FIELD = "owner_email"


def new_owner(ctx: AppContext, given: str) -> str:
    """The normalised address of the user a person hands a deal to; `UserError` (naming
    `owner_email`) when that is no active sales, finance or admin user."""
    return acting_user(ctx, given, OWNER_ROLES, FIELD).email


def finance_owner(ctx: AppContext) -> str:
    return normal_email(ctx.config.model.notifications.finance_email)


def exception_owner(
    ctx: AppContext, uow: UnitOfWork, given: str | None, known: dict[str, str | Problem]
) -> tuple[str, Problem | None]:
    """Who a blocked deal's exception goes to, and the problem to add when it is not the deal's
    `owner_email`. `known`: addresses looked up already (one batch asks once per address)."""
    if not given or not given.strip():
        return finance_owner(ctx), None
    key = normal_email(given)
    if key not in known:
        try:
            known[key] = acting_user(ctx, given, OWNER_ROLES, FIELD, uow).email
        except UserError as exc:
            known[key] = Problem(
                INVALID,
                FIELD,
                f"{exc.message}; the deal's exceptions go to finance ({finance_owner(ctx)}) "
                "until its owner is an active sales user",
            )
    found = known[key]
    return (found, None) if isinstance(found, str) else (finance_owner(ctx), found)
