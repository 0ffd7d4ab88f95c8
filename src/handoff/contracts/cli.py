"""The catalog commands: `handoff catalog list|show|set|price|rate|import`.

Reading the catalog needs only the database; changing it needs `--actor`, an active finance or
admin user, audited with the change. Mounted on the root app by `handoff.cli`, which passes in how
a command gets its AppContext.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from handoff.kernel.cli_support import DbOption, fail, out
from handoff.users.service import FINANCE_ROLES, actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext

WriterOption = Annotated[
    str, typer.Option(help="Your e-mail (audited): an active finance or admin user.", metavar="EMAIL")
]
FromOption = Annotated[Optional[str], typer.Option("--from", help="First day valid, YYYY-MM-DD (default: today).")]
ReasonOption = Annotated[str, typer.Option(help="Why (audited).")]


def _day(text: str | None, option: str = "--from") -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {text!r} is not a date (YYYY-MM-DD)")


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    catalog = typer.Typer(help="The product catalog: products, list prices, rate cards.", no_args_is_help=True)
    app.add_typer(catalog, name="catalog")

    @catalog.command("list")
    def list_cmd(
        db: DbOption = None,
        text: Annotated[Optional[str], typer.Option(help="Part of the SKU or name.")] = None,
        everything: Annotated[bool, typer.Option("--all", help="Inactive products too.")] = False,
        limit: Annotated[int, typer.Option(min=1, max=1000)] = 200,
    ) -> None:
        """Products (their current versions), by SKU."""
        from handoff.contracts.service.catalog import list_products

        page = list_products(context(db), text=text, active=None if everything else True, limit=limit)
        table = Table("sku", "name", "unit", "tax", "gl", "revenue", "active", "version", "from")
        for p in page.items:
            table.add_row(
                escape(p["sku"]),
                escape(p["name"]),
                p["unit_code"],
                p["tax_category"],
                escape(p["gl_account"]),
                p["revenue_rule"],
                "yes" if p["active"] else "no",
                str(p["version"]),
                p["valid_from"].isoformat(),
            )
        out.print(table)
        out.print(f"{page.total_label} products")

    @catalog.command("show")
    def show_cmd(
        sku: str,
        db: DbOption = None,
        on: Annotated[Optional[str], typer.Option(help="The product as it was on this day (YYYY-MM-DD).")] = None,
    ) -> None:
        """A product with every version (who, when, why) and its price list."""
        from handoff.contracts.service.catalog import CatalogError, product_as_of, show_product

        ctx = context(db)
        found = show_product(ctx, sku)
        if found is None:
            fail(f"no product {sku}")
        day = _day(on, "--on")
        if day is not None:
            try:
                as_of = product_as_of(ctx, sku, day)
            except CatalogError as exc:
                fail(str(exc))
            out.print(f"[bold]{escape(sku)}[/] on {day.isoformat()}:", highlight=False)
            for key, value in as_of.content().items():
                out.print(f"  {key}: {escape(str(value))}", highlight=False)
            return
        latest = f"latest version {found['version']}, valid from {found['valid_from'].isoformat()}"
        out.print(f"[bold]{escape(sku)}[/] {escape(found['name'])} ({latest})", highlight=False)
        for key in ("unit_code", "tax_category", "gl_account", "revenue_rule", "active", "description", "source"):
            out.print(f"  {key}: {escape(str(found[key]))}", highlight=False)
        versions = Table("version", "valid from", "by", "at", "why", "name", "unit", "tax", "revenue", "active")
        for v in found["versions"]:
            c = v["content"]
            versions.add_row(
                str(v["version"]),
                v["valid_from"].isoformat(),
                escape(v["created_by"]),
                v["created_at"].strftime("%Y-%m-%d %H:%M"),
                escape(v["reason"]),
                escape(c["name"]),
                c["unit_code"],
                c["tax_category"],
                c["revenue_rule"],
                "yes" if c["active"] else "no",
            )
        out.print(versions)
        prices = Table("currency", "unit price", "valid from", "set by")
        for p in found["prices"]:
            prices.add_row(p["currency"], f"{p['unit_price']:f}", p["valid_from"].isoformat(), escape(p["created_by"]))
        out.print(prices)

    @catalog.command("set")
    def set_cmd(
        sku: str,
        actor: WriterOption,
        db: DbOption = None,
        name: Annotated[Optional[str], typer.Option()] = None,
        unit: Annotated[Optional[str], typer.Option(help="UN/ECE Rec 20 unit code (C62, HUR, MON...).")] = None,
        tax_category: Annotated[Optional[str], typer.Option(help="standard, reduced, zero, exempt...")] = None,
        gl_account: Annotated[Optional[str], typer.Option(help="Revenue account in the ledger.")] = None,
        revenue_rule: Annotated[Optional[str], typer.Option(help="point_in_time, ratable, milestone or usage.")] = None,
        active: Annotated[Optional[bool], typer.Option("--active/--inactive")] = None,
        description: Annotated[Optional[str], typer.Option()] = None,
        valid_from: FromOption = None,
        reason: ReasonOption = "",
    ) -> None:
        """Add a product or change it: a new version from --from (default today) only when something
        changed; what is not given stays as it was."""
        from handoff.contracts.service.catalog import CatalogError, change_product

        changes: dict[str, Any] = {
            k: v
            for k, v in {
                "name": name,
                "unit_code": unit,
                "tax_category": tax_category,
                "gl_account": gl_account,
                "revenue_rule": revenue_rule,
                "active": active,
                "description": description,
            }.items()
            if v is not None
        }
        ctx = context(db)
        who = actor_email(ctx, actor, "", FINANCE_ROLES)
        try:
            done = change_product(ctx, sku, changes, who, reason, _day(valid_from))
        except CatalogError as exc:
            fail(escape(str(exc)))
        if not done.changed:
            out.print(f"{escape(sku)}: unchanged (version {done.version})", highlight=False)
        else:
            out.print(
                f"{escape(sku)}: {'added' if done.created else 'changed'}, version {done.version}", highlight=False
            )

    @catalog.command("price")
    def price_cmd(
        sku: str,
        currency: Annotated[str, typer.Option(help="ISO 4217 code.")],
        price: Annotated[str, typer.Option(help="Unit price, net (e.g. 100 or 99.50).")],
        actor: WriterOption,
        db: DbOption = None,
        valid_from: FromOption = None,
        reason: ReasonOption = "",
    ) -> None:
        """Set a product's list price in a currency from a day on (earlier days keep their price)."""
        from handoff.contracts.service.catalog import CatalogError, set_price

        ctx = context(db)
        who = actor_email(ctx, actor, "", FINANCE_ROLES)
        day = _day(valid_from)
        try:
            changed = set_price(ctx, sku, currency, price, day, who, reason)
        except CatalogError as exc:
            fail(escape(str(exc)))
        when = day.isoformat() if day else "today"
        out.print(
            f"{escape(sku)}: {currency.upper()} {price} from {when}" + ("" if changed else " (already so)"),
            highlight=False,
        )

    @catalog.command("rate")
    def rate_cmd(
        role: str,
        currency: Annotated[str, typer.Option(help="ISO 4217 code.")],
        rate: Annotated[str, typer.Option(help="Hourly rate, net.")],
        actor: WriterOption,
        db: DbOption = None,
        valid_from: FromOption = None,
        reason: ReasonOption = "",
    ) -> None:
        """Set a role's hourly rate (rate card) in a currency from a day on."""
        from handoff.contracts.service.catalog import CatalogError, set_rate

        ctx = context(db)
        who = actor_email(ctx, actor, "", FINANCE_ROLES)
        try:
            changed = set_rate(ctx, role, currency, rate, _day(valid_from), who, reason)
        except CatalogError as exc:
            fail(escape(str(exc)))
        out.print(
            f"rate {escape(role)}: {currency.upper()} {rate}" + ("" if changed else " (already so)"), highlight=False
        )

    @catalog.command("import")
    def import_cmd(file: Path, actor: WriterOption, db: DbOption = None) -> None:
        """Import a catalog file (YAML or CSV): all or nothing; every problem is named with its row and field."""
        from handoff.contracts.service.catalog import CatalogError, CatalogFileError, import_catalog

        try:
            data = file.read_bytes()
        except OSError as exc:
            fail(f"cannot read {file}: {exc}")
        ctx = context(db)
        who = actor_email(ctx, actor, "", FINANCE_ROLES)
        try:
            report = import_catalog(ctx, data, file.name, who)
        except (CatalogFileError, CatalogError) as exc:
            fail(escape(f"refused, nothing imported: {exc}"))
        out.print(
            f"{escape(file.name)}: {report.products_added} products added, {report.products_changed} changed, "
            f"{report.products_unchanged} unchanged; {report.prices_set} prices and {report.rates_set} rates set",
            highlight=False,
        )
