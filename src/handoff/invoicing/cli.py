"""The invoicing commands (`handoff invoice ...`): listing invoices, issuing drafts, writing e-invoice documents
and changing an issued invoice's billing contact.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from handoff.kernel.cli_support import ActorOption, DbOption, fail, out
from handoff.users.service import actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext
    from handoff.invoicing.service.exchange_rates import ImportResult


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    invoice = typer.Typer(help="Invoices.", no_args_is_help=True)
    app.add_typer(invoice, name="invoice")
    _register_credit(app, context)
    _register_rules(app, context)
    _register_fx(app, context)

    @invoice.command("list")
    def invoice_list(db: DbOption = None, status: Optional[str] = None) -> None:
        """Invoices with their document status and payment state."""
        from handoff.invoicing.service.issuing import invoice_rows

        table = Table("number", "status", "payment", "customer", "amount", "paid", "credited", "due")
        for r in invoice_rows(context(db), status):
            table.add_row(
                r["number"] or f"(draft {r['id']})",
                r["status"],
                r["payment_state"],
                r["customer_name"],
                f"{r['gross_amount']:,.2f} {r['currency']}",
                f"{r['paid_amount']:,.2f}",
                f"{r['credited_amount']:,.2f}",
                str(r["due_date"] or ""),
            )
        out.print(table)

    @invoice.command("issue")
    def invoice_issue(
        db: DbOption = None,
        draft_id: Annotated[Optional[int], typer.Option("--id")] = None,
        all_drafts: Annotated[bool, typer.Option("--all")] = False,
        actor: ActorOption = None,
    ) -> None:
        """Issue one draft (--id) or every draft (--all): numbered, dated, sent."""
        from handoff.invoicing.service.issuing import InvoicingError, issue_all_drafts, issue_draft

        ctx = context(db)
        actor = actor_email(ctx, actor, "finance@cli")
        try:
            if all_drafts:
                issued = issue_all_drafts(ctx, actor)
            elif draft_id is not None:
                issued = [issue_draft(ctx, draft_id, actor)]
            else:
                fail("give --id DRAFT or --all")
        except InvoicingError as exc:
            fail(str(exc))
        for inv in issued[:20]:
            out.print(
                f"{inv.number}: {inv.totals.payable:,.2f} {inv.currency} to {inv.buyer.legal_name}, due {inv.due_date}"
            )
        out.print(f"{len(issued)} invoices issued")

    @invoice.command("contact")
    def invoice_contact(
        number: str,
        email: Annotated[str, typer.Option(help="The new billing contact's e-mail address.")],
        reason: Annotated[str, typer.Option(help="Why the contact changes (audited).")],
        actor: Annotated[str, typer.Option(help="Your e-mail (finance).")],
        name: Annotated[Optional[str], typer.Option(help="The contact's name; omitted: the name stays.")] = None,
        resend: Annotated[bool, typer.Option(help="Send the invoice to the new contact now.")] = False,
        db: DbOption = None,
    ) -> None:
        """Change an issued invoice's billing contact: its reminders and re-sent e-mails go there; the
        issued document stays as issued."""
        from rich.markup import escape

        from handoff.invoicing.service.contacts import ContactError, change_billing_contact

        try:
            ctx = context(db)
            done = change_billing_contact(
                ctx, number, email=email, name=name, reason=reason, actor=actor_email(ctx, actor, ""), resend=resend
            )
        except ContactError as exc:
            option = {"billing_email": "--email", "billing_contact_name": "--name", "reason": "--reason"}
            fail(escape(str(exc)) + (f" ({option[exc.field]})" if exc.field in option else ""))
        if done.changed:
            out.print(
                escape(f"{number}: billing contact {done.before.email} -> {done.after.email}"),
                highlight=False,
            )
        else:
            out.print(escape(f"{number}: the billing contact is already {done.after.email}; nothing changed"))
        if done.resent:
            out.print(escape(f"{number}: sent again to {done.after.email}"))

    @invoice.command("render")
    def invoice_render(
        number: str,
        db: DbOption = None,
        fmt: Annotated[str, typer.Option("--format", help="ubl, cii, pdf or facturx")] = "pdf",
        output: Annotated[Optional[Path], typer.Option("--output", "-o")] = None,
    ) -> None:
        """Write an issued invoice as a document: UBL (Peppol BIS 3), CII, PDF or Factur-X."""
        from handoff.invoicing.documents import FORMATS, DocumentError, render
        from handoff.invoicing.service.issuing import InvoicingError, load_invoice

        if fmt.lower() not in FORMATS:
            fail(f"--format must be one of {', '.join(FORMATS)}")
        try:
            data = render(load_invoice(context(db), number), fmt)
        except (InvoicingError, DocumentError) as exc:
            fail(str(exc))
        suffix = {"ubl": "xml", "cii": "cii.xml", "pdf": "pdf", "facturx": "facturx.pdf"}[fmt.lower()]
        target = output or Path(f"{number}.{suffix}")
        target.write_bytes(data)
        out.print(f"{number}: {fmt} written to {target} ({len(data):,} bytes)")

    _register_tasks(app, context)


TaskActor = Annotated[str, typer.Option(help="Your e-mail: an active finance or admin user (audited).")]
DealVersion = Annotated[
    Optional[str], typer.Option(help="The deal version you reviewed (`tasks show`); refused if newer.")
]


def _register_tasks(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    """`handoff tasks ...`: finance tasks, and resolving the review of a deal amended after invoicing
    (bill the difference, credit it, or dismiss it with a reason) as an active finance or admin user."""
    from rich.markup import escape

    tasks = typer.Typer(help="Finance tasks; resolving amendment reviews.", no_args_is_help=True)
    app.add_typer(tasks, name="tasks")

    @tasks.command("list")
    def tasks_list(
        db: DbOption = None,
        kind: Annotated[Optional[str], typer.Option(help="issue_invoice or review_amendment")] = None,
        status: Annotated[str, typer.Option(help="open, done, cancelled or all")] = "open",
    ) -> None:
        """Finance tasks, newest first (open by default)."""
        from handoff.invoicing.service import queries

        page = queries.list_tasks(context(db), status=None if status == "all" else status, kind=kind, limit=500)
        table = Table("id", "deal", "kind", "status", "customer", "opened")
        for t in page.items:
            table.add_row(
                str(t["id"]),
                escape(t["deal_id"]),
                t["kind"],
                t["status"],
                escape(t["customer_name"]),
                f"{t['created_at']:%Y-%m-%d %H:%M}",
            )
        out.print(table)
        out.print(f"{page.total_label} {status}")

    @tasks.command("show")
    def tasks_show(task_id: int, db: DbOption = None) -> None:
        """An amendment review: each line as invoiced and as the new version has it, what to bill and
        to credit, and the steps taken."""
        from handoff.invoicing.service.amendments import AmendmentError, review

        try:
            shown = review(context(db), task_id)
        except AmendmentError as exc:
            fail(escape(str(exc)))
        t, diff, cur = shown.task, shown.difference, shown.currency
        out.print(escape(f"task {t.id}: review of deal {t.deal_id}, {t.status}, version {shown.version_event}"))
        for problem in shown.problems:
            out.print(escape(f"cannot be billed: {problem}"))
        if diff is not None:
            table = Table("line", "vat", "invoiced", "new", "difference")
            for c in diff.changes:
                table.add_row(
                    escape(c.description),
                    c.vat,
                    f"{c.old_quantity} = {c.old_amount:,.2f}",
                    f"{c.new_quantity} = {c.new_amount:,.2f}",
                    f"{c.difference:,.2f} {cur}",
                )
            out.print(table)
            for b in diff.to_bill:
                note = f" ({b.note})" if b.note else ""
                out.print(escape(f"to bill: {b.description} {b.quantity} x {b.unit_price} = {b.net}{note}"))
            for k in diff.to_credit:
                out.print(escape(f"to credit: {k.number} line {k.line_no} {k.description} {k.quantity} = {k.net}"))
            for w in diff.waiting:
                out.print(escape(f"waiting: {w}"))
            out.print(f"to bill {diff.bill_net} {cur} net, to credit {diff.credit_net} {cur} net")
        for r in shown.resolutions:
            when = f"{r.resolved_at:%Y-%m-%d %H:%M}"
            out.print(escape(f"step {r.id}: {r.action} by {r.resolved_by} at {when}: {r.reason}"))

    @tasks.command("bill")
    def tasks_bill(
        task_id: int, actor: TaskActor, note: str = "", version: DealVersion = None, db: DbOption = None
    ) -> None:
        """Bill the difference: an invoice draft for what the new version bills more."""
        from handoff.invoicing.service.amendments import AmendmentError, bill_difference

        ctx = context(db)
        try:
            done = bill_difference(ctx, task_id, actor_email(ctx, actor, ""), note, version)
        except AmendmentError as exc:
            fail(escape(str(exc)))
        out.print(
            f"task {task_id}: invoice draft {done.invoice_id} bills the difference, {done.net} net "
            f"(handoff invoice issue --id {done.invoice_id}); task {done.task_status}"
        )
        if done.left:
            out.print(escape(f"still open: {done.left}"))

    @tasks.command("credit")
    def tasks_credit(
        task_id: int,
        actor: TaskActor,
        reason: Annotated[str, typer.Option(help="Printed on the credit notes.")] = "",
        version: DealVersion = None,
        db: DbOption = None,
    ) -> None:
        """Credit the difference: credit-note requests that someone else approves."""
        from handoff.invoicing.service.amendments import AmendmentError, credit_difference

        ctx = context(db)
        try:
            done = credit_difference(ctx, task_id, actor_email(ctx, actor, ""), reason, version)
        except AmendmentError as exc:
            fail(escape(str(exc)))
        asked = ", ".join(str(a) for a in done.approval_ids)
        out.print(f"task {task_id}: credit of {done.net} net asked for (approval {asked}); task {done.task_status}")
        if done.left:
            out.print(escape(f"still open: {done.left}"))

    @tasks.command("dismiss")
    def tasks_dismiss(
        task_id: int,
        reason: Annotated[str, typer.Option(help="Why nothing is billed or credited (audited).")],
        actor: TaskActor,
        version: DealVersion = None,
        db: DbOption = None,
    ) -> None:
        """Dismiss the review, saying why: nothing is billed or credited."""
        from handoff.invoicing.service.amendments import AmendmentError, dismiss

        ctx = context(db)
        try:
            dismiss(ctx, task_id, actor_email(ctx, actor, ""), reason, version)
        except AmendmentError as exc:
            fail(escape(str(exc)))
        out.print(f"task {task_id}: dismissed, nothing billed or credited")


def _register_rules(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    rules = typer.Typer(
        help="E-invoice rule sets: which releases are in force, installing another.", no_args_is_help=True
    )
    app.add_typer(rules, name="rules")

    @rules.command("versions")
    def rules_versions() -> None:
        """The rule sets and schemas e-invoices are validated against, with their releases."""
        from handoff.invoicing.service import einvoicing

        table = Table("rule set", "release", "from")
        for r in einvoicing.rule_versions():
            table.add_row(r.name, r.version, str(r.folder) if r.installed else "shipped with handoff")
        for name, version in einvoicing.schema_versions().items():
            table.add_row(f"xsd-{name}", version, "shipped with handoff")
        out.print(table)

    @rules.command("report")
    def rules_report(number: str, db: DbOption = None) -> None:
        """The validation report an invoice was issued on: rule set releases and findings."""
        import json

        from handoff.invoicing.service import einvoicing

        report = einvoicing.issued_report(context(db), number)
        if report is None:
            fail(f"{number}: no validation report (not issued, issued before validation, or no e-invoice)", 1)
        out.print_json(json.dumps(report))

    @rules.command("install")
    def rules_install(
        source: Annotated[Path, typer.Argument(help="A folder or a zip / tar archive holding the release's XSLT.")],
        rule_set: Annotated[str, typer.Option("--set", help="peppol, en16931 or xrechnung.")],
        version: Annotated[
            Optional[str], typer.Option(help="The release (default: the folder name, e.g. 2026.5).")
        ] = None,
    ) -> None:
        """Install another release of a rule set (into HANDOFF_RULES_DIR) after checking it compiles."""
        from handoff.invoicing.service import einvoicing

        if not source.exists():
            fail(f"{source} does not exist")
        try:
            installed = einvoicing.install_rules(source, rule_set, version)
        except einvoicing.RuleSetError as exc:
            fail(str(exc))
        out.print(f"{installed.name} {installed.version} installed in {installed.folder}")

    @rules.command("reset")
    def rules_reset(rule_set: Annotated[str, typer.Option("--set", help="peppol, en16931 or xrechnung.")]) -> None:
        """Remove an installed release: the one shipped with handoff is in force again."""
        from handoff.invoicing.service import einvoicing

        try:
            current = einvoicing.uninstall_rules(rule_set)
        except einvoicing.RuleSetError as exc:
            fail(str(exc))
        out.print(f"{current.name} {current.version} (shipped with handoff) in force")


def _register_credit(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    """`handoff credit ...`: customers' credit balances, applying credit to an invoice, refunds."""
    credit = typer.Typer(
        help="Customer credit: credit notes' credit the corrected invoice could not take.", no_args_is_help=True
    )
    app.add_typer(credit, name="credit")

    @credit.command("balance")
    def credit_balance(
        customer: Annotated[Optional[str], typer.Option(help="One customer id; default: every customer.")] = None,
        db: DbOption = None,
    ) -> None:
        """Customers' credit by selling entity and currency, and the credit notes it comes from."""
        from rich.markup import escape

        from handoff.invoicing.service.credits import balances

        found = balances(context(db), customer)
        table = Table("customer", "name", "entity", "credit", "from credit notes")
        for b in found:
            table.add_row(
                escape(b.customer_id),
                escape(b.customer_name),
                b.legal_entity,
                f"{b.amount:,.2f} {b.currency}",
                ", ".join(f"{c.number} {c.remaining:,.2f}" for c in b.credit_notes),
            )
        out.print(table if found else "no customer credit" + (f" for {escape(customer)}" if customer else ""))

    @credit.command("apply")
    def credit_apply(
        invoice: Annotated[str, typer.Argument(help="The open invoice's number.")],
        amount: Annotated[Optional[str], typer.Option(help="How much; default: what is open and available.")] = None,
        note: Annotated[str, typer.Option(help="Why (audited).")] = "",
        actor: ActorOption = None,
        db: DbOption = None,
    ) -> None:
        """Apply the customer's credit (same selling entity and currency) to an open invoice."""
        from rich.markup import escape

        from handoff.invoicing.service.credits import CreditError, apply_credit

        ctx = context(db)
        try:
            done = apply_credit(ctx, invoice, actor_email(ctx, actor, "finance@cli"), _amount(amount), note)
        except CreditError as exc:
            fail(escape(str(exc)) + (" (--amount)" if exc.field == "amount" else ""))
        used = ", ".join(f"{n} {a:,.2f}" for n, a in done.allocations)
        out.print(
            escape(
                f"{invoice}: {done.amount:,.2f} {done.currency} of credit applied ({used}); "
                f"{done.open_amount or 0:,.2f} open, {done.payment_state}; {done.balance:,.2f} of credit left"
            ),
            highlight=False,
        )

    @credit.command("refund")
    def credit_refund(
        customer: Annotated[str, typer.Argument(help="The customer id.")],
        amount: Annotated[str, typer.Option(help="How much was paid back.")],
        reference: Annotated[str, typer.Option(help="The bank transfer's reference.")],
        entity: Annotated[str, typer.Option("--entity", help="The selling entity whose credit it is.")],
        currency: Annotated[str, typer.Option(help="The credit's currency.")],
        on: Annotated[Optional[str], typer.Option(help="When the money went out, YYYY-MM-DD; default today.")] = None,
        note: Annotated[str, typer.Option(help="Why (audited).")] = "",
        actor: ActorOption = None,
        db: DbOption = None,
    ) -> None:
        """Record credit paid back to a customer (audited, pushed to the accounting systems)."""
        from datetime import date

        from rich.markup import escape

        from handoff.invoicing.service.credits import CreditError, refund_credit

        try:
            day = date.fromisoformat(on) if on else None
        except ValueError:
            fail(f"--on {escape(on or '')!r} is not a date (YYYY-MM-DD)")
        ctx = context(db)
        given = _amount(amount)
        if given is None:
            fail("--amount is empty")
        try:
            done = refund_credit(
                ctx,
                customer,
                entity,
                currency.upper(),
                given,
                actor_email(ctx, actor, "finance@cli"),
                reference=reference,
                on=day,
                note=note,
            )
        except CreditError as exc:
            fail(escape(str(exc)) + (f" (--{exc.field})" if exc.field in ("amount", "reference") else ""))
        said = f"{customer}: refund of {done.amount:,.2f} {done.currency} recorded; {done.balance:,.2f} of credit left"
        out.print(escape(said), highlight=False)


