"""The four-eyes commands: asking for and voiding credit notes (`handoff credit-note ...`), and deciding on
requests (`handoff approvals ...`), where the approver must not be the requester.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from handoff.kernel.cli_support import DbOption, fail, out
from handoff.users.service import actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    credit_note = typer.Typer(help="Credit notes: asked for by one person, approved by another.", no_args_is_help=True)
    approvals = typer.Typer(help="Requests waiting for a second person (four-eyes).", no_args_is_help=True)
    app.add_typer(credit_note, name="credit-note")
    app.add_typer(approvals, name="approvals")

    @credit_note.command("request")
    def credit_note_request(
        number: str,
        reason: Annotated[str, typer.Option(help="Why the invoice is credited (on the document).")],
        actor: Annotated[str, typer.Option(help="Your e-mail: someone else must approve.")],
        line: Annotated[
            Optional[list[str]],
            typer.Option(help="LINE=QUANTITY to credit part of the invoice (repeat); default: all of it"),
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Ask for a credit note on an issued invoice; it waits for another person's approval."""
        from handoff.approvals.service import ApprovalError, request_credit_note

        try:
            ctx = context(db)
            asked = request_credit_note(ctx, number, reason, actor_email(ctx, actor, ""), _parse_quantities(line or []))
        except ApprovalError as exc:
            fail(str(exc))
        out.print(
            f"approval {asked['id']} pending: credit note of {asked['payload']['gross']} "
            f"{asked['payload']['currency']} on {number}"
        )

    @credit_note.command("void")
    def credit_note_void(
        invoice_id: Annotated[int, typer.Argument(help="The credit-note draft's id.")],
        reason: Annotated[str, typer.Option(help="Why it must not be issued: the requester reads it.")],
        actor: Annotated[str, typer.Option(help="Your e-mail.")],
        db: DbOption = None,
    ) -> None:
        """Void a credit-note draft before it is issued; its quantities can be credited again."""
        from handoff.approvals.service import ApprovalError, void_credit_note

        try:
            ctx = context(db)
            approval = void_credit_note(ctx, invoice_id, actor_email(ctx, actor, ""), reason)
        except ApprovalError as exc:
            fail(str(exc))
        out.print(f"credit-note draft {invoice_id} voided (approval {approval['id']} on {approval['subject']})")

    @approvals.command("list")
    def approvals_list(
        db: DbOption = None,
        status: Annotated[str, typer.Option(help="pending, approved, rejected or all")] = "pending",
    ) -> None:
        """Approvals, newest first (pending by default)."""
        from handoff.approvals.service import list_approvals

        rows = list_approvals(context(db), None if status == "all" else status, limit=500).items
        table = Table("id", "kind", "subject", "amount", "reason", "status", "requested by", "decided by", "result")
        for r in rows:
            p = r["payload"]
            table.add_row(
                str(r["id"]),
                r["kind"],
                r["subject"],
                f"{p.get('gross', '')} {p.get('currency', '')}",
                str(p.get("reason", "")),
                r["status"],
                r["requested_by"],
                r["decided_by"] or "",
                f"draft {r['result_invoice_id']}" if r["result_invoice_id"] else "",
            )
        out.print(table)
        out.print(f"{len(rows)} {status}")

    @approvals.command("approve")
    def approvals_approve(
        approval_id: int,
        actor: Annotated[str, typer.Option(help="Your e-mail: not the requester's.")],
        note: str = "",
        db: DbOption = None,
    ) -> None:
        """Approve a pending request: the credit-note draft is made, ready to be issued (a contract's
        terms: the contract is billed from the next run)."""
        from handoff.approvals.service import ApprovalError, approve

        try:
            ctx = context(db)
            done = approve(ctx, approval_id, actor_email(ctx, actor, ""), note)
        except ApprovalError as exc:
            fail(str(exc))
        if done["kind"] == "contract_terms":
            out.print(f"approval {approval_id} approved: contract {done['subject']} is billed from the next run")
            return
        out.print(
            f"approval {approval_id} approved: credit-note draft {done['result_invoice_id']} "
            f"(handoff invoice issue --id {done['result_invoice_id']})"
        )

    @approvals.command("reject")
    def approvals_reject(
        approval_id: int,
        actor: Annotated[str, typer.Option(help="Your e-mail.")],
        note: Annotated[str, typer.Option(help="Why: the requester reads it.")],
        db: DbOption = None,
    ) -> None:
        """Reject a pending request, saying why."""
        from handoff.approvals.service import ApprovalError, reject

        try:
            ctx = context(db)
            reject(ctx, approval_id, actor_email(ctx, actor, ""), note)
        except ApprovalError as exc:
            fail(str(exc))
        out.print(f"approval {approval_id} rejected")


def _parse_quantities(given: list[str]) -> dict[int, Decimal] | None:
    quantities: dict[int, Decimal] = {}
    for item in given:
        line, sep, quantity = item.partition("=")
        try:
            if not sep:
                raise ValueError(item)
            quantities[int(line)] = Decimal(quantity)
        except (ValueError, InvalidOperation):
            fail(f"--line takes LINE=QUANTITY (for example 1=2.5), not {item!r}")
    return quantities or None
