"""Users storage: the only SQL for users and their API tokens.

Stores what the service has already hashed (password hashes, token digests); nothing here sees a
secret in clear, and nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select, update

from handoff.kernel.storage import schema
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine
from handoff.users.domain import Role, User


class Credentials(NamedTuple):
    user: User
    password_hash: str


class UserListing(NamedTuple):
    id: int
    email: str
    role: str
    active: bool
    created_at: datetime


def _user(r: Any) -> User:
    return User(r.id, r.email, Role(r.role), r.active)


class UserRepository(OnUnitOfWorkOrEngine):
    """Built on a unit of work for changes; on an engine for reads, each on a connection of its own."""

    def get(self, user_id: int) -> User | None:
        """The user, active or not."""
        u = schema.users
        with self._connect() as conn:
            row = conn.execute(select(u).where(u.c.id == user_id)).one_or_none()
        return _user(row) if row is not None else None

    def by_email(self, email: str) -> User | None:
        """The user with this (normalised) e-mail, active or not."""
        u = schema.users
        with self._connect() as conn:
            row = conn.execute(select(u).where(u.c.email == email)).one_or_none()
        return _user(row) if row is not None else None

    def credentials(self, email: str) -> Credentials | None:
        """The user with this (normalised) e-mail and their password hash."""
        u = schema.users
        with self._connect() as conn:
            row = conn.execute(select(u).where(u.c.email == email)).one_or_none()
        return Credentials(_user(row), row.password_hash) if row is not None else None

    def by_token(self, digest: str) -> User | None:
        """The active user holding the unrevoked token with this digest."""
        t, u = schema.api_tokens, schema.users
        q = (
            select(u)
            .join(t, t.c.user_id == u.c.id)
            .where(t.c.token_hash == digest, t.c.revoked_at.is_(None), u.c.active.is_(True))
        )
        with self._connect() as conn:
            row = conn.execute(q).one_or_none()
        return _user(row) if row is not None else None

    def listing(self) -> list[UserListing]:
        """Every user, by e-mail."""
        u = schema.users
        with self._connect() as conn:
            rows = conn.execute(select(u.c.id, u.c.email, u.c.role, u.c.active, u.c.created_at).order_by(u.c.email))
            return [UserListing(*r) for r in rows]

    def email_taken(self, email: str) -> bool:
        u = schema.users
        with self._connect() as conn:
            return conn.execute(select(u.c.id).where(u.c.email == email)).first() is not None

    def add(self, email: str, role: Role, password_hash: str, at: datetime) -> int:
        """A new active user; its id."""
        u = schema.users
        q = (
            u.insert()
            .values(email=email, role=role.value, password_hash=password_hash, active=True, created_at=at)
            .returning(u.c.id)
        )
        user_id: int = self._tx.execute(q).scalar_one()
        return user_id

    def set_active(self, user_id: int, active: bool) -> None:
        u = schema.users
        self._tx.execute(update(u).where(u.c.id == user_id).values(active=active))

    def revoke_tokens(self, user_id: int, at: datetime) -> None:
        """Revoke every token of the user not revoked yet."""
        t = schema.api_tokens
        self._tx.execute(update(t).where(t.c.user_id == user_id, t.c.revoked_at.is_(None)).values(revoked_at=at))

    def add_token(self, user_id: int, name: str, digest: str, prefix: str, at: datetime) -> int:
        """A new token, stored as its digest; its id."""
        t = schema.api_tokens
        q = (
            t.insert()
            .values(user_id=user_id, name=name, token_hash=digest, prefix=prefix, created_at=at)
            .returning(t.c.id)
        )
        token_id: int = self._tx.execute(q).scalar_one()
        return token_id
