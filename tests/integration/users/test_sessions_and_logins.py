"""Sessions that end, logins that slow down and lock, on SQLite and PostgreSQL. The state lives in
the database, so a second process (here: a second context on a new engine) sees the same."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handoff.context import AppContext
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import make_engine
from handoff.users import service as users
from handoff.users.domain import ACCOUNT_RULE
from handoff.users.service import Role, UserError, logins

EMAIL, PASSWORD = "finance@acme.example", "pw-finance-12345"
HERE = "192.0.2.10"


@pytest.fixture
def finance(ctx: AppContext) -> users.User:
    return users.add_user(ctx, EMAIL, Role.FINANCE, PASSWORD, actor="test")


def audit(ctx: AppContext, action: str) -> list[tuple[str, str, str]]:
    a = schema.audit_log
    with ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(a.c.actor, a.c.entity_id, a.c.after).where(a.c.action == action))]


def test_logout_ends_the_session_for_good(ctx: AppContext, finance: users.User) -> None:
    login = logins.log_in(ctx, EMAIL, PASSWORD, HERE)
    assert login.user == finance and login.session
    assert logins.session_user(ctx, login.session) == finance
    logins.log_out(ctx, login.session)
    assert logins.session_user(ctx, login.session) is None


def test_deactivation_ends_every_session_and_reactivation_revives_none(ctx: AppContext, finance: users.User) -> None:
    first, second = (logins.log_in(ctx, EMAIL, PASSWORD, HERE).session for _ in range(2))
    assert first and second and first != second
    users.set_active(ctx, finance.id, False, "user:admin@acme.example")
    users.set_active(ctx, finance.id, True, "user:admin@acme.example")
    assert logins.session_user(ctx, first) is None and logins.session_user(ctx, second) is None
    assert logins.log_in(ctx, EMAIL, PASSWORD, HERE).user == finance  # a new login works


def test_password_change_ends_every_session_and_checks_the_policy(ctx: AppContext, finance: users.User) -> None:
    old = [logins.log_in(ctx, EMAIL, PASSWORD, HERE).session for _ in range(2)]
    with pytest.raises(UserError, match="too easy to guess"):
        logins.change_password(ctx, finance, PASSWORD, "password", HERE)
    with pytest.raises(UserError, match="current password is wrong"):
        logins.change_password(ctx, finance, "not-my-password", "a much better passphrase", HERE)
    fresh = logins.change_password(ctx, finance, PASSWORD, "a much better passphrase", HERE)
    assert all(logins.session_user(ctx, s) is None for s in old if s)
    assert logins.session_user(ctx, fresh) == finance  # the browser that changed it stays in
    assert logins.log_in(ctx, EMAIL, PASSWORD, HERE).user is None
    assert logins.log_in(ctx, EMAIL, "a much better passphrase", HERE).user == finance
    assert audit(ctx, "user.password_changed")[0][:2] == (f"user:{EMAIL}", EMAIL)


def test_sessions_end_after_their_lifetime(ctx: AppContext, finance: users.User) -> None:
    session = logins.log_in(ctx, EMAIL, PASSWORD, HERE).session
    assert session
    ctx.clock.advance(hours=1)  # type: ignore[attr-defined]
    assert logins.session_user(ctx, session) == finance
    ctx.clock.advance(hours=logins.SESSION_IDLE.total_seconds() / 3600 + 0.1)  # type: ignore[attr-defined]
    assert logins.session_user(ctx, session) is None  # idle too long


def test_forty_wrong_passwords_do_not_let_the_right_one_in(ctx: AppContext, finance: users.User) -> None:
    outcomes = [logins.log_in(ctx, EMAIL, f"wrong-guess-{i}", HERE) for i in range(40)]
    assert all(o.user is None for o in outcomes)
    assert any(o.retry_after for o in outcomes)  # throttled long before the 40th
    right = logins.log_in(ctx, EMAIL, PASSWORD, HERE)
    assert right.user is None and right.retry_after and right.session is None


def test_an_account_locks_after_repeated_failures_and_an_admin_unlocks(
    ctx: AppContext, finance: users.User, db_url: str
) -> None:
    for i in range(ACCOUNT_RULE.lock_after):
        outcome = logins.log_in(ctx, EMAIL, f"wrong-guess-{i}", f"198.51.100.{i}")  # a new address each time
        assert outcome.user is None and outcome.locked == (i == ACCOUNT_RULE.lock_after - 1), i
        ctx.clock.advance(minutes=10)  # type: ignore[attr-defined]  # waits out every delay
    locked = logins.log_in(ctx, EMAIL, PASSWORD, "203.0.113.1")
    assert locked.locked and locked.retry_after and locked.user is None
    assert [a[:2] for a in audit(ctx, "login.locked")] == [("system:login", EMAIL)]
    # another process sees the same lock
    other_engine = make_engine(db_url)
    try:
        other = AppContext(other_engine, ctx.config, ctx.clock)
        assert logins.log_in(other, EMAIL, PASSWORD, "203.0.113.2").locked
        listed = {r["email"]: r for r in users.list_users(other)}
        assert listed[EMAIL]["locked_until"] is not None and listed[EMAIL]["failed_logins"] == ACCOUNT_RULE.lock_after
    finally:
        other_engine.dispose()
    assert logins.unlock(ctx, finance.id, "user:admin@acme.example") is True
    assert [a[:2] for a in audit(ctx, "login.unlocked")] == [("user:admin@acme.example", EMAIL)]
    assert logins.log_in(ctx, EMAIL, PASSWORD, "203.0.113.1").user == finance
    assert {r["email"]: r for r in users.list_users(ctx)}[EMAIL]["locked_until"] is None


def test_an_unknown_address_locks_like_a_real_one(ctx: AppContext, finance: users.User) -> None:
    for i in range(ACCOUNT_RULE.lock_after):
        logins.log_in(ctx, "nobody@acme.example", f"guess-{i}", f"198.51.100.{i}")
        ctx.clock.advance(minutes=10)  # type: ignore[attr-defined]
    assert logins.log_in(ctx, "nobody@acme.example", "guess", "203.0.113.1").locked
    assert audit(ctx, "login.locked") == []  # nobody to tell an admin about


def test_one_address_trying_many_accounts_is_slowed(ctx: AppContext, finance: users.User) -> None:
    outcomes = [logins.log_in(ctx, f"user{i}@acme.example", "password1", HERE) for i in range(30)]
    assert outcomes[0].retry_after is None and outcomes[-1].retry_after
    assert logins.log_in(ctx, EMAIL, PASSWORD, HERE).retry_after  # even the right password waits
    assert logins.log_in(ctx, EMAIL, PASSWORD, "192.0.2.99").user == finance  # elsewhere it is fine


def test_a_success_resets_the_account_count(ctx: AppContext, finance: users.User) -> None:
    for i in range(ACCOUNT_RULE.free - 1):
        logins.log_in(ctx, EMAIL, f"typo-{i}", HERE)
    assert logins.log_in(ctx, EMAIL, PASSWORD, HERE).user == finance
    for i in range(ACCOUNT_RULE.free - 1):
        assert logins.log_in(ctx, EMAIL, f"typo-{i}", HERE).retry_after is None
    ctx.clock.advance(days=2)  # type: ignore[attr-defined]
    assert logins.log_in(ctx, EMAIL, PASSWORD, HERE).user == finance


def test_weak_passwords_are_refused_when_adding(ctx: AppContext) -> None:
    for weak in ("password", "aaaaaaaa", "        "):
        with pytest.raises(UserError) as refused:
            users.add_user(ctx, "admin@acme.example", Role.ADMIN, weak, actor="test")
        assert refused.value.field == "password"
    assert users.list_users(ctx) == []


def test_actor_must_be_an_active_user_with_the_role(ctx: AppContext, finance: users.User) -> None:
    users.add_user(ctx, "sales@acme.example", Role.SALES, "pw-sales-12345", actor="test")
    gone = users.add_user(ctx, "gone@acme.example", Role.FINANCE, "pw-gone-12345", actor="test")
    users.set_active(ctx, gone.id, False, actor="test")
    allowed = (Role.FINANCE, Role.ADMIN)
    assert users.acting_user(ctx, " Finance@ACME.example. ", allowed) == finance
    for given, why in (
        ("nobody@acme.example", "no user nobody@acme.example"),
        ("gone@acme.example", "deactivated"),
        ("sales@acme.example", "sales"),
        ("not an address", "not an e-mail address"),
    ):
        with pytest.raises(UserError, match=why):
            users.acting_user(ctx, given, allowed)
