"""The usage commands: `handoff usage import FILE`, `usage metrics list|set`, `usage price CONTRACT
LINE --file`, `usage rate [--through D]` and `usage current [--customer C]`.

`import` reads a usage event file (CSV with `prop.<name>` columns, JSON lines or a JSON array: see
`usage.formats.events`) and stores it in batches of 10,000 as the API does: valid events stored,
repeats counted as duplicates (the same file again: all duplicates, nothing changes), every refused
row printed with its file, row and field, exit 1 when any was refused. Changing metrics and prices
needs `--actor`, an active finance or admin user (audited); `import` and `rate` act as automation
unless given one. Reading needs only the database. Mounted on the root app by `handoff.cli`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from rich.markup import escape
from rich.table import Table

from handoff.kernel.cli_support import DbOption, fail, out
from handoff.users.service import FINANCE_ROLES, actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext

ActorRequired = Annotated[str, typer.Option(help="Your e-mail (audited): an active finance or admin user.")]
ActorOptional = Annotated[
    Optional[str], typer.Option(help="Your e-mail (audited): an active finance or admin user (default: automation).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the outcome as one JSON object.")]
FileOption = Annotated[Path, typer.Option("--file", help="A YAML or JSON document.")]
BATCH = 10_000


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {escape(text)!r} is not a date (YYYY-MM-DD)")


def _document(path: Path) -> Any:
    """A YAML or JSON file's content, with dates and numbers as text (prices never pass float)."""
    import yaml

    class _Text(yaml.SafeLoader):
        """YAML's numbers and dates kept as the text written (1.10 stays "1.10")."""

    def as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        assert isinstance(node, yaml.ScalarNode)
        return str(loader.construct_scalar(node))

    for tag in ("tag:yaml.org,2002:float", "tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp"):
        _Text.add_constructor(tag, as_text)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Text)  # _Text is a SafeLoader
    except OSError as exc:
        fail(f"{escape(str(path))}: cannot read: {escape(exc.strerror or str(exc))}")
    except UnicodeDecodeError:
        fail(f"{escape(str(path))}: is not UTF-8 text")
    except yaml.YAMLError as exc:
        fail(f"{escape(str(path))}: not YAML or JSON: {escape(str(exc).splitlines()[0])}")


def _usage_error(exc: Exception) -> NoReturn:
    fail(escape(str(exc)))


def _who(ctx: AppContext, actor: str | None, default: str) -> str:
    """The acting user's address (`--actor`: an active finance or admin user), else `default`;
    exit 2 naming why an actor is refused."""
    from handoff.users.service import UserError

    try:
        return actor_email(ctx, actor, default, FINANCE_ROLES)
    except UserError as exc:
        fail(escape(exc.message))


def _import(ctx: AppContext, path: Path, fmt: str, actor: str, as_json: bool) -> None:
    """Read the file and store its events batch by batch; print the outcome, exit 1 if any was refused."""
    from handoff.usage.domain.events import UsageError
    from handoff.usage.formats.events import UsageFileError, chunks, read_usage_file
    from handoff.usage.service.ingest import record_usage

    try:
        found = read_usage_file(path.read_bytes(), path.name, format=fmt)
    except OSError as exc:
        fail(f"{escape(str(path))}: cannot read: {escape(exc.strerror or str(exc))}")
    except UsageFileError as exc:
        errors = [{"record": e.record, "field": e.field, "message": str(e)} for e in exc.errors]
        if as_json:
            print(json.dumps({"file": str(path), "read": False, "errors": errors}))
        else:
            for e in errors:
                out.print(f"[red]refused:[/] {escape(e['message'])}", highlight=False)
            out.print(f"{escape(str(path))}: {len(errors)} problems, nothing stored", highlight=False)
        raise typer.Exit(1) from None
    accepted = duplicates = 0
    refused: list[UsageError] = list(found.errors)
    for batch in chunks(found.events, BATCH):
        try:
            result = record_usage(ctx, batch, actor, source=f"file:{path.name}"[:100])
        except UsageError as exc:
            _usage_error(exc)
        accepted += len(result.accepted)
        duplicates += len(result.duplicates)
        refused += [err for _, err in result.refused]
    errors = [{"record": e.record, "field": e.field, "message": str(e)} for e in refused]
    counts = {"rows": found.rows, "accepted": accepted, "duplicates": duplicates, "refused": len(refused)}
    if as_json:
        print(json.dumps({"file": str(path), "format": found.format, **counts, "errors": errors}))
    else:
        for e in errors:
            out.print(f"[red]refused:[/] {escape(e['message'])}", highlight=False)
        out.print(
            f"{escape(str(path))}: {found.rows} events, {accepted} stored, {duplicates} duplicates, "
            f"{len(refused)} refused",
            highlight=False,
        )
    if refused:
        raise typer.Exit(1)


