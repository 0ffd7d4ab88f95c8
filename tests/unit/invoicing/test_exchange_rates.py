"""ECB reference rates: reading eurofxref files (daily and history), bad files refused naming line and
field, cross rates through EUR, the rate in force after a weekend, and what an import would change."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from handoff.invoicing.domain.exchange_rates import (
    LOOKBACK_DAYS,
    ReferenceRate,
    by_day,
    cross,
    plan_import,
    rate_on,
)
from handoff.invoicing.formats import ecb
from handoff.invoicing.formats.ecb import EcbFileError

FIXTURES = Path(__file__).parent / "fixtures"
DAILY = (FIXTURES / "eurofxref-daily.xml").read_bytes()
HIST = (FIXTURES / "eurofxref-hist-3d.xml").read_bytes()

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
    'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">\n'
    "<gesmes:subject>Reference rates</gesmes:subject>\n"
)


def envelope(cubes: str) -> bytes:
    return (HEAD + f"<Cube>\n{cubes}\n</Cube>\n</gesmes:Envelope>\n").encode()


def test_daily_file_gives_every_rate_of_its_day_as_exact_decimals() -> None:
    assert ecb.identify(DAILY)
    rates = ecb.parse(DAILY, "eurofxref-daily.xml")
    assert len(rates) == 30 and {r.rate_date for r in rates} == {date(2026, 11, 3)}
    found = {r.currency: r.rate for r in rates}
    assert found["USD"] == Decimal("1.1585") and str(found["GBP"]) == "0.87805"  # the text, never via float
    assert str(found["IDR"]) == "19281.64" and str(found["ISK"]) == "144.60"
    assert all(isinstance(r.rate, Decimal) for r in rates)


def test_history_file_gives_each_day_in_date_order() -> None:
    rates = ecb.parse(HIST, "eurofxref-hist-3d.xml")
    assert [(r.rate_date, r.currency) for r in rates[:5]] == [
        (date(2026, 10, 29), c) for c in sorted(["USD", "JPY", "GBP", "CHF", "SEK"])
    ]
    days = by_day(rates)
    assert sorted(days) == [date(2026, 10, 29), date(2026, 10, 30), date(2026, 11, 2)]
    assert days[date(2026, 10, 30)]["USD"] == Decimal("1.1556")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "file is empty"),
        (b"<gesmes:Envelope", "line 1: not well-formed XML"),
        (b"<Document><Cube/></Document>", "root element is <Document>, not <gesmes:Envelope>"),
        (envelope(""), "<Cube> holds no <Cube time=...> day"),
        (
            envelope("<Cube time='2026-11-31'><Cube currency='USD' rate='1.1'/></Cube>"),
            "line 5: <Cube time>: '2026-11-31' is not a date",
        ),
        (envelope("<Cube time='20261102'><Cube currency='USD' rate='1.1'/></Cube>"), "'20261102' is not a date"),
        (envelope("<Cube><Cube currency='USD' rate='1.1'/></Cube>"), "line 5: <Cube>: attribute time is missing"),
        (
            envelope("<Cube time='2026-11-02'>\n<Cube currency='USD' rate='1,1585'/></Cube>"),
            "line 6: <Cube> of 2026-11-02 for USD: rate '1,1585' is not a decimal number",
        ),
        (
            envelope("<Cube time='2026-11-02'><Cube currency='USD' rate='-1.2'/></Cube>"),
            "for USD: rate -1.2 is not a positive number",
        ),
        (
            envelope("<Cube time='2026-11-02'><Cube currency='USD' rate='NaN'/></Cube>"),
            "rate NaN is not a positive number",
        ),
        (
            envelope("<Cube time='2026-11-02'><Cube currency='USD' rate='1.12345678'/></Cube>"),
            "has more than 6 decimals",
        ),
        (envelope("<Cube time='2026-11-02'><Cube currency='USD'/></Cube>"), "for USD: attribute rate is missing"),
        (envelope("<Cube time='2026-11-02'><Cube rate='1.1'/></Cube>"), "attribute currency is missing"),
        (
            envelope("<Cube time='2026-11-02'><Cube currency='usd' rate='1.1'/></Cube>"),
            "currency 'usd' is not an ISO 4217 code",
        ),
        (envelope("<Cube time='2026-11-02'><Cube currency='EUR' rate='1'/></Cube>"), "EUR is the base"),
        (
            envelope(
                "<Cube time='2026-11-02'><Cube currency='USD' rate='1.1'/><Cube currency='USD' rate='1.2'/></Cube>"
            ),
            "currency USD appears twice on that day",
        ),
        (
            envelope(
                "<Cube time='2026-11-02'><Cube currency='USD' rate='1.1'/></Cube>\n"
                "<Cube time='2026-11-02'><Cube currency='USD' rate='1.1'/></Cube>"
            ),
            "line 6: <Cube time>: day 2026-11-02 appears twice",
        ),
        (envelope("<Cube time='2026-11-02'></Cube>"), "<Cube time=2026-11-02> holds no rates"),
        (envelope("<Cube time='2026-11-02'><Rate currency='USD' rate='1.1'/></Cube>"), "unexpected content"),
    ],
)
def test_a_bad_file_is_refused_naming_file_line_and_field(data: bytes, message: str) -> None:
    with pytest.raises(EcbFileError) as caught:
        ecb.parse(data, "rates.xml")
    assert caught.value.message.startswith("rates.xml: ")
    assert message in caught.value.message


def test_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("1.2345")
    data = (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE e [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01">\n'
        "<Cube><Cube time='2026-11-02'><Cube currency='USD' rate='1.1'/>&x;</Cube></Cube>\n"
        "</gesmes:Envelope>\n"
    ).encode()
    with pytest.raises(EcbFileError, match="unexpected content"):
        ecb.parse(data, "evil.xml")


DAY = {"USD": Decimal("1.1602"), "GBP": Decimal("0.87935"), "JPY": Decimal("178.25")}


def test_cross_rates_go_through_eur_rounded_to_ten_significant_digits() -> None:
    assert cross("EUR", "USD", DAY) == Decimal("1.1602")  # as published
    assert cross("USD", "EUR", DAY) == Decimal("0.8619203586")  # 1 / 1.1602
    assert cross("USD", "GBP", DAY) == Decimal("0.7579296673")  # 0.87935 / 1.1602
    assert cross("JPY", "EUR", DAY) == Decimal("0.005610098177")  # significant digits, not places
    assert cross("USD", "USD", DAY) == 1
    assert cross("USD", "CHF", DAY) is None


def test_the_rate_in_force_is_the_latest_ecb_day_on_or_before_the_date() -> None:
    days = by_day(ecb.parse(HIST))
    # Monday: its own rate; Sunday and Saturday: Friday's; never a rate from after the date
    monday = rate_on("USD", "EUR", date(2026, 11, 2), days)
    assert monday is not None and monday.rate_date == date(2026, 11, 2) and monday.rate == Decimal("0.8619203586")
    sunday = rate_on("USD", "EUR", date(2026, 11, 1), days)
    assert sunday is not None and sunday.rate_date == date(2026, 10, 30) and sunday.rate == Decimal("0.8653513326")
    assert sunday.on == date(2026, 11, 1) and (sunday.from_currency, sunday.to_currency) == ("USD", "EUR")
    saturday = rate_on("USD", "EUR", date(2026, 10, 31), days)
    assert saturday is not None and saturday.rate_date == date(2026, 10, 30)
    thursday = rate_on("EUR", "USD", date(2026, 10, 29), days)
    assert thursday is not None and thursday.rate == Decimal("1.1630")
    assert rate_on("EUR", "USD", date(2026, 10, 28), days) is None  # before the first day


def test_the_look_back_stops_after_a_week() -> None:
    days = by_day(ecb.parse(HIST))
    last = date(2026, 11, 2)
    limit = rate_on("EUR", "USD", date(2026, 11, 2 + LOOKBACK_DAYS), days)
    assert limit is not None and limit.rate_date == last
    assert rate_on("EUR", "USD", date(2026, 11, 3 + LOOKBACK_DAYS), days) is None


def test_a_day_missing_one_currency_is_skipped_for_the_day_before_with_both() -> None:
    days = {
        date(2026, 11, 2): {"USD": Decimal("1.16")},
        date(2026, 10, 30): {"USD": Decimal("1.15"), "GBP": Decimal("0.88")},
    }
    found = rate_on("GBP", "USD", date(2026, 11, 2), days)
    assert found is not None and found.rate_date == date(2026, 10, 30) and found.rate == Decimal("1.306818182")


def test_plan_import_keeps_equal_values_and_finds_changed_ones() -> None:
    d = date(2026, 11, 2)
    rates = [
        ReferenceRate("USD", d, Decimal("1.1600")),
        ReferenceRate("GBP", d, Decimal("0.88")),
        ReferenceRate("JPY", d, Decimal("178")),
    ]
    plan = plan_import(rates, {("USD", d): Decimal("1.16"), ("GBP", d): Decimal("0.87")})
    assert plan.unchanged == 1 and [r.currency for r in plan.new] == ["JPY"]
    assert plan.changed == ((rates[1], Decimal("0.87")),) and not plan.changes_nothing
    assert plan.conflicts() == "GBP on 2026-11-02: stored 0.87, file 0.88"
    assert plan_import(rates[:1], {("USD", d): Decimal("1.16")}).changes_nothing
