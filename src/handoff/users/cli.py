"""The users commands (`handoff users ...`): adding people with a role, listing them with their failed logins and
locks, unlocking them, setting a password, creating API tokens.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from handoff.kernel.cli_support import DbOption, fail, out

if TYPE_CHECKING:
    from handoff.context import AppContext


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    users = typer.Typer(help="People who use the web app and API, their roles and API tokens.", no_args_is_help=True)
    app.add_typer(users, name="users")

    @users.command("add")
    def users_add(
        email: str,
        role: Annotated[str, typer.Option(help="sales, finance, auditor or admin")] = "sales",
        password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
        db: DbOption = None,
    ) -> None:
        """Add a user (the first admin, for instance). The password is asked for, or read from stdin."""
        from handoff.users.service import UserError, add_user

        password = _password(password_stdin)
        try:
            user = add_user(context(db), email, role, password, actor="cli")
        except UserError as exc:
            fail(exc.message)
        out.print(f"{user.email} added as {user.role.value}")

    @users.command("list")
    def users_list(db: DbOption = None) -> None:
        """Users with their role, status, failed logins and lock."""
        from handoff.users.service import list_users

        table = Table("id", "email", "role", "active", "failed logins", "locked until")
        for r in list_users(context(db)):
            locked = r["locked_until"].strftime("%Y-%m-%dT%H:%MZ") if r["locked_until"] else ""
            table.add_row(
                str(r["id"]), r["email"], r["role"], "yes" if r["active"] else "no", str(r["failed_logins"]), locked
            )
        out.print(table)

    @users.command("unlock")
    def users_unlock(email: str, db: DbOption = None) -> None:
        """Lift a user's login lock and forget their failed logins (audited)."""
        from handoff.users.service import UserError, user_by_email
        from handoff.users.service.logins import unlock

        ctx = context(db)
        user = user_by_email(ctx, email)
        if user is None:
            fail(f"no active user {email}")
        try:
            done = unlock(ctx, user.id, actor="cli")
        except UserError as exc:
            fail(exc.message)
        out.print(f"{user.email} unlocked" if done else f"{user.email} had no failed logins")

    @users.command("set-password")
    def users_set_password(
        email: str,
        password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
        db: DbOption = None,
    ) -> None:
        """Set a user's password (a reset); every session of theirs ends. Asked for, or read from stdin."""
        from handoff.users.service import UserError, set_password

        password = _password(password_stdin)
        try:
            user = set_password(context(db), email, password, actor="cli")
        except UserError as exc:
            fail(exc.message)
        out.print(f"password of {user.email} set; their sessions have ended")

    @users.command("token")
    def users_token(
        email: str,
        name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
        db: DbOption = None,
    ) -> None:
        """Create an API token for a user; it is printed once and stored only as a hash."""
        from handoff.users.service import UserError, create_token, user_by_email

        ctx = context(db)
        user = user_by_email(ctx, email)
        if user is None:
            fail(f"no active user {email}")
        try:
            secret, _ = create_token(ctx, user, name, actor="cli")
        except UserError as exc:
            fail(exc.message)
        sys.stdout.write(secret + "\n")


def _password(from_stdin: bool) -> str:
    """One line of stdin, or asked for twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password
