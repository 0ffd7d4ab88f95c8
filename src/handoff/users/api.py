"""API: the caller (`/me`, tokens), users with their locks (admin) and the business settings in force (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field, StringConstraints

from handoff.users import service as users
from handoff.users.domain import MAX_PASSWORD, MIN_PASSWORD
from handoff.users.service import Role, User, UserError, logins
from handoff.web.auth import ALL, api_user
from handoff.web.deps import Ctx
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import LINE, In, Out, ShortText

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class UserOut(Out):
    id: int
    email: str
    role: Role
    active: bool
    created_at: datetime | None = None
    failed_logins: int = Field(0, description="failed logins since the last success")
    locked_until: datetime | None = Field(None, description="set while the account is locked")


class UserIn(In):
    email: ShortText = Field(min_length=3)
    role: Role
    password: str = Field(
        min_length=MIN_PASSWORD,
        max_length=MAX_PASSWORD,
        description="no composition rules; common and breached passwords are refused; 15+ characters recommended",
    )


class UnlockOut(Out):
    id: int
    unlocked: bool = Field(description="false when the account had no failed logins to forget")


class UserPatch(In):
    active: bool


class TokenIn(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=LINE)]


class TokenOut(Out):
    id: int
    name: str
    token: str = Field(description="shown only in this response; store it now")


def _user_error(exc: UserError) -> ApiError:
    status = 409 if "already exists" in exc.message else 422
    return ApiError(status, "conflict" if status == 409 else "invalid_request", exc.message, exc.field)


@router.get("/me", response_model=UserOut, tags=["users"])
def me(user: User = api_user(*ALL)) -> Any:
    return {"id": user.id, "email": user.email, "role": user.role, "active": user.active}


@router.post("/me/tokens", response_model=TokenOut, status_code=201, tags=["users"])
def new_token(ctx: Ctx, body: TokenIn, user: User = api_user(*ALL)) -> Any:
    """A new API token for the caller. It is shown only in this response and stored hashed."""
    try:
        secret, tid = users.create_token(ctx, user, body.name, user.actor)
    except UserError as exc:
        raise _user_error(exc) from exc
    return {"id": tid, "name": body.name.strip(), "token": secret}


@router.get("/users", response_model=list[UserOut], tags=["users"])
def list_users(ctx: Ctx, user: User = api_user(Role.ADMIN)) -> Any:
    return users.list_users(ctx)


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
def add_user(ctx: Ctx, body: UserIn, user: User = api_user(Role.ADMIN)) -> Any:
    try:
        added = users.add_user(ctx, body.email, body.role, body.password, user.actor)
    except UserError as exc:
        raise _user_error(exc) from exc
    return {"id": added.id, "email": added.email, "role": added.role, "active": added.active}


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
def set_active(ctx: Ctx, user_id: UserId, body: UserPatch, user: User = api_user(Role.ADMIN)) -> Any:
    """Deactivate (or reactivate) a user; deactivation revokes their API tokens."""
    if user_id == user.id and not body.active:
        raise ApiError(409, "conflict", "you cannot deactivate yourself", "active")
    try:
        changed = users.set_active(ctx, user_id, body.active, user.actor)
    except UserError as exc:
        raise ApiError(404, "not_found", exc.message, "user_id") from exc
    return {"id": changed.id, "email": changed.email, "role": changed.role, "active": changed.active}


@router.post("/users/{user_id}/unlock", response_model=UnlockOut, tags=["users"])
def unlock(ctx: Ctx, user_id: UserId, user: User = api_user(Role.ADMIN)) -> Any:
    """Lift a user's login lock and forget their failed logins (audited as `login.unlocked`)."""
    try:
        done = logins.unlock(ctx, user_id, user.actor)
    except UserError as exc:
        raise ApiError(404, "not_found", exc.message, "user_id") from exc
    return {"id": user_id, "unlocked": done}


@router.get("/settings", tags=["settings"])
def settings(ctx: Ctx, user: User = api_user(Role.ADMIN)) -> dict[str, Any]:
    """The business configuration in force (selling entities, payment terms, stages, notices)."""
    settings: dict[str, Any] = ctx.config.model.model_dump(mode="json")
    return settings
