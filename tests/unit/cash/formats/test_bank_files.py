"""Every bank sample under the shared oracles either parses or is refused with a known reason;
balances add up where the sample's own balances do; expected parses shipped with the samples
agree with ours; re-parsing yields the same line ids."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from handoff.cash.domain.bank import BalanceStatus, Statement, check_balance
from handoff.cash.formats import StatementError, detect, read_statements
from tests.bank_files import bookings
from tests.unit.cash.formats.expectations import EXPECTED_REFUSALS, KNOWN_MISMATCHES
from tests.unit.cash.formats.oracle_files import ORACLES, rel, sample_files

SAMPLES = sample_files()
pytestmark = pytest.mark.skipif(not SAMPLES, reason=f"bank oracles not found at {ORACLES}")


def _parse(path: Path) -> list[Statement] | StatementError:
    try:
        return read_statements(path.read_bytes(), path.name)
    except StatementError as exc:
        return exc


def test_the_oracle_tree_holds_samples_of_every_format() -> None:
    formats = {detect(p.read_bytes(), p.name).__name__.rsplit(".", 1)[1] for p in SAMPLES if p.stat().st_size}
    assert {"camt", "mt940", "ofx"} <= formats
    assert len(SAMPLES) > 150


@pytest.mark.parametrize("path", SAMPLES, ids=rel)
def test_sample_parses_or_is_refused_with_its_known_reason(path: Path) -> None:
    result = _parse(path)
    expected = EXPECTED_REFUSALS.get(rel(path))
    if isinstance(result, StatementError):
        assert expected is not None, f"newly refused: {result.reason}"
        assert result.reason.startswith(expected), result.reason
        assert result.file == path.name
        return
    assert expected is None, f"expected refusal {expected!r} but it parsed"
    assert result, "a parsed file yields at least one statement"
    for statement in result:
        assert statement.account and re.fullmatch(r"[A-Z]{3}", statement.currency)
        for line in statement.lines:
            assert isinstance(line.amount, Decimal) and line.amount.is_finite()
            assert len(line.line_id) == 32


@pytest.mark.parametrize("path", SAMPLES, ids=rel)
def test_balances_add_up_except_the_known_mismatches(path: Path) -> None:
    result = _parse(path)
    if isinstance(result, StatementError):
        return
    known = KNOWN_MISMATCHES.get(rel(path), {})
    for index, statement in enumerate(result):
        check = check_balance(statement)
        if index in known:
            assert check.status is BalanceStatus.MISMATCH and str(check.difference) == known[index]
        else:
            assert check.status in (BalanceStatus.OK, BalanceStatus.UNKNOWN), (index, check)


def test_most_statements_with_both_balances_add_up() -> None:
    checks = [check_balance(s) for p in SAMPLES if not isinstance(r := _parse(p), StatementError) for s in r]
    ok = sum(c.ok for c in checks)
    mismatched = sum(c.status is BalanceStatus.MISMATCH for c in checks)
    assert ok > mismatched > 0


@pytest.mark.parametrize("path", [p for p in SAMPLES if rel(p) in KNOWN_MISMATCHES], ids=rel)
def test_no_movement_is_lost(path: Path) -> None:
    """A balance mismatch is the sample's own: the parser kept every movement the file lists."""
    statements = _parse(path)
    assert not isinstance(statements, StatementError)
    raw = path.read_bytes()
    pattern = rb"<Ntry>" if raw.lstrip().startswith(b"<") else rb"(?m)^:61:"
    listed = len(re.findall(pattern, raw))
    assert sum(len(s.lines) for s in statements) == listed


@pytest.mark.parametrize("path", [p for p in SAMPLES if rel(p) not in EXPECTED_REFUSALS], ids=rel)
def test_reparsing_gives_identical_line_ids(path: Path) -> None:
    first = read_statements(path.read_bytes(), path.name)
    again = read_statements(path.read_bytes(), "renamed-" + path.name)
    ids = [line.line_id for s in first for line in s.lines]
    assert ids == [line.line_id for s in again for line in s.lines]
    assert len(set(ids)) == len(ids), "two lines of one import share an id"


# --- expected parses shipped with the samples ---------------------------------------------------

_YML_AMOUNT = re.compile(
    r"amount: !!python/object:mt940\.models\.Amount\s+amount: "
    r"!!python/object/apply:decimal\.Decimal\s+\[\s*'([^']+)'\]"
)
_WOLPH = sorted((ORACLES / "WoLpH-mt940").rglob("*.yml"))


@pytest.mark.parametrize("yml", [y for y in _WOLPH if y.with_suffix(".sta").exists()], ids=rel)
def test_mt940_amounts_match_the_wolph_expected_parse(yml: Path) -> None:
    """The `.yml` beside each WoLpH sample is the library's own expected parse: our lines must carry
    the same movement amounts (as a multiset; the yml merges a file's statements into one). Compared
    without sign: the yml was made before the library signed `RC` (reversal of a credit) as the
    debit it is, which we opt in to."""
    text = yml.read_text(encoding="utf-8")
    start = text.find("\ntransactions:")
    expected = sorted(Decimal(a) for a in _YML_AMOUNT.findall(text[start:])) if start >= 0 else []
    result = _parse(yml.with_suffix(".sta"))
    if isinstance(result, StatementError):
        assert rel(yml.with_suffix(".sta")) in EXPECTED_REFUSALS
        return
    if expected:
        assert sorted(abs(line.amount) for s in result for line in s.lines) == sorted(map(abs, expected))


@pytest.mark.parametrize("js", sorted((ORACLES / "genkgo-camt").rglob("*.json")), ids=rel)
def test_camt_entries_match_the_genkgo_expected_parse(js: Path) -> None:
    """genkgo's JSON dump lists the entries of the message's last record: amount in minor units,
    credit/debit indicator, booking date, and (through the record) the account."""
    entries = json.loads(js.read_text(encoding="utf-8"))["getEntries"]
    statement = read_statements(js.with_suffix(".xml").read_bytes(), js.name)[-1]
    assert len(statement.lines) == len(entries)
    for line, entry in zip(statement.lines, entries, strict=True):
        assert line.amount * 100 == Decimal(entry["getAmount"]["getAmount"])
        assert (line.amount < 0) == (entry["getCreditDebitIndicator"] == "DBIT")
        booked = (entry.get("getBookingDate") or {}).get("0", "")[:10]
        assert (line.booking_date.isoformat() if line.booking_date else "") == booked
        assert statement.account == entry["getRecord"]["getAccount"]["getIdentification"]


# --- every booking the file lists, no more, no less ----------------------------------------------

_OWN = sorted(p for p in (Path(__file__).parent / "files").iterdir() if p.is_file())


@pytest.mark.parametrize("path", SAMPLES + _OWN, ids=lambda p: p.name if p in _OWN else rel(p))
def test_every_file_read_holds_exactly_the_bookings_it_lists(path: Path) -> None:
    """Counted from the file's text without the readers: `:61:` (MT940), `<STMTTRN>` (OFX) exactly;
    camt entries and CODA totals at least (they may be split into their transactions or details),
    and the same signed total in every format."""
    result = _parse(path)
    if isinstance(result, StatementError):
        return
    listed = bookings(path.read_bytes())
    lines = [line for s in result for line in s.lines]
    if listed.exact_count:
        assert len(lines) == listed.count
    else:
        assert len(lines) >= listed.count
    assert sum((line.amount for line in lines), Decimal(0)) == listed.total
