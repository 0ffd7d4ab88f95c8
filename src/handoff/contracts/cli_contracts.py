"""The contract commands: `handoff contracts list|show|accept-milestone` and `handoff billing run`.

Reading needs only the database; accepting a milestone and running the billing run by hand need
`--actor`, an active finance or admin user, audited with what they did (the worker's daily
`billing_run` job acts as `automation:billing_run`). Mounted on the root app by `handoff.cli`, which
passes in how a command gets its AppContext.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from handoff.kernel.cli_support import DbOption, fail, out
from handoff.users.service import FINANCE_ROLES, actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {text!r} is not a date (YYYY-MM-DD)")


def _money(value: object) -> str:
    return f"{value:,.2f}" if value is not None else ""


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    contracts = typer.Typer(help="Contracts: versions, lines, billing schedules.", no_args_is_help=True)
    billing = typer.Typer(help="The billing run: due contract items drafted as invoices.", no_args_is_help=True)
    app.add_typer(contracts, name="contracts")
    app.add_typer(billing, name="billing")

    @contracts.command("list")
    def list_cmd(
        db: DbOption = None,
        customer: Annotated[Optional[str], typer.Option(help="One customer's contracts (customer id).")] = None,
        limit: Annotated[int, typer.Option(min=1, max=5000)] = 500,
    ) -> None:
        """Contracts by id: customer, entity, currency, status, current version."""
        from handoff.contracts.service.contracts import list_contracts

        rows = list_contracts(context(db), limit, customer)
        table = Table("contract", "customer", "entity", "currency", "terms", "status", "version", "origin")
        for c in rows:
            table.add_row(
                escape(c.contract_id),
                escape(c.customer_id),
                c.legal_entity,
                c.currency,
                escape(c.payment_terms),
                c.status,
                str(c.current_version),
                c.origin,
            )
        out.print(table)
        out.print(f"{len(rows)} contracts")

    @contracts.command("show")
    def show_cmd(contract_id: str, db: DbOption = None) -> None:
        """A contract: its lines, its schedule (what each item billed), its versions."""
        from handoff.contracts.service.contracts import ContractError, show_contract

        try:
            view = show_contract(context(db), contract_id)
        except ContractError as exc:
            fail(str(exc))
        c = view.contract
        out.print(
            f"[bold]{escape(c.contract_id)}[/] {escape(c.customer_id)} {c.legal_entity} {c.currency} "
            f"{escape(c.payment_terms)} ({c.status}, version {c.current_version})",
            highlight=False,
        )
        current = view.current
        lines = Table("line", "product", "description", "quantity", "unit price", "billing", "discount")
        for ln in current.lines:
            rule = ln.rule
            how = rule.kind.value + (f" {rule.frequency.value} {rule.timing.value}" if rule.frequency else "")
            lines.add_row(
                ln.key,
                escape(ln.product),
                escape(ln.description),
                f"{ln.quantity:f}",
                _money(ln.unit_price),
                how,
                escape(ln.discount),
            )
        out.print(lines)
        schedule = Table("line", "period", "from", "to", "bills on", "net", "trigger", "status", "invoice")
        for i in view.items:
            invoice = ""
            if i.invoice_id is not None:
                invoice = i.invoice_number or f"draft {i.invoice_id}"
                if i.invoice_status and i.invoice_status not in ("draft", "issued"):
                    invoice += f" ({i.invoice_status})"
            schedule.add_row(
                i.line_key,
                escape(i.period_key),
                i.period_start.isoformat(),
                i.period_end.isoformat(),
                i.bill_date.isoformat() if i.bill_date else "on acceptance",
                _money(i.amount),
                i.trigger,
                i.status,
                escape(invoice),
            )
        out.print(schedule)
        versions = Table("version", "effective", "change order", "by", "at", "sha-256")
        for v in view.versions:
            versions.add_row(
                str(v.version),
                v.effective.isoformat(),
                escape(v.change_order),
                escape(v.created_by),
                v.created_at.strftime("%Y-%m-%d %H:%M"),
                v.content_hash[:16],
            )
        out.print(versions)

    @contracts.command("accept-milestone")
    def accept_cmd(
        contract_id: str,
        key: str,
        actor: Annotated[str, typer.Option(help="Your e-mail (audited): an active finance or admin user.")],
        on: Annotated[Optional[str], typer.Option("--on", help="Accepted on (YYYY-MM-DD, default today).")] = None,
        event_id: Annotated[
            Optional[str], typer.Option(help="Id of the acceptance (default: contract, milestone and day).")
        ] = None,
        db: DbOption = None,
    ) -> None:
        """A milestone was accepted: the billing run bills it from that day on."""
        from handoff.contracts.service.contracts import ContractError, accept_milestone

        ctx = context(db)
        who = actor_email(ctx, actor, actor, FINANCE_ROLES)
        day = _day(on, "--on") or ctx.clock().date()
        try:
            done = accept_milestone(ctx, contract_id, key, day, who, event_id or f"cli:{contract_id}:{key}:{day}")
        except ContractError as exc:
            fail(str(exc))
        accepted = f"accepted on {done.accepted_on} by {escape(done.accepted_by)}"
        out.print(f"{escape(contract_id)} milestone {escape(key)} {accepted}", highlight=False)

    @billing.command("run")
    def run_cmd(
        date_: Annotated[
            Optional[str], typer.Option("--date", help="Bill what is due on (YYYY-MM-DD, default today).")
        ] = None,
        actor: Annotated[
            Optional[str], typer.Option(help="Your e-mail (audited): an active finance or admin user.")
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Draft an invoice for every contract item due on the day; items already billed never again."""
        from handoff.contracts.service.billing_run import ACTOR, run_billing

        ctx = context(db)
        who = actor_email(ctx, actor, ACTOR, FINANCE_ROLES)
        day = _day(date_, "--date") or ctx.clock().date()
        result = run_billing(ctx, day, "cli", actor=who)
        out.print(f"billing run {day}: {result.drafts} drafts, {result.items} items", highlight=False)
        for contracts_, why in result.failures:
            out.print(f"  not drafted: {escape(contracts_)}: {escape(why)}", highlight=False)
        if result.failures:
            raise typer.Exit(1)
