"""Readiness of what drafting parses: every line value (price, quantity, tax category, supply,
currency) and the deal's amount against its lines are judged as problems named by their field, so
a bad value blocks the deal in the exception queue instead of failing its event in drafting; and a
country, given as a code or a name, is resolved to its ISO code, never cut to its first letters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from handoff.config import ConfigError, load_business_config
from handoff.deals.domain.orders import to_billable
from handoff.deals.domain.readiness import check
from tests.builders import GOOD, deal, deal_with_lines, line

RULES = load_business_config().ruleset


def found(d: Any, ruleset: Any = RULES) -> list[tuple[str, str]]:
    return [(p.code, p.field) for p in check(d, ruleset)]


def two_good_and(**bad: Any) -> list[dict[str, Any]]:
    """Three lines of 4,000.00 (GOOD's amount in all), the third with these values."""
    return [line(), line(), line(**bad)]


def test_good_lines_are_ready_and_billed_as_written() -> None:
    d = deal_with_lines(
        [line(quantity="2", unit_price="3000.00", tax_category="reduced", supply="goods", currency="eur"), line()],
        amount="10000.00",
    )
    assert found(d) == []
    first = to_billable(d).lines[0]
    assert (first.quantity, first.unit_price, first.tax_category, first.supply) == (2, 3000, "reduced", "goods")


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"unit_price": "abc"}, ("invalid", "lines[2].unit_price")),
        ({"unit_price": "12,50"}, ("invalid", "lines[2].unit_price")),
        ({"unit_price": "NaN"}, ("invalid", "lines[2].unit_price")),
        ({"unit_price": "1e30"}, ("invalid", "lines[2].unit_price")),  # would overflow the invoice's rounding
        ({"unit_price": ""}, ("missing", "lines[2].unit_price")),
        ({"unit_price": None}, ("missing", "lines[2].unit_price")),  # JSON null
        ({"quantity": "two"}, ("invalid", "lines[2].quantity")),
        ({"quantity": "0"}, ("invalid", "lines[2].quantity")),
        ({"quantity": "-1"}, ("invalid", "lines[2].quantity")),
        ({"tax_category": "luxury"}, ("invalid", "lines[2].tax_category")),
        ({"supply": "rockets"}, ("invalid", "lines[2].supply")),
        ({"currency": "USD"}, ("invalid", "lines[2].currency")),  # one invoice, one currency
        ({"currency": "EURO"}, ("invalid", "lines[2].currency")),
    ],
)
def test_a_bad_line_value_is_a_problem_on_its_field(bad: dict[str, Any], expected: tuple[str, str]) -> None:
    assert found(deal_with_lines(two_good_and(**bad))) == [expected]


def test_line_defaults_need_no_value() -> None:
    d = deal_with_lines([{"description": "", "unit_price": "12000"}])
    assert found(d) == []
    assert to_billable(d).lines[0].quantity == 1


def test_the_problem_message_names_the_line() -> None:
    [problem] = check(deal_with_lines(two_good_and(unit_price="abc")), RULES)
    assert "line 3" in problem.message and "'abc'" in problem.message


def test_handoff_check_says_not_ready_and_names_the_line_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from handoff.cli import app

    for name in ("HANDOFF_CONFIG", "HANDOFF_RULES"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "deals.json"
    path.write_text(json.dumps([{**GOOD, "lines": two_good_and(unit_price="abc")}]), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path), "--json"])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(x) for x in result.output.splitlines()]
    assert row["ready"] is False
    assert [(p["code"], p["field"]) for p in row["problems"]] == [("invalid", "lines[2].unit_price")]


def test_amount_differing_from_the_lines_blocks() -> None:
    lines = [line(quantity="3", unit_price="5000.00"), line(quantity="1", unit_price="2850.00")]  # 17,850.00
    [problem] = check(deal_with_lines(lines, amount="1000.00"), RULES)
    assert (problem.code, problem.field) == ("amount_mismatch", "amount")
    assert "17850.00" in problem.message and "1000.00" in problem.message
    assert found(deal_with_lines(lines, amount="17850.00")) == []


def test_amount_is_compared_with_the_rounded_line_nets_within_the_tolerance() -> None:
    thirds = [line(quantity="3", unit_price="0.333")]  # net 1.00 (0.999 rounded, as the invoice has it)
    assert found(deal_with_lines(thirds, amount="1.00")) == []
    assert found(deal_with_lines(thirds, amount="1.01")) == []  # default tolerance: one cent
    assert found(deal_with_lines(thirds, amount="1.02")) == [("amount_mismatch", "amount")]
    assert found(deal_with_lines(thirds, amount="0.99")) == []
    assert found(deal_with_lines(thirds, amount="0.98")) == [("amount_mismatch", "amount")]


