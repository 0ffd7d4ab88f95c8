"""What every page of the browser UI shares: the Jinja2 templates (autoescaped; no JavaScript
build) and their filters, `render` with the navigation's data, error pages, flash messages and
redirects, and the session's own pages (login, logout, the home redirect). Each capability keeps
its pages in its `ui` module; every page checks the user's role on the server (`auth.ui_user`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from handoff.approvals import service as approvals
from handoff.users.service import Role, User, logins
from handoff.web.auth import (
    ALL,
    LoginRequired,
    PageForbidden,
    client_address,
    context,
    csrf_ok,
    csrf_token,
    session_user,
    ui_user,
)

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
PAGE = 50
FINANCE = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
WRITERS = (Role.FINANCE, Role.ADMIN)
HOME = {Role.SALES: "/exceptions", Role.FINANCE: "/tasks", Role.AUDITOR: "/dashboard", Role.ADMIN: "/dashboard"}
STATE_LABELS = {
    "pipeline": "pipeline",
    "blocked": "blocked",
    "ready": "ready",
    "drafted": "ready · draft invoice",
    "sent": "invoiced",
    "paid": "paid",
}


def money(value: Any, currency: str = "") -> str:
    """An amount as people read it (`1,190.00 EUR`); an empty one as a dash."""
    if value is None or value == "":
        return "—"
    try:
        text = f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)
    return f"{text} {currency}".strip()


templates.env.filters["money"] = money
templates.env.filters["when"] = lambda v: v.strftime("%d %b %Y %H:%M") if hasattr(v, "strftime") else (v or "—")
templates.env.filters["day"] = lambda v: v.strftime("%d %b %Y") if hasattr(v, "strftime") else (v or "—")
templates.env.filters["pct"] = lambda v: f"{v:.0%}"
templates.env.filters["person"] = approvals.person  # an actor as people know them: `user:a@b` -> `a@b`
templates.env.globals["state_label"] = lambda s: STATE_LABELS.get(s, s)


def render(request: Request, name: str, user: User | None, http_status: int = 200, **values: Any) -> HTMLResponse:
    flash = request.session.pop("flash", None) if "session" in request.scope else None
    # what waits for a second person, on the navigation of everyone who sees approvals
    waiting = approvals.pending_count(context(request)) if user is not None and user.role in FINANCE else 0
    return templates.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "csrf": csrf_token(request),
            "flash": flash,
            "path": request.url.path,
            "Role": Role,
            "approvals_waiting": waiting,
            "open_intake": bool(getattr(request.app.state, "insecure_open_intake", False)),
            **values,
        },
        status_code=http_status,
    )


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    user = session_user(request)
    titles = {403: "Not allowed", 404: "Not found", 405: "Not allowed"}
    return render(
        request,
        "error.html",
        user,
        http_status=status,
        title=titles.get(status, "Something went wrong"),
        message=message,
    )


def install(api: FastAPI) -> None:
    """Answer pages that need a login with the login page, and forbidden pages with an error page."""

    async def on_login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/login?{urlencode({'next': exc.next_url})}", status_code=303)

    async def on_forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        return error_page(request, 403, exc.message)

    api.add_exception_handler(LoginRequired, on_login_required)
    api.add_exception_handler(PageForbidden, on_forbidden)


def flash_message(request: Request, kind: str, message: str) -> None:
    request.session["flash"] = {"kind": kind, "message": message}


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    return target if target and target.startswith("/") and not target.startswith("//") else None


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", None, next=safe_next(next) or "")


@router.post("/login")
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not csrf_ok(request, csrf_token):
        return render(
            request,
            "login.html",
            None,
            http_status=403,
            next=safe_next(next) or "",
            email=email,
            error="The login form expired. Please try again.",
        )
    outcome = logins.log_in(context(request), email, password, client_address(request))
    if outcome.retry_after is not None:
        wait = outcome.retry_after
        error = (
            f"Too many failed logins: this account is locked for {max(wait // 60, 1)} minutes "
            "(an admin can unlock it sooner)."
            if outcome.locked
            else f"Too many failed logins: try again in {wait} seconds."
        )
        page = render(
            request, "login.html", None, http_status=429, next=safe_next(next) or "", email=email, error=error
        )
        page.headers["Retry-After"] = str(wait)
        return page
    if outcome.user is None or outcome.session is None:
        return render(
            request,
            "login.html",
            None,
            http_status=401,
            next=safe_next(next) or "",
            email=email,
            error="E-mail or password is wrong.",
        )
    request.session.clear()  # a fresh session (and CSRF secret) at each login
    request.session["sid"] = outcome.session
    return see_other(safe_next(next) or HOME[outcome.user.role])


@router.post("/logout")
def logout(request: Request, user: User = ui_user(*ALL)) -> Response:
    secret = request.session.get("sid")
    if isinstance(secret, str):
        logins.log_out(context(request), secret)
    request.session.clear()
    return see_other("/login")


@router.get("/")
def home(request: Request, user: User = ui_user(*ALL)) -> Response:
    return see_other(HOME[user.role])
