"""The people pages: admins list users, add one and (de)activate them; everyone opens their
account and creates API tokens, each shown once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from handoff.users import service as users
from handoff.users.service import Role, User, UserError
from handoff.web.auth import ALL, context, ui_user
from handoff.web.pages import flash_message, render, see_other

router = APIRouter(include_in_schema=False)


@router.get("/admin/users")
def users_page(request: Request, user: User = ui_user(Role.ADMIN)) -> Response:
    return render(request, "users.html", user, people=users.list_users(context(request)), roles=list(Role))


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


@router.get("/account")
def account_page(request: Request, user: User = ui_user(*ALL)) -> Response:
    return render(request, "account.html", user, token=None)


@router.post("/account/tokens")
async def account_token(request: Request, user: User = ui_user(*ALL)) -> Response:
    form = await request.form()
    try:
        secret, _ = users.create_token(context(request), user, str(form.get("name", "")), user.actor)
    except UserError as exc:
        flash_message(request, "error", exc.message)
        return see_other("/account")
    return render(request, "account.html", user, token=secret)
