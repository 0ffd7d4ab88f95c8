"""The `handoff` command as a user runs it (a real subprocess): check, import, bad files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import GOOD

HEADER = ",".join(GOOD)


def run(*args: str, cwd: Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handoff", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(Path(__file__).parents[2] / "src"), "PATH": "/usr/bin:/bin"},
    )


def add_user(db: str, email: str, role: str, cwd: Path) -> None:
    """A real user for a command's `--actor` (which must name an active user with the right role)."""
    added = run("users", "add", email, "--role", role, "--password-stdin", "--db", db, cwd=cwd, input="pw-test-12345\n")
    assert added.returncode == 0, added.stderr


def csv_file(tmp_path: Path, rows: list[dict[str, str]], name: str = "deals.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n" + "\n".join(",".join(r[k] for k in GOOD) for r in rows) + "\n")
    return path


def test_check_json_prints_one_object_per_deal(tmp_path: Path) -> None:
    rows = [
        GOOD,
        {**GOOD, "deal_id": "D-2", "po_number": "", "country": "Deutschland"},
        {**GOOD, "deal_id": "D-3", "customer_type": "consumer", "vat_id": ""},
    ]
    result = run("check", str(csv_file(tmp_path, rows)), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["deal_id"], x["ready"]) for x in lines] == [("D-1", True), ("D-2", False), ("D-3", True)]
    assert lines[1]["problems"] == [
        {"code": "invalid", "field": "country", "message": "country 'Deutschland' is not an ISO 3166-1 alpha-2 code"},
        {"code": "missing", "field": "po_number", "message": "po_number is missing"},
    ]  # vat_id is not judged: with no valid country, EU membership is unknown


def test_check_reads_json_too(tmp_path: Path) -> None:
    path = tmp_path / "deals.json"
    path.write_text(json.dumps({"deals": [{**GOOD, "amount": 12.5}, {**GOOD, "deal_id": "D-9", "amount": -1}]}))
    result = run("check", str(path), "--json", cwd=tmp_path)
    assert [json.loads(x)["ready"] for x in result.stdout.splitlines()] == [True, False]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        ("name,amount\nfoo,1\n", "line 1: header has no deal_id column"),
        (HEADER + "\nD-1,too,few\n", "line 2: row has 3 cells, the header has 21"),
        ('[{"deal_id": "D-1"}, 5]', "line 2: deal #2 is not an object"),
        ('{"deals": [', "invalid JSON"),
    ],
)
def test_bad_file_is_refused_naming_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / ("deals.json" if content.startswith(("[", "{")) else "deals.csv")
    path.write_text(content)
    for command in (["check", str(path), "--json"], ["import", str(path), "--db", f"sqlite:///{tmp_path}/h.db"]):
        result = run(*command, cwd=tmp_path)
        assert result.returncode == 2
        assert str(path) in result.stderr.replace("\n", "") and message in result.stderr.replace("\n", "")
    assert not (tmp_path / "h.db").exists()  # refused before anything was opened, let alone written


def test_import_with_one_malformed_row_writes_nothing(tmp_path: Path) -> None:
    good = csv_file(tmp_path, [GOOD, {**GOOD, "deal_id": "D-2"}])
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text() + "D-3,only,three\n")
    db = f"sqlite:///{tmp_path}/h.db"
    assert run("import", str(bad), "--db", db, cwd=tmp_path).returncode == 2
    ok = run("import", str(good), "--db", db, cwd=tmp_path)
    assert ok.returncode == 0 and "2 new" in ok.stdout and "2 drafted" in ok.stdout
    again = run("import", str(good), "--db", db, cwd=tmp_path)
    assert "0 new, 2 already received" in again.stdout


