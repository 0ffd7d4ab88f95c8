"""`handoff import-statement` as a user runs it: the report per file (format, statements, bookings,
balance per statement, warnings and repairs), `--json` for machines, and a refusal that names the
statement with its expected and stated balance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.e2e.test_cli import run, said

FILES = Path(__file__).parents[1] / "unit" / "cash" / "formats" / "files"


def test_the_import_report_for_people_and_for_machines(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    pages = shutil.copy(FILES / "mt940_two_pages_same_number.sta", tmp_path / "march.sta")
    first = run("import-statement", str(pages), "--db", db, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["format"], report["statements"], report["bookings"], report["new_bookings"]) == ("mt940", 1, 9, 9)
    (statement,) = report["details"]
    assert statement == {
        "statement_id": "STARTUMS-117/117/1",
        "account": "DE89370400440532013000",
        "currency": "EUR",
        "pages": 2,
        "bookings": 9,
        "new_bookings": 9,
        "balance": "ok",
        "opening": "1000.00",
        "closing": "17540.20",
        "movements": "16540.20",
        "warnings": [],
    }
    again = said(run("import-statement", str(pages), "--db", db, cwd=tmp_path))
    assert (
        "march.sta: mt940, 1 statement(s), 9 lines, 0 new (0 incoming payments to match), 9 already imported" in again
    )
    assert "statement STARTUMS-117/117/1 (DE89370400440532013000, EUR, 2 pages): 9 bookings, 0 new;" in again
    assert "balance ok: 1000.00 + 16540.20 = 17540.20" in again

    coda = said(run("import-statement", str(FILES / "coda_globalised.cod"), "--db", db, cwd=tmp_path))
    assert "coda_globalised.cod: coda, 1 statement(s), 5 lines, 5 new (4 incoming payments to match)" in coda
    assert "warning: movement 0002/0003: structured communication +++123/4567/89012+++ fails its check digits" in coda

    french = json.loads(
        run("import-statement", str(FILES / "ofx_french_bank.ofx"), "--db", db, "--json", cwd=tmp_path).stdout
    )
    assert french["repairs"] == [
        "blank lines inside the OFX header",
        "decimal comma in amounts read as a decimal point",
    ]
    assert french["details"][0]["balance"] == "unknown"


def test_a_refused_file_names_the_statement_and_both_balances(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    refused = run("import-statement", str(FILES / "mt940_page_does_not_add_up.sta"), "--db", db, cwd=tmp_path)
    assert refused.returncode == 2
    message = " ".join(refused.stderr.split())
    assert "refused, nothing stored" in message
    assert "statement STARTUMS-117/117/1 page 2: opening 16780.00 + movements 760.20 = 17540.20" in message
    assert "stated closing is 17450.20" in message
    investment = run("import-statement", str(FILES / "ofx_investment_only.ofx"), "--db", db, cwd=tmp_path)
    assert investment.returncode == 2 and "investment statement (INVSTMTRS)" in " ".join(investment.stderr.split())
