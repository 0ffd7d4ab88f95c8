"""A deal's country, as a source writes it, resolved to its ISO 3166-1 alpha-2 code.

CRMs send codes (`DE`, `DEU`) as often as names (`Germany`, `Federal Republic of Germany`,
`South Korea`): each is looked up, without regard to case or surrounding spaces, among pycountry's
alpha-2 and alpha-3 codes, names, official names and common names. A value that names no country,
or more than one, resolves to nothing and readiness reports it; it is never cut to its first two
letters (`Germany` is not `GE`, which is Georgia). Numeric codes and names in other languages
(`Deutschland`) are not recognised: a person fixes those in the exception queue. This is the one
rule: readiness, drafting and the CRM connectors' `country` transform (`connectors.mapping`) all
resolve through `country_code`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import pycountry

_KEYS = ("alpha_2", "alpha_3", "name", "official_name", "common_name")


def _normal(value: str) -> str:
    return " ".join(value.split()).casefold()


class CountryIndex:
    """Every code and name of some countries, to the alpha-2 code(s) it stands for."""

    def __init__(self, countries: Iterable[Any]) -> None:
        self._codes: dict[str, set[str]] = {}
        for country in countries:
            for key in _KEYS:
                name = getattr(country, key, None)
                if name:
                    self._codes.setdefault(_normal(str(name)), set()).add(str(country.alpha_2).upper())

    def code(self, value: str) -> str | None:
        """The alpha-2 code `value` stands for, or None when it names no country or several."""
        codes = self._codes.get(_normal(value), set())
        return next(iter(codes)) if len(codes) == 1 else None

    def error(self, value: str) -> str | None:
        """Why `value` does not resolve to a country, or None when it does."""
        codes = self._codes.get(_normal(value), set())
        if len(codes) == 1:
            return None
        if codes:
            return f"country {value!r} is ambiguous: it may be {', '.join(sorted(codes))}"
        # worded as before names were accepted (`handoff check` output is compared): the code is the fix
        return f"country {value!r} is not an ISO 3166-1 alpha-2 code"


@lru_cache(maxsize=1)
def _index() -> CountryIndex:
    return CountryIndex(pycountry.countries)


@lru_cache(maxsize=4096)
def country_code(value: str) -> str | None:
    """The ISO 3166-1 alpha-2 code of a country given as a code or a name, or None."""
    return _index().code(value)


def country_error(value: str) -> str | None:
    """Why a country value is not understood (unknown or ambiguous), or None when it is."""
    return None if country_code(value) is not None else _index().error(value)


@lru_cache(maxsize=64)
def _subdivisions(country: str) -> dict[str, str]:
    """Every code (`TX`, `US-TX`) and name (`Texas`) of a country's subdivisions, to its code."""
    found: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code=country) or ():  # type: ignore[no-untyped-call]
        code = str(sub.code).split("-", 1)[1]
        for name in (code, str(sub.code), str(sub.name)):
            found[_normal(name)] = code
    return found


def subdivision_code(country: str, value: str) -> str | None:
    """The ISO 3166-2 code (without the country prefix: a US state's USPS code, `TX`) of a state or
    province of `country` given by code or English name, or None when it names none of them."""
    return _subdivisions(country.upper()).get(_normal(value)) if value.strip() else None
