"""One rule decides a deal's country: a CRM connector's `country` transform and readiness (with the
drafting that follows it) resolve the same value to the same answer, through
`deals.domain.countries`. A numeric code, a misspelling or an ambiguous name is passed on as
written and becomes a problem on `country`; neither path guesses."""

from __future__ import annotations

from collections.abc import Iterator

import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff.config import load_business_config
from handoff.deals.connectors.mapping import FieldMap
from handoff.deals.domain import countries
from handoff.deals.domain.orders import to_billable
from handoff.deals.domain.readiness import check
from tests.builders import GOOD, deal

RULES = load_business_config().ruleset
MAP = FieldMap.parse({"deal_id": "id", "country": "country | country"})


def mapped(value: str) -> str:
    """The country as a connector maps it from a vendor payload."""
    return MAP.apply({"id": "D-1", "country": value})["country"]


def answer(value: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """What the deal path makes of a country: its code, and the problems on `country`."""
    d = deal(country=value, vat_id="", customer_type="consumer")
    problems = tuple((p.code, p.field) for p in check(d, RULES) if p.field == "country")
    return (None if problems else to_billable(d).customer.country), problems


SAMPLES = [
    "DE",
    "de",
    "DEU",
    "deu",
    "Germany",
    " germany ",
    "United  Kingdom",
    "Federal Republic of Germany",
    "South Korea",
    "Korea, Republic of",
    "Georgia",
    "GE",
    "276",  # ISO numeric for Germany: not accepted on either path
    "840",
    "Deutschland",
    "UK",
    "XX",
    "Ger",
    "Congo",
    "Viet Nam",
    "Vietnam",
]


@pytest.mark.parametrize("value", SAMPLES)
def test_the_connector_and_readiness_give_the_same_answer(value: str) -> None:
    assert answer(mapped(value)) == answer(value)
    assert (countries.country_code(mapped(value)) or None) == countries.country_code(value)


def test_numeric_codes_are_not_resolved_by_the_connector() -> None:
    """pycountry.lookup took `276` for Germany; the deal path does not, so neither does the connector."""
    assert mapped("276") == "276"
    assert answer(mapped("276"))[1] == (("invalid", "country"),)


@given(
    st.sampled_from(
        [v for c in pycountry.countries for v in (c.alpha_2, c.alpha_3, c.name, c.numeric)]
        + [getattr(c, "common_name", "") or c.name for c in pycountry.countries]
    ),
    st.sampled_from([str, str.lower, str.upper, lambda s: f"  {s} "]),
)
def test_every_pycountry_code_and_name_gets_the_same_answer(value: str, spell: object) -> None:
    written = spell(value)  # type: ignore[operator]
    assert countries.country_code(mapped(written)) == countries.country_code(written)


@given(st.text(max_size=12))
def test_any_text_gets_the_same_answer(value: str) -> None:
    assert countries.country_code(mapped(value)) == countries.country_code(value.strip())


class _Country:
    def __init__(self, alpha_2: str, alpha_3: str, name: str) -> None:
        self.alpha_2, self.alpha_3, self.name = alpha_2, alpha_3, name


@pytest.fixture
def twin_countries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A country list where `Twin` names two countries."""
    index = countries.CountryIndex([_Country("DE", "DEU", "Twin"), _Country("AT", "AUT", "twin")])
    countries.country_code.cache_clear()
    monkeypatch.setattr(countries, "_index", lambda: index)
    yield
    countries.country_code.cache_clear()


def test_an_ambiguous_name_is_a_problem_on_both_paths(twin_countries: None) -> None:
    assert mapped("Twin") == "Twin"  # passed on as written, not the first match
    code, problems = answer(mapped("Twin"))
    assert code is None and problems == (("invalid", "country"),)
    [problem] = [p for p in check(deal(country=mapped("Twin")), RULES) if p.field == "country"]
    assert "ambiguous" in problem.message
    assert GOOD["country"] == "DE" and mapped("DEU") == "DE"  # codes stay unambiguous
