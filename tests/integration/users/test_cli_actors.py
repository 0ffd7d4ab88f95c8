"""A command's `--actor` is a claim, not a login: it must name an existing, active user whose role
may do the thing, compared on the normalised address. Otherwise the command refuses (exit 2) and
writes nothing. On SQLite and PostgreSQL, through the real `handoff` app (typer's runner)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from handoff.approvals import service as approvals
from handoff.cli import app
from handoff.context import AppContext
from handoff.kernel.storage import schema
from handoff.users import service as users
from handoff.users.service import Role
from tests.builders import event, issued_invoices

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FINANCE, OTHER, SALES, GONE = (
    "finance@acme.example",
    "controller@acme.example",
    "sales@acme.example",
    "gone@acme.example",
)


@pytest.fixture
def pending(ctx: AppContext) -> int:
    """Finance's own credit-note request on an issued invoice; the people of the company."""
    for email, role in ((FINANCE, Role.FINANCE), (OTHER, Role.FINANCE), (SALES, Role.SALES), (GONE, Role.ADMIN)):
        users.add_user(ctx, email, role, f"pw-{role.value}-12345", actor="test")
    gone = users.user_by_email(ctx, GONE)
    assert gone is not None
    users.set_active(ctx, gone.id, False, actor="test")
    issued = issued_invoices(ctx, [event("e1", T0, deal_id="D-1")], on=date(2026, 11, 2), batch=1)
    asked = approvals.request_credit_note(ctx, issued[0].number or "", "billed twice", FINANCE)
    return int(asked["id"])


def counts(ctx: AppContext) -> tuple[int, int]:
    with ctx.engine.connect() as conn:
        audit = conn.execute(select(func.count()).select_from(schema.audit_log)).scalar_one()
        invoices = conn.execute(select(func.count()).select_from(schema.invoices)).scalar_one()
    return audit, invoices


@pytest.mark.parametrize(
    ("actor", "why"),
    [
        ("finance@acme.example.", "someone else must approve"),  # the trailing dot of the domain
        (" FINANCE@acme.example ", "someone else must approve"),
        ("ｆｉｎａｎｃｅ@acme.example", "someone else must approve"),  # fullwidth letters
        ("nobody@acme.example", "no user nobody@acme.example"),
        (GONE, "deactivated"),
        (SALES, "sales"),
    ],
)
def test_approve_refuses_a_made_up_or_unfit_actor(
    ctx: AppContext, db_url: str, pending: int, actor: str, why: str
) -> None:
    before = counts(ctx)
    refused = CliRunner().invoke(app, ["approvals", "approve", str(pending), "--actor", actor, "--db", db_url])
    assert refused.exit_code == 2, refused.output
    assert why in " ".join(refused.output.split())
    assert approvals.get_approval(ctx, pending)["status"] == "pending"
    assert counts(ctx) == before  # nothing written


def test_another_finance_person_approves_under_their_stored_address(ctx: AppContext, db_url: str, pending: int) -> None:
    done = CliRunner().invoke(
        app, ["approvals", "approve", str(pending), "--actor", " Controller@ACME.example. ", "--db", db_url]
    )
    assert done.exit_code == 0, done.output
    assert approvals.get_approval(ctx, pending)["decided_by"] == OTHER


@pytest.mark.parametrize(
    "command",
    [
        ["approvals", "reject", "{id}", "--note", "no"],
        ["credit-note", "void", "999", "--reason", "x"],
        ["credit-note", "request", "INV-X", "--reason", "x"],
        ["invoice", "issue", "--all"],
        ["review", "confirm", "1"],
        ["review", "reject", "1"],
        ["review", "undo", "1"],
        ["match"],
        ["dispute", "INV-X"],
        ["pause-dunning", "C-1"],
        ["inbox", "retry", "--all"],
        ["outbox", "replay", "1"],
    ],
)
def test_every_command_with_an_actor_checks_it(ctx: AppContext, db_url: str, pending: int, command: list[str]) -> None:
    before = counts(ctx)
    args = [a.replace("{id}", str(pending)) for a in command]
    refused = CliRunner().invoke(app, [*args, "--actor", "finance@acme.example.com", "--db", db_url])
    assert refused.exit_code == 2, refused.output
    assert "no user finance@acme.example.com" in " ".join(refused.output.split())
    assert counts(ctx) == before
    sales = CliRunner().invoke(app, [*args, "--actor", SALES, "--db", db_url])
    assert sales.exit_code == 2 and "sales" in sales.output
    assert counts(ctx) == before


def test_users_commands_refuse_weak_passwords_and_show_and_lift_locks(ctx: AppContext, db_url: str) -> None:
    from handoff.users.domain import ACCOUNT_RULE
    from handoff.users.service import logins

    runner = CliRunner()
    for weak in ("password", "aaaaaaaa", "        "):
        added = runner.invoke(app, ["users", "add", "boss@acme.example", "--role", "admin", "--password-stdin",
                                    "--db", db_url], input=weak + "\n")  # fmt: skip
        assert added.exit_code == 2 and "password" in added.output, added.output
    added = runner.invoke(
        app, ["users", "add", "boss@acme.example", "--role", "admin", "--password-stdin", "--db", db_url],
        input="a long and quiet passphrase\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    ctx.clock.now = datetime.now(UTC)  # type: ignore[attr-defined]  # the commands run on the real clock
    for i in range(ACCOUNT_RULE.lock_after):
        logins.log_in(ctx, "boss@acme.example", f"guess-{i}", f"198.51.100.{i}")
        ctx.clock.advance(minutes=10)  # type: ignore[attr-defined]
    listed = runner.invoke(app, ["users", "list", "--db", db_url])
    row = next(line for line in listed.output.splitlines() if "boss@acme.example" in line)
    assert re.search(r" \d{4}-\d\d-\d\dT\d\d:\d\dZ ", row) and f" {ACCOUNT_RULE.lock_after} " in row, listed.output
    unlocked = runner.invoke(app, ["users", "unlock", "boss@acme.example", "--db", db_url])
    assert unlocked.exit_code == 0 and "unlocked" in unlocked.output, unlocked.output
    listed = runner.invoke(app, ["users", "list", "--db", db_url])
    assert not re.search(r"\dZ ", next(line for line in listed.output.splitlines() if "boss@acme.example" in line))
    weak_reset = runner.invoke(
        app, ["users", "set-password", "boss@acme.example", "--password-stdin", "--db", db_url], input="password\n"
    )
    assert weak_reset.exit_code == 2 and "too easy to guess" in weak_reset.output
    reset = runner.invoke(
        app, ["users", "set-password", "boss@acme.example", "--password-stdin", "--db", db_url],
        input="another long quiet passphrase\n",
    )  # fmt: skip
    assert reset.exit_code == 0, reset.output
    assert logins.log_in(ctx, "boss@acme.example", "another long quiet passphrase", "192.0.2.1").user is not None
