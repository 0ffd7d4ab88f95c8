"""The review of a deal amended after invoicing, resolved with `handoff tasks ...` (a real
subprocess): only an active finance or admin user may act, the difference is billed once, and
the draft issues the normal way; a dismissal needs a reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.builders import GOOD
from tests.e2e.test_cli import csv_file, run, said


def add_user(db: str, email: str, role: str, cwd: Path) -> None:
    added = subprocess.run(
        [sys.executable, "-m", "handoff", "users", "add", email, "--role", role, "--password-stdin", "--db", db],
        input="correct horse battery staple 42\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={"PYTHONPATH": str(Path(__file__).parents[2] / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert added.returncode == 0, added.stderr


def test_an_amendment_is_billed_once_from_the_command_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    assert run("import", str(csv_file(tmp_path, [GOOD])), "--db", db, cwd=tmp_path).returncode == 0
    first = run("invoice", "issue", "--all", "--db", db, cwd=tmp_path)
    assert "1 invoices issued" in first.stdout, first.stderr
    amended = csv_file(tmp_path, [{**GOOD, "amount": "15000.00"}], name="amended.csv")
    assert run("import", str(amended), "--db", db, cwd=tmp_path).returncode == 0
    add_user(db, "fin@acme.example", "finance", tmp_path)
    add_user(db, "sam@acme.example", "sales", tmp_path)

    listed = run("tasks", "list", "--kind", "review_amendment", "--db", db, cwd=tmp_path)
    assert "review_amendment" in said(listed) and "D-1" in said(listed), listed.stderr
    task = next(line.split()[1] for line in listed.stdout.splitlines() if "D-1" in line and "review" in line)
    shown = run("tasks", "show", task, "--db", db, cwd=tmp_path)
    assert "to bill: Kestrel Labs — Platform licence 1 x 3000.00 = 3000.00" in said(shown), shown.stderr
    assert "to bill 3000.00 EUR net, to credit 0 EUR net" in said(shown)

    sales = run("tasks", "bill", task, "--actor", "sam@acme.example", "--db", db, cwd=tmp_path)
    assert sales.returncode == 2 and "this needs finance or admin" in " ".join(sales.stderr.split())
    billed = run("tasks", "bill", task, "--actor", "fin@acme.example", "--note", "price up", "--db", db, cwd=tmp_path)
    assert billed.returncode == 0, billed.stderr
    assert "invoice draft 2 bills the difference, 3000.00 net" in said(billed) and "task done" in said(billed)
    again = run("tasks", "bill", task, "--actor", "fin@acme.example", "--db", db, cwd=tmp_path)
    assert again.returncode == 2 and "already resolved: billed by fin@acme.example" in " ".join(again.stderr.split())
    issued = run("invoice", "issue", "--id", "2", "--db", db, cwd=tmp_path)
    assert "INV-DE-2026-000002: 3,570.00 EUR" in issued.stdout, issued.stderr

    lower = csv_file(tmp_path, [{**GOOD, "amount": "15000.00", "billing_contact_name": "Jonas Weber"}], name="v3.csv")
    assert run("import", str(lower), "--db", db, cwd=tmp_path).returncode == 0  # reopens the review
    no_reason = run("tasks", "dismiss", task, "--reason", " ", "--actor", "fin@acme.example", "--db", db, cwd=tmp_path)
    assert no_reason.returncode == 2 and "needs a reason" in no_reason.stderr
    dismissed = run(
        "tasks", "dismiss", task, "--reason", "contact only", "--actor", "fin@acme.example", "--db", db, cwd=tmp_path
    )
    assert "dismissed, nothing billed or credited" in said(dismissed), dismissed.stderr
