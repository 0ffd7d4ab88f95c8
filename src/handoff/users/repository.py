"""Users storage: the only SQL for users, their API tokens, their sessions and the login throttles.

Stores what the service has already hashed (password hashes, token and session digests); nothing
here sees a secret in clear, and nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from handoff.kernel.storage import schema
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine
from handoff.users.domain import Role, Scope, Throttle, User


class Credentials(NamedTuple):
    user: User
    password_hash: str


class UserListing(NamedTuple):
    id: int
    email: str
    role: str
    active: bool
    created_at: datetime
    failed_logins: int  # counted since the last success (0 when there is no throttle)
    locked_until: datetime | None


class LiveSession(NamedTuple):
    id: int
    user: User
    created_at: datetime
    last_seen_at: datetime


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
        """Every user, by e-mail, with the failed logins and the lock of their account."""
        u, th = schema.users, schema.login_throttles
        q = (
            select(u.c.id, u.c.email, u.c.role, u.c.active, u.c.created_at, th.c.failures, th.c.locked_until)
            .outerjoin(th, and_(th.c.scope == Scope.ACCOUNT.value, th.c.key == u.c.email))
            .order_by(u.c.email)
        )
        with self._connect() as conn:
            return [UserListing(*r[:5], r.failures or 0, r.locked_until) for r in conn.execute(q)]

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

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        u = schema.users
        self._tx.execute(update(u).where(u.c.id == user_id).values(password_hash=password_hash))

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

    # -- sessions

    def add_session(self, user_id: int, digest: str, at: datetime, address: str | None) -> None:
        s = schema.user_sessions
        self._tx.execute(
            s.insert().values(user_id=user_id, token_hash=digest, created_at=at, last_seen_at=at, address=address)
        )

    def live_session(self, digest: str) -> LiveSession | None:
        """The session with this digest if nobody ended it, with its (active or not) user."""
        s, u = schema.user_sessions, schema.users
        q = (
            select(s.c.id.label("session_id"), s.c.created_at.label("session_created_at"), s.c.last_seen_at, u)
            .join(u, u.c.id == s.c.user_id)
            .where(s.c.token_hash == digest, s.c.ended_at.is_(None))
        )
        with self._connect() as conn:
            row = conn.execute(q).one_or_none()
        if row is None:
            return None
        return LiveSession(row.session_id, _user(row), row.session_created_at, row.last_seen_at)

    def touch_session(self, session_id: int, at: datetime) -> None:
        s = schema.user_sessions
        self._tx.execute(update(s).where(s.c.id == session_id, s.c.last_seen_at < at).values(last_seen_at=at))

    def end_session(self, digest: str, at: datetime, why: str) -> None:
        s = schema.user_sessions
        q = update(s).where(s.c.token_hash == digest, s.c.ended_at.is_(None)).values(ended_at=at, ended_why=why)
        self._tx.execute(q)

    def end_sessions(self, user_id: int, at: datetime, why: str) -> int:
        """End every session of the user still going; how many there were."""
        s = schema.user_sessions
        q = update(s).where(s.c.user_id == user_id, s.c.ended_at.is_(None)).values(ended_at=at, ended_why=why)
        return self._tx.execute(q).rowcount

    # -- login throttles

    def throttles_for_update(self, keys: list[tuple[Scope, str]], at: datetime) -> dict[tuple[Scope, str], Throttle]:
        """The throttles of these (scope, key)s, created empty where missing and, on PostgreSQL,
        locked until the transaction ends (SQLite's writers are serialised anyway)."""
        th = schema.login_throttles
        insert = (postgresql.insert if self._uow is not None and self._uow.is_postgres else sqlite.insert)(th)
        rows = [{"scope": scope.value, "key": key, "failures": 0, "last_attempt_at": at} for scope, key in keys]
        self._tx.execute(insert.on_conflict_do_nothing(index_elements=["scope", "key"]), rows)
        found: dict[tuple[Scope, str], Throttle] = {}
        for scope, key in keys:
            q = select(th).where(th.c.scope == scope.value, th.c.key == key)
            if self._uow is not None and self._uow.is_postgres:
                q = q.with_for_update()
            r = self._tx.execute(q).one()
            found[scope, key] = Throttle(r.failures, r.last_attempt_at, r.next_attempt_at, r.locked_until)
        return found

    def save_throttle(self, scope: Scope, key: str, state: Throttle) -> None:
        th = schema.login_throttles
        self._tx.execute(
            update(th)
            .where(th.c.scope == scope.value, th.c.key == key)
            .values(
                failures=state.failures,
                last_attempt_at=state.last_attempt_at,
                next_attempt_at=state.next_attempt_at,
                locked_until=state.locked_until,
            )
        )

    def account_throttle(self, email: str) -> Throttle | None:
        th = schema.login_throttles
        with self._connect() as conn:
            r = conn.execute(select(th).where(th.c.scope == Scope.ACCOUNT.value, th.c.key == email)).one_or_none()
        return Throttle(r.failures, r.last_attempt_at, r.next_attempt_at, r.locked_until) if r is not None else None

    def clear_throttle(self, scope: Scope, key: str) -> None:
        th = schema.login_throttles
        self._tx.execute(delete(th).where(th.c.scope == scope.value, th.c.key == key))

    def forget_throttles(self, before: datetime) -> None:
        """Drop throttles with no attempt since `before`, unless still locked."""
        th = schema.login_throttles
        self._tx.execute(
            delete(th).where(
                th.c.last_attempt_at < before, (th.c.locked_until.is_(None)) | (th.c.locked_until < before)
            )
        )
