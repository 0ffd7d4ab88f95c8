"""Users: the people who may use the web app and the API, and the role that says what each may do.

Roles: `sales` (own deals and their exceptions), `finance` (tasks, invoices, payments), `auditor`
(read-only, the audit trail included), `admin` (users and settings; may do everything).

Also the rules of signing in (OWASP ASVS 5.0, V6 authentication and V7 sessions): how e-mail
addresses compare, which passwords are refused, how long a session lives, and how failed logins
slow down and then lock an account. Pure: no I/O.
"""

from __future__ import annotations

import enum
import threading
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from zxcvbn import zxcvbn


class Role(str, enum.Enum):
    SALES = "sales"
    FINANCE = "finance"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    role: Role
    active: bool = True

    @property
    def actor(self) -> str:
        return f"user:{self.email}"


def normal_email(text: str) -> str:
    """One spelling per address, so that two spellings of one person never count as two: Unicode
    compatibility forms folded (NFKC: fullwidth letters), surrounding whitespace dropped, lower
    case, and the domain's trailing dot (`acme.example.`, the DNS root) removed."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    local, at, domain = text.rpartition("@")
    return f"{local}@{domain.rstrip('.')}" if at else text


def is_email(text: str) -> bool:
    """A normalised address with something on both sides of one `@`."""
    local, at, domain = text.partition("@")
    return (
        bool(at and local and domain) and "@" not in domain and len(text) <= 320 and not any(c.isspace() for c in text)
    )


# -- passwords (ASVS 5.0 V6.2): length only, no composition rules, checked against breached lists

MIN_PASSWORD = 8  # V6.2.1
RECOMMENDED_PASSWORD = 15  # V6.2.1 recommends 15, said on the forms
MAX_PASSWORD = 200  # V6.2.9 asks for at least 64
MIN_SCORE = 3  # zxcvbn: 10^8 guesses or more ("safely unguessable" for an online attacker and then some)
# zxcvbn keeps the user's own words in a module-level dictionary during a check: one check at a time.
_zxcvbn_lock = threading.Lock()


def password_problem(password: str, email: str = "") -> str | None:
    """Why `password` may not be used by `email`, or None. zxcvbn matches it against the 30,000 most
    common passwords of breached lists (and English words, names, keyboard walks, repeats, dates),
    and against the user's own address and the product's name (V6.2.4, V6.2.11)."""
    if len(password) < MIN_PASSWORD:
        return f"password must have at least {MIN_PASSWORD} characters ({RECOMMENDED_PASSWORD} or more recommended)"
    if len(password) > MAX_PASSWORD:
        return f"password may have at most {MAX_PASSWORD} characters"
    if not password.strip() or not "".join(password.split()):
        return "password must not be blank or only spaces"
    local, _, domain = email.partition("@")
    own_words = [email, local, *local.replace(".", " ").replace("-", " ").split(), *domain.split("."), "handoff"]
    with _zxcvbn_lock:
        found = zxcvbn(password, user_inputs=[w for w in own_words if w], max_length=MAX_PASSWORD)
    if found["score"] >= MIN_SCORE:
        return None
    hint = found["feedback"]["warning"] or "it follows a pattern that is tried early"
    return (
        f"password is too easy to guess ({hint.rstrip('.')}); "
        f"use a passphrase of a few unrelated words, {RECOMMENDED_PASSWORD} characters or more"
    )


# -- sessions (ASVS 5.0 V7.3): ended by logout, password change and deactivation, and by time

SESSION_LIFETIME = timedelta(hours=12)  # absolute, from login (V7.3.2)
SESSION_IDLE = timedelta(hours=2)  # without a request (V7.3.1)
SESSION_TOUCH = timedelta(minutes=5)  # how stale "last seen" may get before it is written again


def session_alive(created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
    return now < created_at + SESSION_LIFETIME and now < last_seen_at + SESSION_IDLE


# -- login throttling (ASVS 5.0 V6.3.1): growing delays per account and per client address, then a lock


class Scope(str, enum.Enum):
    ACCOUNT = "account"  # keyed by the normalised e-mail, whether or not such a user exists
    ADDRESS = "address"  # keyed by the client's IP address


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    free: int  # failures that cost nothing (typing slips); the next ones wait 1 s, 2 s, 4 s, ...
    max_delay: timedelta
    forget_after: timedelta  # failures this old no longer count
    lock_after: int | None = None  # failures in a row that lock (accounts only)
    lock_for: timedelta = timedelta(0)


ACCOUNT_RULE = ThrottleRule(
    free=3,
    max_delay=timedelta(minutes=5),
    forget_after=timedelta(hours=24),
    lock_after=10,
    lock_for=timedelta(minutes=15),
)
# Higher: several people may share an address (an office, a proxy), and none of them is locked out.
ADDRESS_RULE = ThrottleRule(free=20, max_delay=timedelta(minutes=5), forget_after=timedelta(hours=1))
RULES = {Scope.ACCOUNT: ACCOUNT_RULE, Scope.ADDRESS: ADDRESS_RULE}


@dataclass(frozen=True, slots=True)
class Throttle:
    """What the failed logins of one account or address have left: counted failures (an attempt
    counts as failed from when it starts until its password is found right), when the next attempt
    may come, and a lock."""

    failures: int = 0
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


def delay(rule: ThrottleRule, failures: int) -> timedelta:
    if failures < rule.free:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(failures - rule.free, 30)), rule.max_delay)


def wait(state: Throttle, now: datetime) -> timedelta | None:
    """How long until the next attempt is allowed, or None when it is allowed now."""
    until = max((t for t in (state.locked_until, state.next_attempt_at) if t is not None), default=None)
    return until - now if until is not None and until > now else None


def after_attempt(rule: ThrottleRule, state: Throttle, now: datetime) -> Throttle:
    """An allowed attempt starts: counted as a failure at once, so that attempts made at the same
    moment (in other processes too) each see the ones before."""
    forgotten = state.last_attempt_at is not None and now - state.last_attempt_at > rule.forget_after
    failures = (0 if forgotten else state.failures) + 1
    return replace(state, failures=failures, last_attempt_at=now, next_attempt_at=now + delay(rule, failures))


def after_failure(rule: ThrottleRule, state: Throttle, now: datetime) -> tuple[Throttle, bool]:
    """The attempt's password was wrong: (the state, whether this failure locked the account)."""
    if rule.lock_after is None or state.failures < rule.lock_after or state.locked(now):
        return state, False
    return replace(state, locked_until=now + rule.lock_for), True


def after_success(rule: ThrottleRule, state: Throttle, now: datetime) -> Throttle:
    """The attempt's password was right: it was no failure after all."""
    failures = max(state.failures - 1, 0)
    return replace(state, failures=failures, next_attempt_at=now + delay(rule, failures))