def test_amount_is_not_compared_while_a_line_or_the_amount_is_bad() -> None:
    assert found(deal_with_lines(two_good_and(unit_price="abc"), amount="1")) == [("invalid", "lines[2].unit_price")]
    assert found(deal_with_lines(two_good_and(), amount="lots")) == [("invalid", "amount")]


def test_a_deal_without_lines_has_nothing_to_compare() -> None:
    assert found(deal(amount="1.00")) == []


def test_an_absurd_amount_is_invalid_rather_than_a_failed_draft() -> None:
    assert found(deal(amount="1e13")) == [("invalid", "amount")]
    assert found(deal(amount="999999999999.99")) == []


def write_rules(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nrules:\n  - {field: amount, check: positive_decimal}\n" + extra, encoding="utf-8")
    return path


def test_amount_tolerance_is_configured_in_the_rules_file(tmp_path: Path) -> None:
    ruleset = load_business_config(rules_file=write_rules(tmp_path, 'amount_tolerance: "50.00"\n')).ruleset
    assert found(deal_with_lines(two_good_and(), amount="12050.00"), ruleset) == []
    assert found(deal_with_lines(two_good_and(), amount="12050.01"), ruleset) == [("amount_mismatch", "amount")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('amount_tolerance: "-1"\n', r"rules.yaml: amount_tolerance: .*greater than or equal to 0"),
        ("amount_tolerance: lots\n", r"rules.yaml: amount_tolerance: "),
        ("lines:\n  - {field: price, check: decimal}\n", r"rules.yaml: lines.0.field: .*unknown line field 'price'"),
        ("lines:\n  - {field: unit_price, check: decmal}\n", r"rules.yaml: lines.0: .*unknown check 'decmal'"),
    ],
)
def test_bad_line_settings_are_refused_at_load(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_business_config(rules_file=write_rules(tmp_path, extra))


def test_a_rules_file_without_line_rules_still_checks_lines(tmp_path: Path) -> None:
    """An older rules file (no `lines:`) gets the default line rules: a line never goes unchecked."""
    ruleset = load_business_config(rules_file=write_rules(tmp_path, "")).ruleset
    assert found(deal_with_lines(two_good_and(unit_price="abc")), ruleset) == [("invalid", "lines[2].unit_price")]


def test_line_rules_can_be_set_in_the_rules_file(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "lines:\n  - {field: description, check: present}\n")
    ruleset = load_business_config(rules_file=path).ruleset
    assert found(deal_with_lines(two_good_and(description="")), ruleset) == [("missing", "lines[2].description")]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("DE", "DE"),
        ("de", "DE"),
        ("DEU", "DE"),
        ("Germany", "DE"),
        ("GERMANY", "DE"),
        (" germany ", "DE"),
        ("Federal Republic of Germany", "DE"),  # the official name
        ("Georgia", "GE"),
        ("United States", "US"),
        ("Korea, Republic of", "KR"),
        ("South Korea", "KR"),  # the common name
    ],
)
def test_country_codes_and_names_resolve_to_the_iso_code(value: str, code: str) -> None:
    from handoff.deals.domain.countries import country_code

    assert country_code(value) == code
    d = deal(country=value, vat_id="" if code not in ("DE",) else "DE136695976")
    if code == "US":  # a US customer's sales tax needs its state (and ZIP code, GOOD's 10115 passes)
        d = d.with_fields({"billing_state": "NY"})
    assert found(d) == []
    assert to_billable(d).customer.country == code
    assert to_billable(d).customer.address.country == code


@pytest.mark.parametrize("value", ["Deutschland", "Germanyx", "XX", "276", "Ger", "G"])
def test_an_unknown_country_is_a_problem_never_cut_short(value: str) -> None:
    from handoff.deals.domain.countries import country_code

    assert country_code(value) is None
    [problem] = check(deal(country=value), RULES)
    assert (problem.code, problem.field) == ("invalid", "country")
    assert repr(value) in problem.message


def test_a_country_name_reaches_the_vat_checks_as_its_code() -> None:
    assert found(deal(country="Germany", vat_id="FR40303265045")) == [("invalid", "vat_id")]  # not a German id
    assert found(deal(country="Germany", vat_id="")) == [("missing", "vat_id")]  # EU business: VAT id needed


def test_an_ambiguous_country_name_is_a_problem() -> None:
    from handoff.deals.domain.countries import CountryIndex

    class Fake:
        def __init__(self, alpha_2: str, alpha_3: str, name: str) -> None:
            self.alpha_2, self.alpha_3, self.name = alpha_2, alpha_3, name

    index = CountryIndex([Fake("AA", "AAA", "Twin"), Fake("BB", "BBB", "twin"), Fake("CC", "CCC", "Other")])
    assert index.code("Twin") is None and "ambiguous" in (index.error("Twin") or "")
    assert index.code("other") == "CC" and index.error("other") is None
    assert index.code("Nowhere") is None and "not an ISO 3166-1 alpha-2 code" in (index.error("Nowhere") or "")
