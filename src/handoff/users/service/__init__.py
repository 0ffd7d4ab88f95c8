"""Users, roles and API tokens: who may use the web app and the API.

Roles: `sales` (own deals and their exceptions), `finance` (tasks, invoices, payments),
`auditor` (read-only, the audit trail included), `admin` (users and settings; may do everything).
Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106) and must pass the password
policy (`domain.password_problem`); an API token is a random secret shown once and stored as its
SHA-256 digest. Changes to users are in the audit trail. Logins and sessions: `logins`.

A command's `--actor` is only a claim: `acting_user` is the one check that it names an active
user whose role may do the thing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher

from handoff.context import AppContext
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.users.domain import Role as Role
from handoff.users.domain import User as User
from handoff.users.domain import is_email, normal_email, password_problem
from handoff.users.repository import UserRepository

hasher = PasswordHasher()
TOKEN_PREFIX = "hnd_"


class UserError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _valid_email(email: str) -> str:
    normal = normal_email(email)
    if not is_email(normal):
        raise UserError(f"{email.strip()!r} is not an e-mail address", "email")
    return normal


def check_password(password: str, email: str) -> None:
    """Refuse a password the policy does not allow, saying why (field `password`)."""
    problem = password_problem(password, email)
    if problem is not None:
        raise UserError(problem, "password")


def add_user(ctx: AppContext, email: str, role: Role | str, password: str, actor: str) -> User:
    email = _valid_email(email)
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"role must be one of {', '.join(r.value for r in Role)}", "role") from None
    check_password(password, email)
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(UserRepository)
        if repo.email_taken(email):
            raise UserError(f"a user {email} already exists", "email")
        uid = repo.add(email, role, hasher.hash(password), now)
        uow.audit(
            at=now,
            actor=actor,
            action="user.added",
            entity_type="user",
            entity_id=email,
            reason="user account created",
            after={"role": role.value},
        )
        uow.commit()
    return User(uid, email, role)


def set_active(ctx: AppContext, user_id: int, active: bool, actor: str) -> User:
    """Activate or deactivate a user; deactivating also revokes their API tokens and ends their
    sessions, so that reactivating them later revives neither."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(UserRepository)
        user = repo.get(user_id)
        if user is None:
            raise UserError(f"no user {user_id}")
        repo.set_active(user_id, active)
        ended = 0
        if not active:
            repo.revoke_tokens(user_id, now)
            ended = repo.end_sessions(user_id, now, "deactivated")
        uow.audit(
            at=now,
            actor=actor,
            action="user.activated" if active else "user.deactivated",
            entity_type="user",
            entity_id=user.email,
            reason="account status changed",
            before={"active": user.active},
            after={"active": active} if active else {"active": active, "sessions_ended": ended},
        )
        uow.commit()
    return User(user.id, user.email, user.role, active)


def store_password(uow: UnitOfWork, user: User, password: str, at: datetime, actor: str, reason: str) -> None:
    """Set a (checked) password in `uow`: every session of the user ends; audited."""
    repo = uow.repository(UserRepository)
    repo.set_password_hash(user.id, hasher.hash(password))
    ended = repo.end_sessions(user.id, at, "password")
    uow.audit(
        at=at,
        actor=actor,
        action="user.password_changed",
        entity_type="user",
        entity_id=user.email,
        reason=reason,
        after={"sessions_ended": ended},
    )


def set_password(ctx: AppContext, email: str, password: str, actor: str) -> User:
    """An operator sets a user's password (a reset: `handoff users set-password`); their sessions end."""
    user = UserRepository(ctx.engine).by_email(_valid_email(email))
    if user is None:
        raise UserError(f"no user {normal_email(email)}", "email")
    check_password(password, user.email)
    with ctx.unit_of_work() as uow:
        store_password(uow, user, password, ctx.clock(), actor, "password set by an operator")
        uow.commit()
    return user


def get_user(ctx: AppContext, user_id: int) -> User | None:
    user = UserRepository(ctx.engine).get(user_id)
    return user if user is not None and user.active else None


def user_by_email(ctx: AppContext, email: str) -> User | None:
    """The active user with this e-mail (for identities mapped from other systems, such as Slack)."""
    user = UserRepository(ctx.engine).by_email(normal_email(email))
    return user if user is not None and user.active else None


def acting_user(
    ctx: AppContext, given: str, roles: Iterable[Role], field: str = "actor", uow: UnitOfWork | None = None
) -> User:
    """The user a command acts as (`--actor`), or any other address that must name a user (a
    deal's new owner, `field`): an existing, active user whose role is one of `roles`, found by the
    normalised address (case, whitespace, the domain's trailing dot, Unicode forms). Anything else
    is refused, naming why, before anything is written. `uow`: read inside its transaction."""
    allowed = tuple(roles)
    email = normal_email(given)
    if not is_email(email):
        raise UserError(f"{field} {given.strip()!r} is not an e-mail address", field)
    user = UserRepository(uow if uow is not None else ctx.engine).by_email(email)
    if user is None:
        raise UserError(f"{field}: no user {email} (add one with `handoff users add`)", field)
    if not user.active:
        raise UserError(f"{field}: {email} is deactivated", field)
    if user.role not in allowed:
        names = " or ".join(r.value for r in allowed)
        raise UserError(f"{field}: {email} is {user.role.value}; this needs {names}", field)
    return user


FINANCE_ROLES = (Role.FINANCE, Role.ADMIN)  # who may act on money from the command line


def actor_email(ctx: AppContext, given: str | None, default: str, roles: Iterable[Role] = FINANCE_ROLES) -> str:
    """The stored address of the user a command acts as (`--actor`, checked by `acting_user`;
    refused with UserError), or `default` when the command was given none."""
    return default if given is None else acting_user(ctx, given, roles).email


def list_users(ctx: AppContext) -> list[dict[str, Any]]:
    """Every user with their role, status, failed logins and, while it lasts, their account's lock."""
    now = ctx.clock()
    rows = []
    for u in UserRepository(ctx.engine).listing():
        row = u._asdict()
        if u.locked_until is not None and u.locked_until <= now:
            row["locked_until"] = None
        rows.append(row)
    return rows


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(ctx: AppContext, user: User, name: str, actor: str) -> tuple[str, int]:
    """A new API token for `user`: (the secret, shown only now; its id)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise UserError("token name must have 1 to 100 characters", "name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        tid = uow.repository(UserRepository).add_token(user.id, name, _digest(secret), secret[:10], now)
        uow.audit(
            at=now,
            actor=actor,
            action="token.created",
            entity_type="user",
            entity_id=user.email,
            reason=f"API token {name!r} created",
            after={"token_id": tid, "prefix": secret[:10]},
        )
        uow.commit()
    return secret, tid


def user_for_token(ctx: AppContext, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return UserRepository(ctx.engine).by_token(_digest(token))