def _register_fx(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    """`handoff fx ...`: the ECB's euro reference rates that invoices in a foreign currency use."""
    fx = typer.Typer(help="Exchange rates: the ECB's euro reference rates, by day.", no_args_is_help=True)
    app.add_typer(fx, name="fx")

    @fx.command("import")
    def fx_import(
        file: Annotated[Path, typer.Argument(help="eurofxref-daily.xml, eurofxref-hist-90d.xml or eurofxref-hist.xml")],
        replace: Annotated[
            bool, typer.Option("--replace", help="Overwrite stored rates the file gives differently.")
        ] = False,
        db: DbOption = None,
        actor: ActorOption = None,
    ) -> None:
        """Store the ECB reference rates of FILE (all or nothing; the same file again changes nothing)."""
        from rich.markup import escape

        from handoff.invoicing.service.exchange_rates import ExchangeRateError, import_rates

        ctx = context(db)
        try:
            done = import_rates(ctx, file, actor_email(ctx, actor, "finance@cli"), replace=replace)
        except ExchangeRateError as exc:
            fail(escape(exc.message))
        _imported(done)

    @fx.command("fetch")
    def fx_fetch(
        url: Annotated[
            Optional[str], typer.Option(help="The file's URL (default: the ECB's eurofxref-daily.xml).")
        ] = None,
        replace: Annotated[
            bool, typer.Option("--replace", help="Overwrite stored rates the file gives differently.")
        ] = False,
        db: DbOption = None,
        actor: ActorOption = None,
    ) -> None:
        """Fetch the ECB reference rates over HTTP and store them (as fx import does)."""
        from rich.markup import escape

        from handoff.invoicing.service.exchange_rates import ExchangeRateError, fetch_rates
        from handoff.kernel.delivery import DeliveryError

        ctx = context(db)
        try:
            done = fetch_rates(ctx, actor_email(ctx, actor, "finance@cli"), url, replace=replace)
        except ExchangeRateError as exc:
            fail(escape(exc.message))
        except DeliveryError as exc:
            fail(escape(str(exc)), 1)
        _imported(done)

    @fx.command("rates")
    def fx_rates(
        on: Annotated[Optional[str], typer.Option("--date", help="The day (YYYY-MM-DD; default: today, UTC).")] = None,
        db: DbOption = None,
    ) -> None:
        """The ECB rates in force on a day: those of the latest ECB day on or before it (1 EUR = rate)."""
        from datetime import date

        from rich.markup import escape

        from handoff.invoicing.service.exchange_rates import LOOKBACK_DAYS, rates_in_force

        ctx = context(db)
        try:
            day = date.fromisoformat(on) if on else ctx.clock().date()
        except ValueError:
            fail(f"--date {escape(on or '')!r} is not a date (YYYY-MM-DD)")
        found = rates_in_force(ctx, day)
        if found is None:
            fail(f"no ECB rates stored on or before {day}: import them with handoff fx import FILE", 1)
        if not found.in_force:
            fail(
                f"no ECB rates stored for {day} or the {LOOKBACK_DAYS} days before (the latest are of {found.day}): "
                "import them with handoff fx import FILE",
                1,
            )
        table = Table("currency", "per 1 EUR", title=f"ECB reference rates of {found.day} (in force on {day})")
        for r in found.rates:
            table.add_row(r.currency, str(r.rate))
        out.print(table)


def _imported(done: ImportResult) -> None:
    from rich.markup import escape

    said = (
        f"{done.source}: {done.days} day(s) {done.first_day}..{done.last_day}: {done.added} rate(s) added, "
        f"{done.replaced} replaced, {done.unchanged} unchanged"
    )
    out.print(escape(said), highlight=False)


def _amount(text: str | None) -> Decimal | None:
    """An amount given on the command line (None when not given); unreadable: NaN, which is refused."""
    if text is None or not text.strip():
        return None
    try:
        return Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        return Decimal("NaN")
