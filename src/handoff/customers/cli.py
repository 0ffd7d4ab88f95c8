"""The customer master commands (`handoff customers list|show|set|link`): read a customer's record
and its versions, change it (a new version, audited; `--actor` must be finance or admin) and link
its id in a source system.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from handoff.kernel.cli_support import DbOption, fail, out
from handoff.users.service import actor_email

# who changes the master must say so: an active finance or admin user (audited)
Actor = Annotated[str, typer.Option(help="Your e-mail (audited): an active finance or admin user.", metavar="EMAIL")]

if TYPE_CHECKING:
    from handoff.context import AppContext
    from handoff.customers.domain import CustomerRecord


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} takes a date YYYY-MM-DD, not {value!r}")


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    customers = typer.Typer(help="The customer master: records, versions, source-system ids.", no_args_is_help=True)
    app.add_typer(customers, name="customers")

    @customers.command("list")
    def customers_list(
        text: Annotated[Optional[str], typer.Option(help="Part of the id or legal name.")] = None,
        limit: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
        db: DbOption = None,
    ) -> None:
        """Customers by id, with their latest version (- : as intake stored it, not versioned yet)."""
        from handoff.customers.service import list_customers

        found = list_customers(context(db), text=text, limit=limit)
        table = Table("customer", "legal name", "country", "billing e-mail", "version")
        for r in found.items:
            version = "-" if r["version"] is None else str(r["version"])
            table.add_row(
                *(escape(str(r[k])) for k in ("customer_id", "legal_name", "country", "billing_email")), version
            )
        out.print(table)
        out.print(f"{found.total_label} customers")

    @customers.command("show")
    def customers_show(
        customer_id: str,
        as_of: Annotated[
            Optional[str], typer.Option("--as-of", help="The record in force on this day (YYYY-MM-DD).")
        ] = None,
        db: DbOption = None,
    ) -> None:
        """A customer's record (today's, or on --as-of) and all its versions."""
        from handoff.customers.service import get_customer

        view = get_customer(context(db), customer_id, _day(as_of, "--as-of"))
        if view is None:
            fail(f"no customer {customer_id!r}")
        if view.record is None:
            out.print(f"customer {escape(customer_id)}: no version in force on {as_of}")
        else:
            which = f"version {view.version.version}" if view.version else "as intake stored it (not versioned yet)"
            out.print(f"[bold]{escape(customer_id)}[/] ({which})")
            _print_record(view.record)
        if view.versions:
            table = Table("version", "valid from", "changed by", "reason", "recorded at")
            for v in view.versions:
                table.add_row(
                    str(v.version),
                    v.valid_from.isoformat(),
                    escape(v.changed_by),
                    escape(v.reason),
                    v.recorded_at.isoformat(),
                )
            out.print(table)

    @customers.command("set")
    def customers_set(
        customer_id: str,
        reason: Annotated[str, typer.Option(help="Why the customer changes (audited).")],
        actor: Actor,
        legal_name: Annotated[Optional[str], typer.Option()] = None,
        vat_id: Annotated[
            Optional[list[str]], typer.Option(help="COUNTRY=VAT_ID (repeat; COUNTRY= removes one)")
        ] = None,
        us_tax_id: Annotated[Optional[str], typer.Option(help="EIN (or SSN / ITIN)")] = None,
        contact: Annotated[
            Optional[list[str]],
            typer.Option(help="EMAIL[,NAME[,ROLE]] (repeat): the billing contacts, replacing the earlier ones"),
        ] = None,
        language: Annotated[Optional[str], typer.Option(help="Invoice language, ISO 639-1 (en, de, fr)")] = None,
        delivery_channel: Annotated[Optional[str], typer.Option(help="email, peppol or post")] = None,
        peppol_id: Annotated[Optional[str], typer.Option(help='"scheme:identifier", e.g. 0088:1234567890128')] = None,
        consolidated: Annotated[
            Optional[bool], typer.Option("--consolidated/--not-consolidated", help="One invoice for many orders")
        ] = None,
        business: Annotated[Optional[bool], typer.Option("--business/--consumer")] = None,
        street: Annotated[Optional[str], typer.Option()] = None,
        city: Annotated[Optional[str], typer.Option()] = None,
        postal_code: Annotated[Optional[str], typer.Option()] = None,
        country: Annotated[Optional[str], typer.Option(help="ISO 3166-1 code or name")] = None,
        region: Annotated[Optional[str], typer.Option(help="State or province (a US state's code)")] = None,
        valid_from: Annotated[
            Optional[str], typer.Option(help="The day the change takes effect (default today)")
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Change a customer's record: a new version from --valid-from on; the earlier ones stay."""
        from handoff.customers.service import CustomerError, get_customer, update_customer

        ctx = context(db)
        changes: dict[str, Any] = {}
        for name, value in (
            ("legal_name", legal_name),
            ("us_tax_id", us_tax_id),
            ("invoice_language", language),
            ("delivery_channel", delivery_channel),
            ("peppol_id", peppol_id),
            ("consolidated_invoicing", consolidated),
            ("is_business", business),
        ):
            if value is not None:
                changes[name] = value
        address = {k: v for k, v in (("street", street), ("city", city), ("postal_code", postal_code),
                                     ("country", country), ("region", region)) if v is not None}  # fmt: skip
        if address:
            changes["billing_address"] = address
        if contact:
            changes["billing_contacts"] = [_contact(c) for c in contact]
        day = _day(valid_from, "--valid-from")
        try:
            if vat_id:
                view = get_customer(ctx, customer_id)  # the ids given join the latest version's
                base = view.versions[-1].record if view and view.versions else view.record if view else None
                current = dict(base.vat_ids) if base else {}
                for item in vat_id:
                    cc, sep, number = item.partition("=")
                    if not sep:
                        fail(f"--vat-id takes COUNTRY=VAT_ID (for example DE=DE136695976), not {item!r}")
                    current[cc.strip().upper()] = number
                changes["vat_ids"] = current
            if not changes:
                fail("nothing to change: give at least one field (see --help)")
            who = f"user:{actor_email(ctx, actor, '')}"
            v = update_customer(ctx, customer_id, changes, actor=who, reason=reason, valid_from=day)
        except CustomerError as exc:
            fail(escape(str(exc)))
        out.print(f"customer {escape(customer_id)}: version {v.version}, valid from {v.valid_from.isoformat()}")

    @customers.command("link")
    def customers_link(
        customer_id: str,
        source: Annotated[str, typer.Option(help="The source system: hubspot, salesforce, pipedrive, ...")],
        external_id: Annotated[str, typer.Option(help="The customer's id there.")],
        actor: Actor,
        db: DbOption = None,
    ) -> None:
        """Link the customer's id in a source system (an id of another customer is refused)."""
        from handoff.customers.service import CustomerError, link_external_id

        ctx = context(db)
        try:
            link_external_id(ctx, customer_id, source, external_id, actor=f"user:{actor_email(ctx, actor, '')}")
        except CustomerError as exc:
            fail(escape(str(exc)))
        out.print(f"customer {escape(customer_id)}: {escape(source.strip().lower())} id {escape(external_id.strip())}")


