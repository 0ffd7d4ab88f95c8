"""Logging in and out, sessions, password changes and account locks (OWASP ASVS 5.0 V6.3, V7).

A login is throttled per account (the normalised e-mail, whether or not such a user exists, so
the answers tell nothing about who has an account) and per client address: after a few failures
each next attempt must wait, 1 s, 2 s, 4 s, ... and ten failures in a row lock the account for a
while (`login.locked` in the audit trail) unless an admin unlocks it (`login.unlocked`). A refused
attempt is answered at once with how long to wait (the web answers 429 with Retry-After); nothing
sleeps on the server. The state is in the database, so every process of the app shares it: an
attempt counts as failed from when it starts, under a row lock (PostgreSQL) or the single writer
(SQLite), so that attempts sent at the same moment each see the ones before.

A session is a random secret in the browser's (signed) cookie, stored as its SHA-256 digest and
checked on every request: it ends at logout, when the password changes or the user is
deactivated (all their sessions), after `SESSION_IDLE` without a request and `SESSION_LIFETIME`
after login.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2.exceptions import InvalidHashError, VerificationError

from handoff.context import AppContext
from handoff.users.domain import (
    ACCOUNT_RULE,
    ADDRESS_RULE,
    RULES,
    SESSION_TOUCH,
    Scope,
    User,
    after_attempt,
    after_failure,
    after_success,
    normal_email,
    session_alive,
    wait,
)
from handoff.users.domain import (
    SESSION_IDLE as SESSION_IDLE,
)
from handoff.users.domain import (
    SESSION_LIFETIME as SESSION_LIFETIME,
)
from handoff.users.repository import UserRepository
from handoff.users.service import UserError, check_password, hasher, store_password

log = logging.getLogger(__name__)
# Verified when the e-mail is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = hasher.hash("not a password of anyone")
SYSTEM = "system:login"


@dataclass(frozen=True, slots=True)
class Login:
    """What became of a login: the user and their new session's secret, or neither; when refused
    for too many failures, the seconds to wait (`retry_after`) and whether the account is locked."""

    user: User | None = None
    session: str | None = None
    retry_after: int | None = None
    locked: bool = False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _keys(email: str, address: str | None) -> list[tuple[Scope, str]]:
    return [(Scope.ACCOUNT, email[:320]), (Scope.ADDRESS, (address or "unknown")[:64])]


def _check(ctx: AppContext, email: str, password: str, address: str | None) -> Login:
    """Throttle, then verify: a Login with the user (no session yet), or refused, or empty (wrong)."""
    email = normal_email(email)
    keys = _keys(email, address)
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(UserRepository)
        states = repo.throttles_for_update(keys, now)
        waits = [w for w in (wait(s, now) for s in states.values()) if w is not None]
        if waits:  # refused before the password is looked at; the transaction is rolled back
            return Login(retry_after=math.ceil(max(waits).total_seconds()), locked=states[keys[0]].locked(now))
        for (scope, key), state in states.items():
            repo.save_throttle(scope, key, after_attempt(RULES[scope], state, now))
        found = repo.credentials(email)
        uow.commit()
    right = _verified(found.password_hash if found is not None else _DUMMY_HASH, password)
    user = found.user if found is not None and found.user.active and right else None
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(UserRepository)
        states = repo.throttles_for_update(keys, now)
        account, place = states[keys[0]], states[keys[1]]
        if user is not None:
            repo.clear_throttle(*keys[0])
            repo.save_throttle(*keys[1], after_success(ADDRESS_RULE, place, now))
            uow.commit()
            return Login(user=user)
        account, locked = after_failure(ACCOUNT_RULE, account, now)
        if locked:
            repo.save_throttle(*keys[0], account)
            log.warning("login: %r locked after %d failed logins (last from %r)", email, account.failures, keys[1][1])
            if found is not None:
                uow.audit(
                    at=now,
                    actor=SYSTEM,
                    action="login.locked",
                    entity_type="user",
                    entity_id=email,
                    reason=f"{account.failures} failed logins in a row",
                    after={"locked_until": account.locked_until, "address": keys[1][1]},
                )
        repo.forget_throttles(now - max(r.forget_after for r in RULES.values()))
        uow.commit()
    if locked and account.locked_until is not None:
        return Login(retry_after=math.ceil((account.locked_until - now).total_seconds()), locked=True)
    return Login()


def _verified(password_hash: str, password: str) -> bool:
    """argon2 takes its time: never inside a transaction."""
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _new_session(repo: UserRepository, user: User, at: datetime, address: str | None) -> str:
    secret = secrets.token_urlsafe(32)
    repo.add_session(user.id, _digest(secret), at, (address or "")[:64] or None)
    return secret


def log_in(ctx: AppContext, email: str, password: str, address: str | None) -> Login:
    """Check the password of `email` from the client at `address`; on success, a new session."""
    checked = _check(ctx, email, password, address)
    if checked.user is None:
        return checked
    with ctx.unit_of_work() as uow:
        secret = _new_session(uow.repository(UserRepository), checked.user, ctx.clock(), address)
        uow.commit()
    return Login(user=checked.user, session=secret)


def session_user(ctx: AppContext, secret: str) -> User | None:
    """The active user whose session this is, while the session lasts."""
    if not secret or len(secret) > 200:
        return None
    live = UserRepository(ctx.engine).live_session(_digest(secret))
    if live is None or not live.user.active:
        return None
    now = ctx.clock()
    if not session_alive(live.created_at, live.last_seen_at, now):
        return None
    if now - live.last_seen_at >= SESSION_TOUCH:  # written now and then, not on every request
        with ctx.unit_of_work() as uow:
            uow.repository(UserRepository).touch_session(live.id, now)
            uow.commit()
    return live.user


def log_out(ctx: AppContext, secret: str) -> None:
    """End this session (the cookie's copy anywhere stops working)."""
    with ctx.unit_of_work() as uow:
        uow.repository(UserRepository).end_session(_digest(secret), ctx.clock(), "logout")
        uow.commit()


def change_password(ctx: AppContext, user: User, current: str, new: str, address: str | None) -> str:
    """The user changes their own password, giving the current one (throttled like a login): every
    session of theirs ends; the new session's secret is returned for the browser that asked."""
    check_password(new, user.email)
    checked = _check(ctx, user.email, current, address)
    if checked.retry_after is not None:
        raise UserError(f"too many failed attempts; try again in {checked.retry_after} seconds", "current")
    if checked.user is None or checked.user.id != user.id:
        raise UserError("the current password is wrong", "current")
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        store_password(uow, user, new, now, user.actor, "password changed by its owner")
        secret = _new_session(uow.repository(UserRepository), user, now, address)
        uow.commit()
    return secret


def unlock(ctx: AppContext, user_id: int, actor: str) -> bool:
    """Lift the lock and forget the failed logins of a user's account; False if there were none."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(UserRepository)
        user = repo.get(user_id)
        if user is None:
            raise UserError(f"no user {user_id}", "user_id")
        state = repo.account_throttle(user.email)
        if state is None or (state.failures == 0 and not state.locked(now)):
            return False
        repo.clear_throttle(Scope.ACCOUNT, user.email)
        uow.audit(
            at=now,
            actor=actor,
            action="login.unlocked",
            entity_type="user",
            entity_id=user.email,
            reason="account unlocked by an admin",
            before={"failures": state.failures, "locked_until": state.locked_until},
        )
        uow.commit()
    return True
