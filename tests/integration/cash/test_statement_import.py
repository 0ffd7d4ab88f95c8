"""Bank statement files stored as the bank sent them: every booking of the file, or nothing.

A statement over two pages with one statement number (MT940 `:62M:`/`:60M:`) used to lose the
second page's booking that looked like the first page's, and its closing balance. Here each
file's stored bookings are counted against the bookings its text lists, on SQLite and PostgreSQL,
for the tests' own files and a representative set of the public bank samples."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from handoff.cash.service.cash_application import StatementError, import_statement
from handoff.context import AppContext
from handoff.kernel.storage import schema
from tests.bank_files import bookings
from tests.conftest import ORACLES

FILES = Path(__file__).parents[2] / "unit" / "cash" / "formats" / "files"
BANK = ORACLES / "bank"
# one or two of each format and bank family: pages, SNS/ASN variants, camt versions and batches, OFX
REPRESENTATIVE = [
    "fruitl00p-php-mt940/test/Parser/Banking/Mt940/Engine/Spk/sample",
    "WoLpH-mt940/mt940_tests/ASNB/0708271685_09022020_164516.940.txt",
    "zilverline-mt940/spec/fixtures/sns/sns.txt",
    "WoLpH-mt940/mt940_tests/betterplace/sepa_mt9401.sta",
    "genkgo-camt/test/data/camt053.v2.multi.statement.xml",
    "genkgo-camt/test/data/camt054.v4.xml",
    "jseutter-ofxparse/tests/fixtures/multiple_accounts2.ofx",
    "jseutter-ofxparse/tests/fixtures/checking.ofx",
    "WoLpH-mt940/mt940_tests/jejik/rabobank-iban.sta",
]


def stored(ctx: AppContext) -> tuple[int, Decimal]:
    """Lines stored and their total, added up as Decimals (SQL's SUM goes through float on SQLite)."""
    with ctx.engine.connect() as conn:
        amounts = list(conn.execute(select(schema.bank_lines.c.amount)).scalars())
    assert all(isinstance(a, Decimal) for a in amounts)
    return len(amounts), sum(amounts, Decimal(0))


def counts(ctx: AppContext) -> tuple[int, ...]:
    tables = (schema.bank_statements, schema.bank_lines, schema.audit_log)
    with ctx.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables)


def test_a_statement_over_two_pages_with_one_number_stores_all_nine_bookings(ctx: AppContext) -> None:
    data = (FILES / "mt940_two_pages_same_number.sta").read_bytes()
    report = import_statement(ctx, data, "march.sta", "finance@test")
    assert (report.statements, report.lines, report.new_lines) == (1, 9, 9)
    assert stored(ctx) == (9, Decimal("16540.20"))
    with ctx.engine.connect() as conn:
        row = conn.execute(select(schema.bank_statements)).one()
    assert (row.opening, row.closing, row.balance_status) == (Decimal("1000.00"), Decimal("17540.20"), "ok")
    before = counts(ctx)
    again = import_statement(ctx, data, "march-again.sta", "finance@test")
    assert (again.lines, again.new_lines, again.new_statements) == (9, 0, 0)
    assert counts(ctx) == before


def test_pages_numbered_by_the_bank_store_all_bookings_once(ctx: AppContext) -> None:
    data = (FILES / "mt940_two_pages_numbered.sta").read_bytes()
    assert import_statement(ctx, data, "numbered.sta", "finance@test").new_lines == 9
    assert import_statement(ctx, data, "numbered.sta", "finance@test").new_lines == 0
    assert stored(ctx) == (9, Decimal("16540.20"))


def test_a_later_page_sent_on_its_own_under_the_same_number_is_refused(ctx: AppContext) -> None:
    text = (FILES / "mt940_two_pages_same_number.sta").read_text()
    cut = text.index("-\n") + 2
    import_statement(ctx, text[:cut].encode(), "page1.sta", "finance@test")
    before = counts(ctx)
    with pytest.raises(StatementError, match="imported before with other bookings") as caught:
        import_statement(ctx, text[cut:].encode(), "page2.sta", "finance@test")
    assert "STARTUMS-117/117/1" in caught.value.reason
    assert counts(ctx) == before