def _metric_docs(doc: Any, path: Path) -> list[Any]:
    """One metric, a list of them, or `{metrics: [...]}`."""
    if isinstance(doc, dict) and set(doc) == {"metrics"}:
        doc = doc["metrics"]
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list) and doc:
        return doc
    fail(f"{escape(str(path))}: a metrics file holds a metric (code, aggregation, ...) or a list of them")


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    usage = typer.Typer(help="Usage-based billing: events, metrics, prices, rating.", no_args_is_help=True)
    metrics = typer.Typer(help="Billable metrics: list, define.", no_args_is_help=True)
    usage.add_typer(metrics, name="metrics")
    app.add_typer(usage, name="usage")

    @usage.command("import")
    def import_cmd(
        file: Path,
        fmt: Annotated[
            str, typer.Option("--format", help="csv, jsonl or json (auto: told by the name and the text).")
        ] = "auto",
        as_json: JsonOption = False,
        actor: ActorOptional = None,
        db: DbOption = None,
    ) -> None:
        """Import usage events from a file: valid events stored, repeats changed nothing, refused rows
        printed with file, row and field (exit 1)."""
        from handoff.usage.formats.events import FORMATS

        if fmt not in FORMATS:
            fail(f"--format: {escape(fmt)!r} is not one of {', '.join(FORMATS)}")
        if not file.is_file():
            fail(f"{escape(str(file))}: no such file")
        ctx = context(db)
        who = _who(ctx, actor, "automation:usage_import")
        _import(ctx, file, fmt, who, as_json)

    @metrics.command("list")
    def metrics_list(as_json: JsonOption = False, db: DbOption = None) -> None:
        """The billable metrics: code, name, aggregation, field, filters, group-by, unit."""
        from handoff.usage.domain.metrics import metric_to_json
        from handoff.usage.service import metrics as metric_service

        found = [metric_to_json(m.metric) for m in metric_service.list_metrics(context(db))]
        if as_json:
            print(json.dumps({"metrics": found}))
            return
        table = Table("code", "name", "aggregation", "field", "filters", "group by", "unit")
        for m in found:
            filters = "; ".join(f"{k} in {', '.join(v)}" for k, v in m["filters"].items())
            table.add_row(
                escape(m["code"]),
                escape(m["name"]),
                m["aggregation"],
                escape(m["field"]),
                escape(filters),
                escape(", ".join(m["group_by"])),
                m["unit"],
            )
        out.print(table)
        out.print(f"{len(found)} metrics")

    @metrics.command("set")
    def metrics_set(file: FileOption, actor: ActorRequired, db: DbOption = None) -> None:
        """Define or change billable metrics from a file (one metric, a list, or `metrics: [...]`):
        all or nothing, every refused one named with its field."""
        from handoff.usage.domain.events import UsageError
        from handoff.usage.domain.metrics import metric_from_json
        from handoff.usage.service import metrics as metric_service

        docs = _metric_docs(_document(file), file)
        parsed, errors = [], []
        for i, doc in enumerate(docs, start=1):
            try:
                parsed.append(metric_from_json(doc))
            except UsageError as exc:
                errors.append(f"{file.name} metric {i}: {exc}")
        if errors:
            for e in errors:
                out.print(f"[red]refused:[/] {escape(e)}", highlight=False)
            fail(f"{escape(str(file))}: {len(errors)} metrics refused, none stored")
        ctx = context(db)
        who = _who(ctx, actor, actor)
        for doc, metric in zip(docs, parsed, strict=True):
            try:
                view = metric_service.define_metric(ctx, doc, who, source="cli")
            except UsageError as exc:
                _usage_error(exc)
            out.print(
                f"metric {escape(metric.code)}: {metric.aggregation.value}, version {view.version}", highlight=False
            )

    @usage.command("price")
    def price_cmd(
        contract: str,
        line: str,
        file: FileOption,
        actor: ActorRequired,
        metric: Annotated[Optional[str], typer.Option(help="The metric priced (default: the line's product).")] = None,
        db: DbOption = None,
    ) -> None:
        """Set the usage price of a contract line from a YAML or JSON file (model per_unit,
        graduated, volume, package or percentage; tiers, free_units, minimum, prepaid)."""
        from handoff.usage.domain.events import UsageError
        from handoff.usage.domain.pricing import price_from_json, price_to_json
        from handoff.usage.service import metrics as metric_service

        doc = _document(file)
        if not isinstance(doc, dict):
            fail(f"{escape(str(file))}: a price is a mapping (model, unit_price, tiers, ...)")
        try:
            price = price_from_json(doc)
        except UsageError as exc:
            _usage_error(exc)
        ctx = context(db)
        who = _who(ctx, actor, actor)
        try:
            view = metric_service.set_price(ctx, contract, line, doc, who, metric=metric)
        except UsageError as exc:
            _usage_error(exc)
        shown = ", ".join(f"{k}={v}" for k, v in price_to_json(price).items() if v not in ("0", 0, [], "", None))
        said = f"{escape(contract)} line {escape(line)}: metric {escape(view.metric)}, {escape(shown)}"
        out.print(f"{said} (version {view.version})", highlight=False)

    @usage.command("rate")
    def rate_cmd(
        through: Annotated[
            Optional[str], typer.Option(help="Rate periods whose end plus grace is on or before it (default today).")
        ] = None,
        contract: Annotated[Optional[str], typer.Option(help="One contract only.")] = None,
        actor: ActorOptional = None,
        db: DbOption = None,
    ) -> None:
        """Rate closed usage periods into the contracts' billing schedules (run again, nothing is
        rated twice); the billing run invoices them."""
        from handoff.usage.domain.events import UsageError
        from handoff.usage.service.rating import rate_usage

        ctx = context(db)
        who = _who(ctx, actor, "automation:usage_rating")
        day = _day(through, "--through") or ctx.clock().date()
        try:
            result = rate_usage(ctx, day, actor=who, contract_id=contract)
        except UsageError as exc:
            _usage_error(exc)
        out.print(
            f"usage rated through {day} (months up to {result.last_period or '-'}): {len(result.contracts)} "
            f"contracts, {result.items} schedule items, net {result.amount:,.2f}",
            highlight=False,
        )
        for c in result.contracts:
            out.print(f"  {escape(c.contract_id)}: {c.items} items, {c.amount:,.2f}", highlight=False)
        for cid, why in result.failures:
            out.print(f"  not rated: {escape(cid)}: {escape(why)}", highlight=False)
        if result.failures:
            raise typer.Exit(1)

    @usage.command("current")
    def current_cmd(
        customer: Annotated[Optional[str], typer.Option(help="One customer only.")] = None,
        contract: Annotated[Optional[str], typer.Option(help="One contract only.")] = None,
        as_json: JsonOption = False,
        db: DbOption = None,
    ) -> None:
        """Usage in the current period so far: per subscription, metric and group the quantity, the
        events and the amount at its price."""
        from handoff.usage.api import current_rows
        from handoff.usage.service.queries import current_usage

        ctx = context(db)
        on = ctx.clock().date()
        rows = current_rows(current_usage(ctx, customer_id=customer, contract_id=contract, on=on))
        if as_json:
            print(json.dumps({"on": on.isoformat(), "items": rows}))
            return
        table = Table("contract", "line", "customer", "metric", "group", "period", "quantity", "events", "amount")
        for r in rows:
            parts = r["groups"] or [{"group_key": "", "quantity": r["quantity"], "events": 0, "amount": r["amount"]}]
            for g in parts:
                table.add_row(
                    escape(r["contract_id"]),
                    escape(r["line_key"]),
                    escape(r["customer_id"]),
                    escape(r["metric"]),
                    escape(g["group_key"]),
                    r["period"],
                    g["quantity"],
                    str(g["events"]),
                    f"{Decimal(g['amount']):,.2f} {r['currency']}",
                )
        out.print(table)
        out.print(f"{len(rows)} usage lines on {on}")
