"""The pure rules of signing in: how e-mail addresses compare, which passwords are refused
(OWASP ASVS 5.0 V6.2), and how failed logins slow down and lock an account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handoff.approvals.domain import person
from handoff.users.domain import (
    ACCOUNT_RULE,
    ADDRESS_RULE,
    MAX_PASSWORD,
    Throttle,
    after_attempt,
    after_failure,
    normal_email,
    password_problem,
    wait,
)

NOW = datetime(2026, 11, 5, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "given",
    [
        "finance@acme.example",
        "Finance@ACME.example",
        "  finance@acme.example\t",
        "finance@acme.example.",
        "finance@acme.example..",
        "ｆｉｎａｎｃｅ@ａｃｍｅ.example",  # fullwidth forms (NFKC)
    ],
)
def test_one_address_however_it_is_written(given: str) -> None:
    assert normal_email(given) == "finance@acme.example"


def test_four_eyes_compares_normalised_people() -> None:
    assert person("user:finance@acme.example") == person(" Finance@acme.example. ")
    assert person("finance@acme.example") != person("other@acme.example")


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("", "at least 8 characters"),
        ("short", "at least 8 characters"),
        ("        ", "blank"),
        ("\t \u00a0  \u2003   ", "blank"),
        ("password", "too easy to guess"),
        ("aaaaaaaa", "too easy to guess"),
        ("Password1!", "too easy to guess"),
        ("qwertyuiop", "too easy to guess"),
        ("iloveyou1", "too easy to guess"),
        ("admin@acme.example", "too easy to guess"),  # the user's own address
        ("x" * (MAX_PASSWORD + 1), f"at most {MAX_PASSWORD}"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str) -> None:
    problem = password_problem(password, "admin@acme.example")
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",
        "pw-admin-12345",
        "long-pass-1",
        "a sentence of sixty-four characters is welcome here, no rules!!",
        "zu Hause, wo der Pfeffer wächst " * 6,  # 192 characters, no composition rules
    ],
)
def test_passphrases_pass_without_composition_rules(password: str) -> None:
    assert password_problem(password, "admin@acme.example") is None


def test_the_demo_passwords_pass() -> None:
    from handoff.demo.run import DEMO_USERS

    for email, _, password in DEMO_USERS:
        assert password_problem(password, email) is None, (email, password)


def _fail(rule, state: Throttle, at: datetime) -> Throttle:  # type: ignore[no-untyped-def]
    state = after_attempt(rule, state, at)
    return after_failure(rule, state, at)[0]


def test_an_account_slows_down_then_locks() -> None:
    state, at = Throttle(), NOW
    waits = []
    for _ in range(ACCOUNT_RULE.lock_after - 1):
        assert wait(state, at) is None  # each attempt is made as soon as it is allowed
        state = _fail(ACCOUNT_RULE, state, at)
        pause = wait(state, at)
        waits.append(pause)
        at += pause or timedelta(0)
    assert waits[: ACCOUNT_RULE.free - 1] == [None] * (ACCOUNT_RULE.free - 1)  # a few typing slips cost nothing
    delays = [w for w in waits if w is not None]
    assert delays == sorted(delays) and delays[0] < delays[-1]  # then the delays grow
    state = after_attempt(ACCOUNT_RULE, state, at)
    state, locked = after_failure(ACCOUNT_RULE, state, at)
    assert locked and state.locked_until == at + ACCOUNT_RULE.lock_for
    assert wait(state, at) == ACCOUNT_RULE.lock_for
    # after the lock, one more wrong password locks it again at once
    at = at + ACCOUNT_RULE.lock_for
    assert wait(state, at) is None
    state, locked = after_failure(ACCOUNT_RULE, after_attempt(ACCOUNT_RULE, state, at), at)
    assert locked


def test_an_address_is_slowed_but_never_locked_and_forgets() -> None:
    state, at = Throttle(), NOW
    for _ in range(ADDRESS_RULE.free + 20):
        at += wait(state, at) or timedelta(0)
        state, locked = after_failure(ADDRESS_RULE, after_attempt(ADDRESS_RULE, state, at), at)
        assert not locked
    assert wait(state, at) == ADDRESS_RULE.max_delay
    later = at + ADDRESS_RULE.forget_after + timedelta(seconds=1)
    assert after_attempt(ADDRESS_RULE, state, later).failures == 1
