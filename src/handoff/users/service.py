"""Users, roles and API tokens: who may use the web app and the API.

Roles: `sales` (own deals and their exceptions), `finance` (tasks, invoices, payments),
`auditor` (read-only, the audit trail included), `admin` (users and settings; may do everything).
Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106); an API token is a random
secret shown once and stored as its SHA-256 digest. Changes to users are in the audit trail.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update

from handoff.context import AppContext
from handoff.kernel.storage import schema

_hasher = PasswordHasher()
TOKEN_PREFIX = "hnd_"
MIN_PASSWORD = 8
# Verified when the e-mail is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class Role(str, enum.Enum):
    SALES = "sales"
    FINANCE = "finance"
    AUDITOR = "auditor"
    ADMIN = "admin"


class UserError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    role: Role
    active: bool = True

    @property
    def actor(self) -> str:
        return f"user:{self.email}"


def _user(r: Any) -> User:
    return User(r.id, r.email, Role(r.role), r.active)


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
    u = schema.users
    with ctx.unit_of_work() as uow:
        if uow.conn.execute(select(u.c.id).where(u.c.email == email)).first() is not None:
            raise UserError(f"a user {email} already exists", "email")
        uid = uow.conn.execute(u.insert().values(email=email, role=role.value, password_hash=_hasher.hash(password),
                                                 active=True, created_at=now).returning(u.c.id)).scalar_one()
        uow.audit(at=now, actor=actor, action="user.added", entity_type="user", entity_id=email,
                  reason="user account created", after={"role": role.value})
        uow.commit()
    return User(uid, email, role)


def set_active(ctx: AppContext, user_id: int, active: bool, actor: str) -> User:
    now = ctx.clock()
    u = schema.users
    with ctx.unit_of_work() as uow:
        row = uow.conn.execute(select(u).where(u.c.id == user_id)).one_or_none()
        if row is None:
            raise UserError(f"no user {user_id}")
        uow.conn.execute(update(u).where(u.c.id == user_id).values(active=active))
        if not active:
            uow.conn.execute(update(schema.api_tokens).where(schema.api_tokens.c.user_id == user_id,
                                                             schema.api_tokens.c.revoked_at.is_(None))
                             .values(revoked_at=now))  # fmt: skip
        uow.audit(at=now, actor=actor, action="user.activated" if active else "user.deactivated",
                  entity_type="user", entity_id=row.email, reason="account status changed",
                  before={"active": row.active}, after={"active": active})  # fmt: skip
        uow.commit()
    return User(row.id, row.email, Role(row.role), active)


def authenticate(ctx: AppContext, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (same answer and cost either way)."""
    u = schema.users
    with ctx.engine.connect() as conn:
        row = conn.execute(select(u).where(u.c.email == email.strip().lower())).one_or_none()
    try:
        _hasher.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row.active:
        return None
    return _user(row)


def get_user(ctx: AppContext, user_id: int) -> User | None:
    u = schema.users
    with ctx.engine.connect() as conn:
        row = conn.execute(select(u).where(u.c.id == user_id)).one_or_none()
    return _user(row) if row is not None and row.active else None


def user_by_email(ctx: AppContext, email: str) -> User | None:
    """The active user with this e-mail (for identities mapped from other systems, such as Slack)."""
    u = schema.users
    with ctx.engine.connect() as conn:
        row = conn.execute(select(u).where(u.c.email == email.strip().lower())).one_or_none()
    return _user(row) if row is not None and row.active else None


def list_users(ctx: AppContext) -> list[dict[str, Any]]:
    u = schema.users
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(u.c.id, u.c.email, u.c.role, u.c.active, u.c.created_at).order_by(u.c.email))
        return [dict(r._mapping) for r in rows]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(ctx: AppContext, user: User, name: str, actor: str) -> tuple[str, int]:
    """A new API token for `user`: (the secret, shown only now; its id)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise UserError("token name must have 1 to 100 characters", "name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = ctx.clock()
    t = schema.api_tokens
    with ctx.unit_of_work() as uow:
        tid = uow.conn.execute(t.insert().values(user_id=user.id, name=name, token_hash=_digest(secret),
                                                 prefix=secret[:10], created_at=now).returning(t.c.id)).scalar_one()
        uow.audit(at=now, actor=actor, action="token.created", entity_type="user", entity_id=user.email,
                  reason=f"API token {name!r} created", after={"token_id": tid, "prefix": secret[:10]})
        uow.commit()
    return secret, tid


def user_for_token(ctx: AppContext, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    t, u = schema.api_tokens, schema.users
    with ctx.engine.connect() as conn:
        row = conn.execute(select(u).join(t, t.c.user_id == u.c.id).where(
            t.c.token_hash == _digest(token), t.c.revoked_at.is_(None), u.c.active.is_(True))).one_or_none()
    return _user(row) if row is not None else None