def test_demo_runs_the_whole_flow(tmp_path: Path) -> None:
    result = run("demo", "--db", str(tmp_path / "demo.db"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # the bundled deals and the German public-sector ones (XRechnung)
    assert "203 closed-won deals read" in out and "203 duplicates recognised" in out
    assert "invoices issued" in out and "payments applied" in out
    flat = " ".join(out.split())
    assert "finance asked for a credit note of" in flat and "someone else must approve it" in flat
    assert "handoff approvals approve 1 --actor admin@acme.example" in flat
    assert "audit chain of" in out and "intact" in out
    assert "demo users" in out and "finance@acme.example / demo-finance" in out.replace("\n", " ")
    # a 3-year ramp contract billed by the billing run: fee, milestone once accepted, a mid-term upsell
    assert "contract CTR-1219-2027 locked for Kestrel Partners AG" in flat
    assert "billing run of 2027-01-01: 1 draft with 2 items" in flat
    assert "change order CO-1 effective 2027-07-01" in flat and "line L1 period 2027-01-01 +1,008.22" in flat
    assert "billing run of 2028-01-01: 1 draft with 1 item" in flat and "the same run again: 0 drafts" in flat
    assert "waits for acceptance" in out and "net 14,400.00 + VAT 2,736.00 = 17,136.00 EUR" in flat
    # January's metered usage rated and drafted (hand calculation: tests/integration/usage/test_usage_demo_invoice.py)
    assert "draft #" in flat and "net 1,622.62 + VAT 19 % 308.30 = 1,930.92 EUR" in flat
    # a year of invoices before today, each customer paying its own way, measured by the forecast's backtest
    assert "invoices issued to 22 customers of the bundled deals" in flat
    cutoffs = re.search(r"backtest over (\d+) weekly cut-offs", flat)
    assert cutoffs and int(cutoffs[1]) >= 20, flat[-3000:]


def test_semicolon_export_with_human_headers_is_read(tmp_path: Path) -> None:
    header = ";".join(k.replace("_", " ").title() for k in GOOD)  # "Deal Id;Deal Name;..."
    row = ";".join(GOOD[k] for k in GOOD)
    path = tmp_path / "export.csv"
    path.write_text("\ufeff" + header + "\n" + row + "\n" + row.replace("D-1", "D-2").replace("PO-1", "") + "\n")
    result = run("check", str(path), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [(x["deal_id"], x["ready"]) for x in lines] == [("D-1", True), ("D-2", False)]
    assert lines[1]["problems"][0]["field"] == "po_number"


def said(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join(result.stdout.split())  # rich wraps long lines


def test_cash_commands(tmp_path: Path) -> None:
    from decimal import Decimal

    from tests.camt import Entry, camt053

    db = f"sqlite:///{tmp_path / 'h.db'}"
    rows = [GOOD, {**GOOD, "deal_id": "D-2", "customer_id": "C-2", "customer_legal_name": "Nimbus Foods AG"}]
    assert run("import", str(csv_file(tmp_path, rows)), "--db", db, cwd=tmp_path).returncode == 0
    issued = run("invoice", "issue", "--all", "--db", db, cwd=tmp_path)
    numbers = sorted(line.split(":")[0] for line in issued.stdout.splitlines() if line.startswith("INV-"))
    assert len(numbers) == 2, issued.stdout
    stmt = tmp_path / "stmt.xml"
    stmt.write_bytes(
        camt053(
            [
                Entry(Decimal("14280.00"), "Kestrel Labs", f"Invoice {numbers[0]}"),
                Entry(Decimal("14280.00"), "", "transfer"),
            ]
        )
    )
    first = run("import-statement", str(stmt), "--db", db, cwd=tmp_path)
    assert "2 lines, 2 new (2 incoming payments to match)" in said(first), first.stderr
    assert "0 new" in said(run("import-statement", str(stmt), "--db", db, cwd=tmp_path))
    broken = tmp_path / "broken.xml"
    broken.write_bytes(stmt.read_bytes()[:-30])
    refused = run("import-statement", str(broken), "--db", db, cwd=tmp_path)
    assert refused.returncode == 2 and "refused, nothing stored" in refused.stderr
    matched = run("match", "--db", db, cwd=tmp_path)
    assert "2 bank lines: 1 applied, 1 to review, 0 unmatched" in said(matched), matched.stderr
    listed = run("review", "list", "--db", db, cwd=tmp_path)
    assert "1 pending review" in said(listed)
    assert f"match 2 applied: {numbers[1]} paid" in said(run("review", "confirm", "2", "--db", db, cwd=tmp_path))
    assert run("dispute", numbers[0], "--db", db, cwd=tmp_path).returncode == 0
    assert "paused until 2027-01-31" in said(
        run("pause-dunning", "C-1", "--until", "2027-01-31", "--db", db, cwd=tmp_path)
    )
    dry = run("dunning", "run", "--dry-run", "--db", db, cwd=tmp_path)
    assert "0 reminders would be sent" in said(dry), dry.stderr


def test_users_add_with_password_from_stdin_then_token(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'users.db'}"
    add = subprocess.run(
        [
            sys.executable,
            "-m",
            "handoff",
            "users",
            "add",
            "First@Example.com",
            "--role",
            "admin",
            "--password-stdin",
            "--db",
            db,
        ],
        input="correct horse battery\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PYTHONPATH": str(Path(__file__).parents[2] / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert add.returncode == 0, add.stderr
    assert "first@example.com added as admin" in add.stdout
    empty = run("users", "add", "second@example.com", "--role", "admin", "--password-stdin", "--db", db, cwd=tmp_path)
    assert empty.returncode != 0 and "at least 8 characters" in empty.stderr
    token = run("users", "token", "first@example.com", "--db", db, cwd=tmp_path)
    assert token.returncode == 0 and token.stdout.strip().startswith("hnd_")
    listed = run("users", "list", "--db", db, cwd=tmp_path)
    assert "first@example.com" in listed.stdout and "admin" in listed.stdout


def test_credit_note_request_and_approval(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'credit.db'}"
    assert run("import", str(csv_file(tmp_path, [GOOD])), "--db", db, cwd=tmp_path).returncode == 0
    issued = run("invoice", "issue", "--all", "--db", db, cwd=tmp_path)
    number = next(line.split(":")[0] for line in issued.stdout.splitlines() if line.startswith("INV-"))
    for email, role in (("ann@acme.example", "finance"), ("bob@acme.example", "finance"), ("cy@acme.example", "admin")):
        add_user(db, email, role, tmp_path)
    asked = run(
        "credit-note",
        "request",
        number,
        "--reason",
        "outage",
        "--actor",
        "ann@acme.example",
        "--line",
        "1=1",
        "--db",
        db,
        cwd=tmp_path,
    )
    assert f"approval 1 pending: credit note of 14280.00 EUR on {number}" in said(asked), asked.stderr
    assert "outage" in said(run("approvals", "list", "--db", db, cwd=tmp_path))
    own = run("approvals", "approve", "1", "--actor", "ann@acme.example", "--db", db, cwd=tmp_path)
    assert own.returncode == 2 and "someone else must approve" in " ".join(own.stderr.split())
    done = run("approvals", "approve", "1", "--actor", "bob@acme.example", "--note", "ok", "--db", db, cwd=tmp_path)
    assert "approval 1 approved: credit-note draft 2" in said(done), done.stderr
    again = run("approvals", "reject", "1", "--actor", "cy@acme.example", "--note", "no", "--db", db, cwd=tmp_path)
    assert again.returncode == 2 and "already approved" in again.stderr
    # approved by mistake: the draft is voided, and the invoice may be credited again
    void = run(
        "credit-note",
        "void",
        "2",
        "--reason",
        "wrong customer",
        "--actor",
        "bob@acme.example",
        "--db",
        db,
        cwd=tmp_path,
    )
    assert f"credit-note draft 2 voided (approval 1 on {number})" in said(void), void.stderr
    void_again = run(
        "credit-note", "void", "2", "--reason", "x", "--actor", "bob@acme.example", "--db", db, cwd=tmp_path
    )
    assert void_again.returncode == 2 and "is void; only a draft can be voided" in " ".join(void_again.stderr.split())
    asked = run(
        "credit-note", "request", number, "--reason", "outage", "--actor", "ann@acme.example", "--db", db, cwd=tmp_path
    )
    assert "approval 2 pending" in said(asked), asked.stderr
    run("approvals", "approve", "2", "--actor", "bob@acme.example", "--db", db, cwd=tmp_path)
    crn = run("invoice", "issue", "--id", "3", "--db", db, cwd=tmp_path)
    assert "CRN-DE-2026-000001" in crn.stdout, crn.stderr
    unknown = run(
        "credit-note", "request", "INV-NOPE", "--reason", "x", "--actor", "ann@acme.example", "--db", db, cwd=tmp_path
    )
    assert unknown.returncode == 2 and "no invoice numbered INV-NOPE" in unknown.stderr
