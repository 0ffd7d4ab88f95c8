"""The project commands on SQLite and PostgreSQL (in process, on the test's context): a small time
file imported twice (the second run changes nothing), a file with bad records refused whole with
every error naming record and field (exit 1, nothing stored), an expense file with --json, a
mapping file for columns of one's own, the read commands, and a re-import with --sync that deletes
(and credits on the next invoice) the entry a complete export left out, and nothing without it."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from handoff.context import AppContext
from handoff.contracts.service.billing_run import run_billing
from handoff.invoicing.domain.invoices import InvoiceKind, invoice_from_json
from handoff.invoicing.service.issuing import issue_draft
from handoff.kernel.storage import schema
from handoff.projects import cli
from handoff.projects.service.projects import get_project
from handoff.users import service as users
from handoff.users.service import Role
from tests.e2e.project_builders import open_services_project

FINANCE = "finance@acme.example"
TIME_CSV = """external_id,project,role,person,date,hours,notes
t-1,PRJ-C-7,architect,ada@acme.example,2026-10-05,7.5,Workshop
t-2,PRJ-C-7,architect,ada@acme.example,2026-10-06,6,Design
t-3,PRJ-C-7,developer,bob@acme.example,2026-10-06,8,Build
"""


@pytest.fixture
def run(ctx: AppContext) -> CliRunner:
    users.add_user(ctx, FINANCE, Role.FINANCE, "pw-finance-12345", actor="test")
    open_services_project(ctx, "C-7", FINANCE)
    return CliRunner()


def invoke(ctx: AppContext, runner: CliRunner, *args: str) -> tuple[int, str]:
    app = typer.Typer()
    cli.register(app, lambda db: ctx)
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def _time_counts(ctx: AppContext) -> dict[str, int]:
    return dict(get_project(ctx, "PRJ-C-7").entries.get("time", {}))


def test_a_time_file_imported_twice_changes_nothing_the_second_time(
    ctx: AppContext, run: CliRunner, tmp_path: Path
) -> None:
    file = tmp_path / "october.csv"
    file.write_text(TIME_CSV)
    code, output = invoke(ctx, run, "time", "import", str(file), "--format", "csv", "--actor", FINANCE)
    assert code == 0, output
    assert "3 created, 0 updated, 0 unchanged, 0 deleted" in output
    before = _time_counts(ctx)
    code, output = invoke(ctx, run, "time", "import", str(file), "--actor", FINANCE, "--json")
    assert code == 0, output
    again = json.loads(output)
    assert (again["created"], again["updated"], again["unchanged"], again["stored"]) == (0, 0, 3, True)
    assert _time_counts(ctx) == before

    code, output = invoke(ctx, run, "projects", "list")
    assert code == 0 and "PRJ-C-7" in output
    code, output = invoke(ctx, run, "projects", "show", "PRJ-C-7")
    assert code == 0 and "architect" in output and "150.00" in output
    code, output = invoke(ctx, run, "projects", "show", "PRJ-NOPE")
    assert code == 2 and "PRJ-NOPE" in output


def test_a_file_with_bad_records_is_refused_whole(ctx: AppContext, run: CliRunner, tmp_path: Path) -> None:
    bad = TIME_CSV.replace("developer,bob", "juggler,bob").replace("2026-10-06,6,", "2026-10-06,-6,")
    file = tmp_path / "bad.csv"
    file.write_text(bad)
    code, output = invoke(ctx, run, "time", "import", str(file), "--actor", FINANCE, "--json")
    assert code == 1
    answer = json.loads(output)
    assert answer["stored"] is False
    # the reader refuses the negative hours (row 3) before any project is looked at
    assert [(e["record"], e["field"]) for e in answer["errors"]] == [("bad.csv row 3", "hours")]
    assert _time_counts(ctx) == {}  # nothing stored

    unknown = tmp_path / "unknown.csv"
    unknown.write_text(TIME_CSV.replace("developer,bob", "juggler,bob"))
    code, output = invoke(ctx, run, "time", "import", str(unknown), "--actor", FINANCE)
    assert code == 1 and "unknown.csv row 4" in output and "juggler" in output and "nothing stored" in output
    assert _time_counts(ctx) == {}


def test_expenses_and_a_mapping_of_ones_own(ctx: AppContext, run: CliRunner, tmp_path: Path) -> None:
    spent = tmp_path / "expenses.csv"
    spent.write_text(
        "external_id,project,person,date,amount,currency,category,receipt\n"
        "x-1,PRJ-C-7,ada@acme.example,2026-10-07,120.50,EUR,travel,R-1\n"
    )
    code, output = invoke(ctx, run, "expenses", "import", str(spent), "--actor", FINANCE, "--json")
    assert code == 0, output
    assert json.loads(output)["created"] == 1

    own = tmp_path / "ours.csv"
    own.write_text("Id,Job,Role,Who,Day,Time\no-1,PRJ-C-7,architect,ada@acme.example,2026-10-08,2.5\n")
    mapping = tmp_path / "ours.yaml"
    mapping.write_text(
        "columns: {external_id: Id, project: Job, role: Role, person: Who, work_date: Day, hours: Time}\nsource: ours\n"
    )
    args = ("time", "import", str(own), "--format", "csv", "--mapping", str(mapping), "--actor", FINANCE)
    code, output = invoke(ctx, run, *args)
    assert code == 0 and "1 created" in output, output
    code, output = invoke(ctx, run, "time", "import", str(own), "--actor", "nobody@acme.example")
    assert code != 0 and _time_counts(ctx).get("submitted", 0) + _time_counts(ctx).get("approved", 0) == 1


def test_plan_close_link_approve_and_post(ctx: AppContext, run: CliRunner, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "phases:\n"
        "  - {key: design, start: 2026-10-01, end: 2026-10-31, milestone: M1, budget: {architect: 40}}\n"
        "  - {key: build, start: 2026-11-01, end: 2026-12-31, budget: {developer: 200.5}}\n"
        "settings: {approval_required: true, rounding_increment: 0.25}\n"
    )
    args = ("projects", "plan", "PRJ-C-7", "--file", str(plan), "--reason", "kick-off", "--actor", FINANCE)
    code, output = invoke(ctx, run, *args)
    assert code == 0 and "plan version 2" in output, output
    project = get_project(ctx, "PRJ-C-7").project
    assert [p.key for p in project.phases] == ["design", "build"] and project.settings.approval_required
    assert str(project.phases[1].budget["developer"]) == "200.5"
    plan.write_text("phases: [{key: x, start: 2026-10-01, end: 2026-09-01}]\n")
    code, output = invoke(ctx, run, *args)
    assert code == 2 and "phases[0].end" in output and get_project(ctx, "PRJ-C-7").project.plan_version == 2

    file = tmp_path / "october.csv"
    file.write_text(TIME_CSV)
    assert invoke(ctx, run, "time", "import", str(file), "--actor", FINANCE)[0] == 0
    assert _time_counts(ctx).get("submitted") == 3  # approval required: waiting
    code, output = invoke(ctx, run, "time", "approve", "PRJ-C-7", "--through", "2026-10-05", "--actor", FINANCE)
    assert code == 0 and "1 entries approved" in output, output
    code, output = invoke(ctx, run, "delivery", "post", "--through", "2026-11-01", "--actor", FINANCE)
    assert code == 0 and "1 projects, 1 items" in output, output

    code, output = invoke(
        ctx, run, "projects", "close-period", "PRJ-C-7", "--through", "2026-10-31", "--actor", FINANCE
    )
    assert code == 0 and get_project(ctx, "PRJ-C-7").project.closed_through is not None
    code, output = invoke(
        ctx, run, "projects", "link", "PRJ-C-7", "--system", "harvest", "--external-id", "H-77", "--actor", FINANCE
    )
    assert code == 0 and get_project(ctx, "PRJ-C-7").external_ids["harvest"] == "H-77"
    code, output = invoke(ctx, run, "projects", "open", "--actor", FINANCE)
    assert code == 0 and "0 projects opened" in output


def test_time_import_with_sync_deletes_what_a_complete_export_left_out(
    ctx: AppContext, run: CliRunner, tmp_path: Path
) -> None:
    file = tmp_path / "october.csv"
    file.write_text(TIME_CSV)
    assert invoke(ctx, run, "time", "import", str(file), "--format", "csv", "--actor", FINANCE)[0] == 0
    code, output = invoke(ctx, run, "delivery", "post", "--through", "2026-11-01", "--actor", FINANCE)
    assert code == 0 and "net 2,985.00" in output, output  # 13.5 h x 150 + 8 h x 120
    (october,) = run_billing(ctx, date(2026, 11, 1), "w1").invoice_ids
    issue_draft(ctx, october, FINANCE, on=date(2026, 11, 1))

    def reimport(text: str, *more: str) -> dict[str, object]:
        file.write_text(text)
        code, output = invoke(
            ctx, run, "time", "import", str(file), "--format", "csv", "--actor", FINANCE, "--json", *more
        )
        assert code == 0, output
        return dict(json.loads(output))

    without_t3 = "\n".join(line for line in TIME_CSV.splitlines() if not line.startswith("t-3,")) + "\n"
    plain = reimport(without_t3)  # an export says nothing of what it leaves out
    assert (plain["unchanged"], plain["deleted"]) == (2, 0) and _time_counts(ctx).get("deleted") is None
    only_t1 = "\n".join(TIME_CSV.splitlines()[:2]) + "\n"  # covers 5 October only
    narrow = reimport(only_t1, "--sync")
    assert (narrow["unchanged"], narrow["deleted"]) == (1, 0)  # t-2 and t-3 (6 October) are outside it
    synced = reimport(without_t3, "--sync")
    assert (synced["unchanged"], synced["deleted"]) == (2, 1) and _time_counts(ctx)["deleted"] == 1

    code, output = invoke(ctx, run, "delivery", "post", "--through", "2026-12-01", "--actor", FINANCE)
    assert code == 0 and "net -960.00" in output, output
    billed = run_billing(ctx, date(2026, 12, 1), "w1")
    assert billed.failures == [] and len(billed.invoice_ids) == 1
    with ctx.engine.connect() as conn:
        doc = conn.execute(select(schema.invoices.c.document).where(schema.invoices.c.id == billed.invoice_ids[0]))
        credit = invoice_from_json(doc.scalar_one())
    assert credit.kind is InvoiceKind.CREDIT_NOTE
    assert [(ln.contract_line, ln.net_amount) for ln in credit.lines] == [("L2", Decimal("960.00"))]

    code, output = invoke(ctx, run, "time", "import", str(file), "--actor", FINANCE, "--sync-from", "2026-10-01")
    assert code != 0 and "--sync" in output
    code, output = invoke(ctx, run, "time", "import", "--help")
    assert "COMPLETE export" in output
