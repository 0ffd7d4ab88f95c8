"""Users, roles and API tokens: who may use the web app and the API.

Roles: `sales` (own deals and their exceptions), `finance` (tasks, invoices, payments),
`auditor` (read-only, the audit trail included), `admin` (users and settings; may do everything).
Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106); an API token is a random
secret shown once and stored as its SHA-256 digest. Changes to users are in the audit trail.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from handoff.context import AppContext
from handoff.users.domain import Role as Role
from handoff.users.domain import User as User
from handoff.users.repository import UserRepository

_hasher = PasswordHasher()
TOKEN_PREFIX = "hnd_"
MIN_PASSWORD = 8
# Verified when the e-mail is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class UserError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or email.startswith("@") or email.endswith("@"):
        raise UserError(f"{email!r} is not an e-mail address", "email")
    return email


def add_user(ctx: AppContext, email: str, role: Role | str, password: str, actor: str) -> User:
    email = _normal_email(email)
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"role must be one of {', '.join(r.value for r in Role)}", "role") from None
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters", "password")
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(UserRepository)
        if repo.email_taken(email):
            raise UserError(f"a user {email} already exists", "email")
        uid = repo.add(email, role, _hasher.hash(password), now)
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
    """Activate or deactivate a user; deactivating also revokes their API tokens."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(UserRepository)
        user = repo.get(user_id)
        if user is None:
            raise UserError(f"no user {user_id}")
        repo.set_active(user_id, active)
        if not active:
            repo.revoke_tokens(user_id, now)
        uow.audit(
            at=now,
            actor=actor,
            action="user.activated" if active else "user.deactivated",
            entity_type="user",
            entity_id=user.email,
            reason="account status changed",
            before={"active": user.active},
            after={"active": active},
        )
        uow.commit()
    return User(user.id, user.email, user.role, active)


def authenticate(ctx: AppContext, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (same answer and cost either way)."""
    found = UserRepository(ctx.engine).credentials(email.strip().lower())
    try:
        _hasher.verify(found.password_hash if found is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if found is None or not found.user.active:
        return None
    return found.user


def get_user(ctx: AppContext, user_id: int) -> User | None:
    user = UserRepository(ctx.engine).get(user_id)
    return user if user is not None and user.active else None


def user_by_email(ctx: AppContext, email: str) -> User | None:
    """The active user with this e-mail (for identities mapped from other systems, such as Slack)."""
    user = UserRepository(ctx.engine).by_email(email.strip().lower())
    return user if user is not None and user.active else None


def list_users(ctx: AppContext) -> list[dict[str, Any]]:
    return [u._asdict() for u in UserRepository(ctx.engine).listing()]


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
