"""Who is calling, and may they? Every route states the roles it allows; the server checks it.

The API accepts a bearer token (`Authorization: Bearer hnd_...`) or the UI's session cookie; the UI
uses the session only. The session cookie is signed (HttpOnly, SameSite=Lax) and holds a random
session secret and a CSRF secret; the session itself is kept on the server (`users.service.logins`)
and checked on every request, so logout, a password change or deactivation ends it at once, for
every copy of the cookie. Every state-changing form carries the CSRF secret, and every
state-changing API call made with the session cookie carries it in `X-CSRF-Token`. Users are
re-read on each request, so a deactivated user or a changed role takes effect at once.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import Depends, Request

from handoff.context import AppContext
from handoff.users import service as users
from handoff.users.service import Role, User, logins
from handoff.web.errors import ApiError

ALL = (Role.SALES, Role.FINANCE, Role.AUDITOR, Role.ADMIN)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def session_user(request: Request) -> User | None:
    """The user of the request's session, while that session lasts on the server."""
    secret = request.session.get("sid") if "session" in request.scope else None
    if not isinstance(secret, str):
        return None
    return logins.session_user(context(request), secret)


def client_address(request: Request) -> str | None:
    """The client's IP address (behind a proxy, uvicorn's --proxy-headers puts the real one here)."""
    return request.client.host if request.client is not None else None


def resolve_user(request: Request) -> tuple[User | None, str]:
    """(user or None, how: 'token' | 'session' | '')."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None, "token"
        return users.user_for_token(context(request), token.strip()), "token"
    user = session_user(request)
    return user, "session" if user else ""


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, given: str | None) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and isinstance(given, str) and hmac.compare_digest(expected, given)


def api_user(*roles: Role) -> Any:
    """Dependency for API routes: the calling user, if their role is one of `roles`."""
    allowed = frozenset(roles)

    def dependency(request: Request) -> User:
        user, how = resolve_user(request)
        if user is None:
            raise ApiError(401, "unauthenticated", "log in or send a valid bearer token")
        if user.role not in allowed:
            raise ApiError(403, "forbidden", f"the {user.role.value} role may not do this")
        if (
            how == "session"
            and request.method not in SAFE_METHODS
            and not csrf_ok(request, request.headers.get("x-csrf-token"))
        ):
            raise ApiError(403, "csrf_failed", "X-CSRF-Token header missing or wrong")
        return user

    dependency.roles = allowed  # type: ignore[attr-defined]
    return Depends(dependency)


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PageForbidden(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def ui_user(*roles: Role) -> Any:
    """Dependency for UI pages: redirects to the login page when nobody is logged in; on forms
    (POST) also checks the CSRF secret in the `csrf_token` field."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> User:
        user = session_user(request)
        if user is None:
            raise LoginRequired(here(request))
        if user.role not in allowed:
            raise PageForbidden(f"The {user.role.value} role cannot open this page.")
        if request.method not in SAFE_METHODS:
            form = await request.form()
            given = form.get("csrf_token")
            if not csrf_ok(request, given if isinstance(given, str) else None):
                raise PageForbidden("This form has expired. Go back, reload the page and try again.")
        return user

    dependency.roles = allowed  # type: ignore[attr-defined]
    return Depends(dependency)


def may_see_deal(user: User, owner: str | None) -> bool:
    """Sales see their own deals; every other role sees all."""
    return user.role is not Role.SALES or (owner or "").lower() == user.email


def check_deal_access(ctx: AppContext, user: User, deal_id: str) -> str:
    """The deal's owner, after checking that `user` may see it."""
    from handoff.deals.service.queries import order_owner

    owner = order_owner(ctx, deal_id)
    if owner is None:
        raise ApiError(404, "not_found", f"no deal {deal_id}", "deal_id")
    if not may_see_deal(user, owner):
        raise ApiError(403, "forbidden", "sales users see only their own deals")
    return owner
