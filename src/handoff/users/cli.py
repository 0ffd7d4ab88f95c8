"""The users commands (`handoff users ...`): adding people with a role, listing them, creating API tokens.

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

        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = add_user(context(db), email, role, password, actor="cli")
        except UserError as exc:
            fail(exc.message)
        out.print(f"{user.email} added as {user.role.value}")

    @users.command("list")
    def users_list(db: DbOption = None) -> None:
        """Users with their role and status."""
        from handoff.users.service import list_users

        table = Table("id", "email", "role", "active")
        for r in list_users(context(db)):
            table.add_row(str(r["id"]), r["email"], r["role"], "yes" if r["active"] else "no")
        out.print(table)

    @users.command("token")
    def users_token(
        email: str,
        name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
        db: DbOption = None,
    ) -> None:
        """Create an API token for a user; it is printed once and stored only as a hash."""
        from handoff.users.service import Role, User, UserError, create_token, list_users

        ctx = context(db)
        found = [r for r in list_users(ctx) if r["email"] == email.strip().lower() and r["active"]]
        if not found:
            fail(f"no active user {email}")
        user = User(found[0]["id"], found[0]["email"], Role(found[0]["role"]))
        try:
            secret, _ = create_token(ctx, user, name, actor="cli")
        except UserError as exc:
            fail(exc.message)
        sys.stdout.write(secret + "\n")
