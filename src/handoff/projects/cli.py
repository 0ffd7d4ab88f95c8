"""The project commands: `handoff projects list|show|open|plan|close-period|link`, `handoff time
import|approve`, `handoff expenses import`, `handoff milestones import` and `handoff delivery post`.

Reading needs only the database; everything that writes needs `--actor`, an active finance or admin
user (approving also the project's manager), audited with what they did. A file import is all or
nothing: one bad record and nothing is stored, every error printed with its record and field, exit
1; the same file again changes nothing (each signal is named by its source's id). `time import
--sync` takes the file as a complete export of the period it covers and deletes the stored entries
it no longer holds (exports leave deleted entries out); never the default. Mounted on the
root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from rich.markup import escape
from rich.table import Table

from handoff.kernel.cli_support import DbOption, fail, out
from handoff.users.service import FINANCE_ROLES, actor_email

if TYPE_CHECKING:
    from handoff.context import AppContext

FORMATS = ("auto", "harvest", "toggl", "clockify", "tempo", "csv", "json")
ActorRequired = Annotated[str, typer.Option(help="Your e-mail (audited): an active finance or admin user.")]
FormatOption = Annotated[
    str, typer.Option("--format", help=f"The file's layout: {', '.join(FORMATS)} (auto: told by its columns).")
]
MappingOption = Annotated[
    Optional[Path], typer.Option("--mapping", help="A YAML column mapping for a layout of your own.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the outcome as one JSON object.")]


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {text!r} is not a date (YYYY-MM-DD)")


def _report(kind: str, path: Path, report: Any, as_json: bool) -> None:
    """Print an import's outcome; exit 1 (after printing every error) when anything was refused."""
    errors = [{"record": e.record, "field": e.field, "message": str(e)} for e in getattr(report, "errors", ())]
    counts = {n: getattr(report, n) for n in ("created", "updated", "unchanged", "deleted")}
    if as_json:
        print(json.dumps({"file": str(path), "kind": kind, "stored": not errors, **counts, "errors": errors}))
    else:
        for e in errors:
            out.print(f"[red]refused:[/] {escape(e['message'])}", highlight=False)
        if errors:
            out.print(f"{escape(str(path))}: {len(errors)} errors, nothing stored", highlight=False)
        else:
            summary = ", ".join(f"{v} {k}" for k, v in counts.items())
            out.print(f"{escape(str(path))}: {kind}: {summary}", highlight=False)
    if errors:
        raise typer.Exit(1)


def _file_errors(path: Path, exc: Exception, as_json: bool) -> NoReturn:
    """A file the reader refused: every error it names (record and field), exit 1."""
    found: Sequence[Any] = getattr(exc, "errors", None) or [exc]
    errors = [
        {"record": getattr(e, "record", str(path)), "field": getattr(e, "field", ""), "message": str(e)} for e in found
    ]
    if as_json:
        print(json.dumps({"file": str(path), "stored": False, "errors": errors}))
    else:
        for e in errors:
            out.print(f"[red]refused:[/] {escape(e['message'])}", highlight=False)
        out.print(f"{escape(str(path))}: {len(errors)} errors, nothing stored", highlight=False)
    raise typer.Exit(1)


