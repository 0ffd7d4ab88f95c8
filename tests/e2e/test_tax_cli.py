"""`handoff tax held` and `handoff tax retry` as a user runs them (a real subprocess): a US deal in a
place the rate table does not know waits with its reason; once the table has it, a retry drafts it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from handoff.config import DEFAULTS
from tests.builders import GOOD

HOUSTON = {
    **GOOD,
    "country": "US",
    "vat_id": "",
    "legal_entity": "ACME-US",
    "currency": "USD",
    "billing_city": "Houston",
    "billing_postal_code": "77002",
}


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handoff", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(Path(__file__).parents[2] / "src"), "PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_a_held_deal_is_listed_and_drafted_by_a_retry_once_the_rate_table_knows_its_place(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    deals = tmp_path / "deals.csv"
    deals.write_text(",".join([*GOOD, "billing_state"]) + "\n" + ",".join([*(HOUSTON[k] for k in GOOD), "TX"]) + "\n")
    imported = run("import", str(deals), "--db", db, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr

    held = run("tax", "held", "--db", db, cwd=tmp_path)
    assert held.returncode == 0, held.stderr
    assert "D-1 (" in held.stdout and "Houston, TX 77002" in held.stdout and "1 held" in held.stdout

    still = run("tax", "retry", "--db", db, cwd=tmp_path)  # nothing changed: held again
    assert still.returncode == 0, still.stderr
    assert "D-1: still held" in still.stdout and "0 ready, 1 still held" in still.stdout

    rates = yaml.safe_load((DEFAULTS / "us_sales_tax.yaml").read_text())
    rates["states"]["TX"]["local"].append(
        {"city": "Houston", "zips": ["77002"], "jurisdictions": [{"level": "city", "name": "Houston", "rate": "1"}]}
    )
    table = tmp_path / "rates.yaml"
    table.write_text(yaml.safe_dump(rates))
    done = run("tax", "retry", "D-1", "--db", db, cwd=tmp_path, env={"HANDOFF_SALES_TAX_RATES": str(table)})
    assert done.returncode == 0, done.stderr
    assert "D-1: ready" in done.stdout and "1 sent through again: 1 ready, 0 still held" in done.stdout
    with sqlite3.connect(tmp_path / "h.db") as conn:
        state, tax = conn.execute(
            "SELECT o.state, i.tax_amount FROM orders o JOIN invoice_orders io ON io.order_id = o.id "
            "JOIN invoices i ON i.id = io.invoice_id WHERE o.deal_id = 'D-1'"
        ).fetchone()
    assert (state, tax) == ("drafted", "870.00")  # 6.25 % + 1 % of 12,000.00