def test_a_file_with_the_same_statement_twice_stores_nothing(ctx: AppContext) -> None:
    before = counts(ctx)
    with pytest.raises(StatementError, match="appears twice in the file"):
        import_statement(ctx, (FILES / "mt940_same_statement_twice.sta").read_bytes(), "twice.sta", "finance@test")
    with pytest.raises(StatementError, match="page 2"):
        import_statement(ctx, (FILES / "mt940_page_does_not_add_up.sta").read_bytes(), "bad.sta", "finance@test")
    assert counts(ctx) == before


def test_two_statements_under_one_weak_id_are_stored_each_with_its_own_balances(ctx: AppContext) -> None:
    """Rabobank numbers every statement `:28C:0` under one `:20:`: two statements, not a duplicate."""
    path = BANK / "WoLpH-mt940/mt940_tests/jejik/rabobank-iban.sta"
    if not path.exists():
        pytest.skip(f"bank sample not found at {path}")
    report = import_statement(ctx, path.read_bytes(), path.name, "finance@test")
    assert (report.statements, report.new_statements, report.new_lines) == (2, 2, 4)
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(schema.bank_statements).order_by(schema.bank_statements.c.id)).all()
    assert [(r.statement_id, r.closing) for r in rows] == [
        ("940S130101/0", Decimal("965.00")),
        ("940S130101/0", Decimal("930.00")),
    ]
    assert import_statement(ctx, path.read_bytes(), path.name, "finance@test").new_lines == 0


def test_coda_stores_the_details_of_a_globalised_total_and_the_structured_reference(ctx: AppContext) -> None:
    report = import_statement(ctx, (FILES / "coda_globalised.cod").read_bytes(), "coda.cod", "finance@test")
    assert (report.format, report.new_lines, report.credits) == ("coda", 5, 4)
    assert report.details[0].balance == "ok" and report.warnings
    with ctx.engine.connect() as conn:
        refs = conn.execute(
            select(schema.bank_lines.c.structured_reference, schema.bank_lines.c.amount).order_by(
                schema.bank_lines.c.position
            )
        ).all()
    assert [r.structured_reference for r in refs] == ["010806817183", "090933755493", "", "", ""]
    assert stored(ctx) == (5, Decimal("3535.00"))


def test_the_report_names_warnings_and_repairs(ctx: AppContext) -> None:
    report = import_statement(ctx, (FILES / "mt940_garbage_optional_tag.sta").read_bytes(), "a.sta", "finance@test")
    assert report.warnings == ["statement 1: :65: forward available balance 'Dnullnull' is unreadable; left out"]
    french = import_statement(ctx, (FILES / "ofx_french_bank.ofx").read_bytes(), "fr.ofx", "finance@test")
    assert french.repairs == ["blank lines inside the OFX header", "decimal comma in amounts read as a decimal point"]
    assert french.as_dict()["details"][0]["balance"] == "unknown"
    two = import_statement(ctx, (FILES / "ofx_two_statements.ofx").read_bytes(), "gb.ofx", "finance@test")
    assert [d.balance for d in two.details] == ["unknown", "ok"]


@pytest.mark.parametrize(
    "path",
    [FILES / n for n in ("mt940_two_pages_same_number.sta", "coda_globalised.cod", "ofx_one_line.ofx")]
    + [BANK / r for r in REPRESENTATIVE],
    ids=lambda p: p.name,
)
def test_stored_bookings_are_the_bookings_the_file_lists(ctx: AppContext, path: Path) -> None:
    if not path.exists():
        pytest.skip(f"bank sample not found at {path}")
    data = path.read_bytes()
    listed = bookings(data)
    report = import_statement(ctx, data, path.name, "finance@test")
    count, total = stored(ctx)
    assert count == report.new_lines == report.lines
    assert count == listed.count if listed.exact_count else count >= listed.count
    assert total == listed.total