def _project_error(exc: Exception) -> NoReturn:
    fail(escape(str(exc)))


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    projects = typer.Typer(help="Projects: plans, periods, links to other systems.", no_args_is_help=True)
    time = typer.Typer(help="Time entries: import from a time-tracking tool's export, approve.", no_args_is_help=True)
    expenses = typer.Typer(help="Expenses billed on to customers: import.", no_args_is_help=True)
    milestones = typer.Typer(help="Milestone acceptances: import.", no_args_is_help=True)
    delivery_app = typer.Typer(help="Delivered work posted to the billing schedules.", no_args_is_help=True)
    app.add_typer(projects, name="projects")
    app.add_typer(time, name="time")
    app.add_typer(expenses, name="expenses")
    app.add_typer(milestones, name="milestones")
    app.add_typer(delivery_app, name="delivery")

    @projects.command("list")
    def list_cmd(db: DbOption = None, limit: Annotated[int, typer.Option(min=1, max=5000)] = 500) -> None:
        """Projects by id: contract, customer, currency, status, manager, plan version, closed through."""
        from handoff.projects.service.projects import list_projects

        rows = list_projects(context(db), limit=limit)
        table = Table("project", "contract", "customer", "currency", "status", "manager", "plan", "closed through")
        for v in rows:
            p = getattr(v, "project", v)
            table.add_row(
                escape(p.project_id),
                escape(p.contract_id),
                escape(p.customer_id),
                p.currency,
                escape(str(getattr(v, "status", None) or getattr(p, "status", ""))),
                escape(p.manager_email),
                str(p.plan_version),
                p.closed_through.isoformat() if p.closed_through else "",
            )
        out.print(table)
        out.print(f"{len(rows)} projects")

    @projects.command("show")
    def show_cmd(project_id: str, db: DbOption = None) -> None:
        """A project: roles and rates, phases and budgets, milestones, settings."""
        from handoff.projects.domain.model import ProjectError, settings_to_json
        from handoff.projects.service.projects import get_project

        try:
            view = get_project(context(db), project_id)
        except ProjectError as exc:
            _project_error(exc)
        p = view.project
        out.print(
            f"[bold]{escape(p.project_id)}[/] {escape(p.name)}: contract {escape(p.contract_id)}, customer "
            f"{escape(p.customer_id)}, {p.currency}, {p.start} to {p.end}, manager {escape(p.manager_email)}, "
            f"plan version {p.plan_version}" + (f", closed through {p.closed_through}" if p.closed_through else ""),
            highlight=False,
        )
        roles = Table("role", "line", "rate", "budget hours")
        for r in p.roles:
            roles.add_row(escape(r.role), escape(r.line_key), f"{r.rate:,.2f}", f"{r.budget_hours:f}")
        out.print(roles)
        phases = Table("phase", "name", "from", "to", "milestone", "budget")
        for ph in p.phases:
            budget = ", ".join(f"{escape(k)} {v:f} h" for k, v in ph.budget.items())
            phases.add_row(escape(ph.key), escape(ph.name), str(ph.start), str(ph.end), escape(ph.milestone), budget)
        out.print(phases)
        for m in p.milestones:
            out.print(f"milestone {escape(m.key)}: {escape(m.name)} (planned {m.planned_on or '-'})", highlight=False)
        settings = settings_to_json(p.settings)
        out.print("settings: " + escape(", ".join(f"{k}={v}" for k, v in settings.items())), highlight=False)

    @projects.command("open")
    def open_cmd(actor: ActorRequired, db: DbOption = None) -> None:
        """Open a project for every contract with time-and-materials or milestone lines that has none
        (the worker does it too); each new one is pushed to the project tool when one is configured."""
        from handoff.projects.domain.model import ProjectError
        from handoff.projects.service.project_tool import enabled
        from handoff.projects.service.projects import open_projects

        ctx = context(db)
        who = actor_email(ctx, actor, actor, FINANCE_ROLES)
        try:
            opened = open_projects(ctx, who)
        except ProjectError as exc:
            _project_error(exc)
        pushed = len(opened) if enabled(ctx) else 0  # queued with each project, in its transaction
        for pid in opened:
            out.print(f"opened {escape(pid)}", highlight=False)
        out.print(f"{len(opened)} projects opened" + (f", {pushed} queued for the project tool" if pushed else ""))

    @projects.command("plan")
    def plan_cmd(
        project_id: str,
        file: Annotated[Path, typer.Option("--file", help="The plan document (YAML or JSON).")],
        reason: Annotated[str, typer.Option(help="Why the plan changes (audited).")],
        actor: ActorRequired,
        db: DbOption = None,
    ) -> None:
        """Change a project's plan from a plan document: a new plan version, audited with the reason."""
        import yaml

        from handoff.projects.domain.model import ProjectError
        from handoff.projects.service.projects import set_plan

        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            fail(f"{escape(str(file))}: cannot read: {escape(exc.strerror or str(exc))}")
        except yaml.YAMLError as exc:
            fail(f"{escape(str(file))}: not YAML or JSON: {escape(str(exc).splitlines()[0])}")
        if not isinstance(doc, dict):
            fail(f"{escape(str(file))}: a plan document is a mapping (manager_email, phases, milestones, settings)")
        if not reason.strip():
            fail("--reason: say why the plan changes")
        ctx = context(db)
        who = actor_email(ctx, actor, actor, FINANCE_ROLES)
        try:
            project = set_plan(ctx, project_id, _plain_yaml(doc), who, reason)
        except ProjectError as exc:
            _project_error(exc)
        version = getattr(project, "plan_version", "?")
        out.print(f"{escape(project_id)}: plan version {version}", highlight=False)

    @projects.command("close-period")
    def close_cmd(
        project_id: str,
        through: Annotated[str, typer.Option(help="The last day of the closed period (YYYY-MM-DD).")],
        actor: ActorRequired,
        db: DbOption = None,
    ) -> None:
        """Close a project's periods through a day: entries dated on or before it are locked."""
        from handoff.projects.domain.model import ProjectError
        from handoff.projects.service.projects import close_period

        day = _day(through, "--through")
        assert day is not None
        ctx = context(db)
        who = actor_email(ctx, actor, actor, FINANCE_ROLES)
        try:
            close_period(ctx, project_id, day, who)
        except ProjectError as exc:
            _project_error(exc)
        out.print(f"{escape(project_id)}: closed through {day}", highlight=False)

    @projects.command("link")
    def link_cmd(
        project_id: str,
        system: Annotated[str, typer.Option(help="The other system: crm, accounting, project_tool, harvest, ...")],
        external_id: Annotated[str, typer.Option("--external-id", help="The project's id in that system.")],
        actor: ActorRequired,
        db: DbOption = None,
    ) -> None:
        """Keep a project's id in another system (signals naming that id find the project)."""
        from handoff.projects.domain.model import ProjectError
        from handoff.projects.service.projects import link_external

        if not system.strip() or not external_id.strip():
            fail("--system and --external-id must not be empty")
        ctx = context(db)
        who = actor_email(ctx, actor, actor, FINANCE_ROLES)
        try:
            link_external(ctx, project_id, system.strip(), external_id.strip(), who)
        except ProjectError as exc:
            _project_error(exc)
        out.print(f"{escape(project_id)}: {escape(system)} id {escape(external_id)}", highlight=False)

    def _import(
        kind: str,
        path: Path,
        fmt: str,
        mapping: Path | None,
        actor: str,
        as_json: bool,
        db: str | None,
        sync: tuple[date | None, date | None] | None = None,
    ) -> None:
        """Read and store one file; `sync` (time only): (first day, last day) overriding the file's
        own period, the file being a complete export of it."""
        from handoff.projects.domain.model import ProjectError
        from handoff.projects.formats import timesheets
        from handoff.projects.service import delivery

        if fmt not in FORMATS:
            fail(f"--format: {escape(fmt)!r} is not one of {', '.join(FORMATS)}")
        if not path.is_file():
            fail(f"{escape(str(path))}: no such file")
        ctx = context(db)
        who = actor_email(ctx, actor, actor, FINANCE_ROLES)
        options = _mapping_options(mapping) if mapping is not None else {}
        if kind != "expenses" and "currency" in options:
            fail(f"{escape(str(mapping))}: currency is a setting of expense files only")
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        report: delivery.SignalReport
        try:
            if kind == "time entries":
                times = timesheets.read_time_file(data, path.name, format=fmt, **options)
                scope = None
                if sync is not None:
                    try:
                        scope = delivery.SyncScope.of(times, path.name, first_day=sync[0], last_day=sync[1])
                    except delivery.SignalError as exc:
                        raise timesheets.SignalFileError([exc]) from None
                report = delivery.record_time(ctx, times, who, file_name=path.name, sha256=digest, sync=scope)
            elif kind == "expenses":
                spent = timesheets.read_expense_file(data, path.name, format=fmt, **options)
                report = delivery.record_expenses(ctx, spent, who, file_name=path.name, sha256=digest)
            else:
                accepted = timesheets.read_acceptance_file(data, path.name, format=fmt, **options)
                report = delivery.record_acceptances(ctx, accepted, who)
        except timesheets.SignalFileError as exc:
            _file_errors(path, exc, as_json)
        except ProjectError as exc:
            _project_error(exc)
        _report(kind, path, report, as_json)

    @time.command("import")
    def time_import(
        file: Path,
        actor: ActorRequired,
        fmt: FormatOption = "auto",
        mapping: MappingOption = None,
        as_json: JsonOption = False,
        sync: Annotated[
            bool,
            typer.Option(
                "--sync",
                help="The file is a COMPLETE export of the period it covers: entries stored from its source "
                "for its projects and days (its first entry's to its last's, or --sync-from/--sync-through) "
                "that it no longer holds were deleted at the source and are deleted here (an invoiced one is "
                "credited on the next invoice). Never with a partial or filtered export.",
            ),
        ] = False,
        sync_from: Annotated[
            Optional[str], typer.Option("--sync-from", help="With --sync: the period starts this day (YYYY-MM-DD).")
        ] = None,
        sync_through: Annotated[
            Optional[str],
            typer.Option("--sync-through", help="With --sync: the period ends this day, inclusive (YYYY-MM-DD)."),
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Import time entries from a file (Harvest, Toggl Track, Clockify or Jira Tempo export, or
        generic CSV/JSON): all or nothing; the same file again changes nothing. An entry deleted at
        the source is simply missing from such an export: only with --sync (a complete export of its
        period) are the entries it no longer holds deleted."""
        if (sync_from or sync_through) and not sync:
            fail("--sync-from and --sync-through go with --sync")
        period = (_day(sync_from, "--sync-from"), _day(sync_through, "--sync-through")) if sync else None
        _import("time entries", file, fmt, mapping, actor, as_json, db, period)

    @expenses.command("import")
    def expenses_import(
        file: Path,
        actor: ActorRequired,
        fmt: FormatOption = "auto",
        mapping: MappingOption = None,
        as_json: JsonOption = False,
        db: DbOption = None,
    ) -> None:
        """Import expenses from a file: all or nothing; the same file again changes nothing."""
        _import("expenses", file, fmt, mapping, actor, as_json, db)

    @milestones.command("import")
    def milestones_import(
        file: Path,
        actor: ActorRequired,
        fmt: FormatOption = "auto",
        mapping: MappingOption = None,
        as_json: JsonOption = False,
        db: DbOption = None,
    ) -> None:
        """Import milestone acceptances (who, when, evidence) from a file: all or nothing."""
        _import("milestone acceptances", file, fmt, mapping, actor, as_json, db)

    @time.command("approve")
    def time_approve(
        project_id: str,
        actor: ActorRequired,
        through: Annotated[Optional[str], typer.Option(help="Approve work up to this day (YYYY-MM-DD).")] = None,
        db: DbOption = None,
    ) -> None:
        """Approve a project's submitted time and expenses (up to a day): they become billable. For
        finance, admins and the project's manager."""
        from handoff.projects.domain.model import ProjectError
        from handoff.projects.service import delivery

        ctx = context(db)
        day = _day(through, "--through")
        try:  # the service checks the actor: finance, an admin or the project's manager
            count = delivery.approve(ctx, project_id, actor.strip(), through=day)
        except ProjectError as exc:
            _project_error(exc)
        out.print(f"{escape(project_id)}: {count} entries approved", highlight=False)

    @delivery_app.command("post")
    def delivery_post(
        through: Annotated[
            Optional[str], typer.Option(help="Post work dated before this day (YYYY-MM-DD, default today).")
        ] = None,
        project: Annotated[Optional[str], typer.Option(help="One project only.")] = None,
        actor: Annotated[
            Optional[str], typer.Option(help="Your e-mail (audited): an active finance or admin user.")
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Post approved work to the contracts' billing schedules; run again, nothing is posted twice."""
        from handoff.projects.domain.model import ProjectError
        from handoff.projects.service.posting import post_delivery

        ctx = context(db)
        who = actor_email(ctx, actor, "automation:posting", FINANCE_ROLES)
        day = _day(through, "--through") or ctx.clock().date()
        try:
            result = post_delivery(ctx, day, actor=who, project_id=project)
        except ProjectError as exc:
            _project_error(exc)
        out.print(
            f"delivery posted through {day}: {len(result.projects)} projects, {result.items} items, "
            f"net {result.amount:,.2f}",
            highlight=False,
        )
        for p in result.projects:
            out.print(f"  {escape(p.project_id)}: {p.items} items, {p.amount:,.2f}", highlight=False)
            for note in (*p.skipped, *p.alerts):
                out.print(f"    {escape(note)}", highlight=False)
        for pid, why in result.failures:
            out.print(f"  not posted: {escape(pid)}: {escape(why)}", highlight=False)
        if result.failures:
            raise typer.Exit(1)


def _mapping_options(path: Path) -> dict[str, Any]:
    """A mapping file: `{field: column}` (a column "=text" is a constant), or `columns:` with that and
    optionally `date_format`, `currency` (for rows without one) and `source`."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{escape(str(path))}: cannot read: {escape(exc.strerror or str(exc))}")
    except yaml.YAMLError as exc:
        fail(f"{escape(str(path))}: not YAML: {escape(str(exc).splitlines()[0])}")
    if not isinstance(doc, dict):
        fail(f"{escape(str(path))}: a mapping file maps fields to columns")
    structured = isinstance(doc.get("columns"), dict)
    columns = doc["columns"] if structured else doc
    options: dict[str, Any] = {"mapping": {str(k): str(v) for k, v in columns.items()}}
    if structured:
        unknown = sorted(set(doc) - {"columns", "date_format", "currency", "source"})
        if unknown:
            settings = "columns, date_format, currency, source"
            fail(f"{escape(str(path))}: {escape(unknown[0])!r} is not a mapping setting ({settings})")
        options.update({k: str(doc[k]) for k in ("date_format", "currency", "source") if doc.get(k) is not None})
    return options


def _plain_yaml(doc: Any) -> Any:
    """YAML's dates and numbers as a plan document's text (apply_plan reads dates and decimals as text)."""
    if isinstance(doc, dict):
        return {str(k): _plain_yaml(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_plain_yaml(v) for v in doc]
    if isinstance(doc, date):
        return doc.isoformat()
    if isinstance(doc, float):
        return repr(doc)
    return doc
