"""The people pages: admins list users with their failed logins and locks, add one, (de)activate
and unlock them; everyone opens their account, changes their password and creates API tokens,
each shown once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from handoff.users import service as users
from handoff.users.domain import MAX_PASSWORD, MIN_PASSWORD, RECOMMENDED_PASSWORD
from handoff.users.service import Role, User, UserError, logins
from handoff.web.auth import ALL, client_address, context, ui_user
from handoff.web.pages import flash_message, render, see_other

router = APIRouter(include_in_schema=False)


@router.get("/admin/users")
def users_page(request: Request, user: User = ui_user(Role.ADMIN)) -> Response:
    return render(
        request, "users.html", user, people=users.list_users(context(request)), roles=list(Role), **_lengths()
    )


def _lengths() -> dict[str, int]:
    return {"min_password": MIN_PASSWORD, "good_password": RECOMMENDED_PASSWORD, "max_password": MAX_PASSWORD}


@router.post("/admin/users")
async def add_user_page(request: Request, user: User = ui_user(Role.ADMIN)) -> Response:
    form = await request.form()
    try:
        added = users.add_user(
            context(request),
            str(form.get("email", "")),
            str(form.get("role", "")),
            str(form.get("password", "")),
            user.actor,
        )
        flash_message(request, "ok", f"{added.email} can now log in as {added.role.value}.")
    except UserError as exc:
        flash_message(request, "error", exc.message)
    return see_other("/admin/users")


@router.post("/admin/users/{user_id}/active")
async def user_active_page(request: Request, user_id: int, user: User = ui_user(Role.ADMIN)) -> Response:
    form = await request.form()
    active = form.get("active") == "1"
    if user_id == user.id and not active:
        flash_message(request, "error", "You cannot deactivate yourself.")
        return see_other("/admin/users")
    try:
        changed = users.set_active(context(request), user_id, active, user.actor)
        flash_message(request, "ok", f"{changed.email} is now {'active' if active else 'deactivated'}.")
    except UserError as exc:
        flash_message(request, "error", exc.message)
    return see_other("/admin/users")


@router.post("/admin/users/{user_id}/unlock")
async def user_unlock_page(request: Request, user_id: int, user: User = ui_user(Role.ADMIN)) -> Response:
    try:
        done = logins.unlock(context(request), user_id, user.actor)
        flash_message(request, "ok", "Unlocked: the failed logins are forgotten." if done else "Nothing to unlock.")
    except UserError as exc:
        flash_message(request, "error", exc.message)
    return see_other("/admin/users")


@router.get("/account")
def account_page(request: Request, user: User = ui_user(*ALL)) -> Response:
    return render(request, "account.html", user, token=None, **_lengths())


@router.post("/account/password")
async def account_password(request: Request, user: User = ui_user(*ALL)) -> Response:
    """Change one's own password: every session ends, this browser gets a new one."""
    form = await request.form()
    new, confirm = str(form.get("password", "")), str(form.get("confirm", ""))
    if new != confirm:
        flash_message(request, "error", "The new password and its confirmation differ.")
        return see_other("/account")
    try:
        secret = logins.change_password(
            context(request), user, str(form.get("current", "")), new, client_address(request)
        )
    except UserError as exc:
        flash_message(request, "error", exc.message)
        return see_other("/account")
    csrf = request.session.get("csrf")
    request.session.clear()
    request.session.update({"sid": secret, "csrf": csrf})
    flash_message(request, "ok", "Password changed; your other sessions have ended.")
    return see_other("/account")


@router.post("/account/tokens")
async def account_token(request: Request, user: User = ui_user(*ALL)) -> Response:
    form = await request.form()
    try:
        secret, _ = users.create_token(context(request), user, str(form.get("name", "")), user.actor)
    except UserError as exc:
        flash_message(request, "error", exc.message)
        return see_other("/account")
    return render(request, "account.html", user, token=secret, **_lengths())