def _contact(given: str) -> dict[str, str]:
    email, name, role = ([p.strip() for p in given.split(",", 2)] + ["", ""])[:3]
    return {"email": email, "name": name, "role": role or "billing"}


def _print_record(r: CustomerRecord) -> None:
    a = r.billing_address
    lines = [
        ("legal name", r.legal_name),
        ("business", "yes" if r.is_business else "no (consumer)"),
        ("VAT ids", ", ".join(f"{c}: {v}" for c, v in sorted(r.vat_ids.items())) or "-"),
        ("US tax id", r.us_tax_id or "-"),
        ("billing contacts", "; ".join(f"{c.name} <{c.email}> ({c.role})" for c in r.billing_contacts) or "-"),
        ("invoice language", r.invoice_language),
        ("delivery", r.delivery_channel.value + (f" to {r.peppol_id}" if r.peppol_id else "")),
        ("consolidated invoicing", "yes" if r.consolidated_invoicing else "no"),
        ("billing address", ", ".join(p for p in (a.street, a.postal_code, a.city, a.region, a.country) if p) or "-"),
        ("source ids", ", ".join(f"{s}: {i}" for s, i in sorted(r.external_ids.items())) or "-"),
    ]
    for label, value in lines:
        out.print(f"  {label}: {escape(value)}", highlight=False)
