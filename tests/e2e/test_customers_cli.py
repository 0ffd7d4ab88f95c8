"""`handoff customers ...` as a user runs it (a real subprocess): list, show, set a new version as a
finance user (a sales user is refused), a bad VAT id named, and an external id of another customer
refused naming both."""

from __future__ import annotations

from pathlib import Path

from tests.builders import GOOD
from tests.e2e.test_cli import add_user, csv_file, run


def test_customers_commands(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/h.db"
    deals = csv_file(tmp_path, [GOOD, {**GOOD, "deal_id": "D-2", "customer_id": "C-2"}])
    assert run("import", str(deals), "--db", db, cwd=tmp_path).returncode == 0
    add_user(db, "finance@acme.example", "finance", tmp_path)
    add_user(db, "sales@acme.example", "sales", tmp_path)

    listed = run("customers", "list", "--db", db, cwd=tmp_path)
    assert listed.returncode == 0 and "C-1" in listed.stdout and "C-2" in listed.stdout, listed.stderr
    change = ["customers", "set", "C-1", "--reason", "German invoices", "--language", "de", "--db", db]
    refused = run(*change, "--actor", "sales@acme.example", cwd=tmp_path)
    assert refused.returncode == 2 and "finance or admin" in refused.stderr
    done = run(*change, "--actor", "finance@acme.example", cwd=tmp_path)
    assert done.returncode == 0 and "version 2" in done.stdout, done.stderr
    bad = run(*change[:5], "--vat-id", "DE=DE000000000", *change[7:], "--actor", "finance@acme.example", cwd=tmp_path)
    assert bad.returncode == 2 and "vat_ids.DE" in bad.stderr

    shown = run("customers", "show", "C-1", "--db", db, cwd=tmp_path)
    assert shown.returncode == 0 and "invoice language: de" in shown.stdout and "German invoices" in shown.stdout
    earlier = run("customers", "show", "C-1", "--as-of", "2000-01-01", "--db", db, cwd=tmp_path)
    assert "version 1" in earlier.stdout and "invoice language: en" in earlier.stdout
    assert run("customers", "show", "C-404", "--db", db, cwd=tmp_path).returncode == 2

    link = [
        "customers",
        "link",
        "--source",
        "hubspot",
        "--external-id",
        "123",
        "--db",
        db,
        "--actor",
        "finance@acme.example",
    ]
    assert run(*link[:2], "C-1", *link[2:], cwd=tmp_path).returncode == 0
    clash = run(*link[:2], "C-2", *link[2:], cwd=tmp_path)
    assert clash.returncode == 2 and "'C-1'" in clash.stderr and "'C-2'" in clash.stderr
