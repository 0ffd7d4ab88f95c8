"""The ECB's euro foreign exchange reference rates as XML ("eurofxref"): the daily file
`eurofxref-daily.xml` and the history files `eurofxref-hist-90d.xml` and `eurofxref-hist.xml`.

All three have one shape (namespaces `gesmes` = http://www.gesmes.org/xml/2002-08-01 and the
default http://www.ecb.int/vocabulary/2002-08-01/eurofxref):

    <gesmes:Envelope>
      <gesmes:subject>Reference rates</gesmes:subject> <gesmes:Sender>...</gesmes:Sender>
      <Cube>
        <Cube time="2026-11-27"> <Cube currency="USD" rate="1.0856"/> ... </Cube>
        ... (the history files: one day each, newest first)
      </Cube>
    </gesmes:Envelope>

Parsed with lxml with entity resolution, DTD loading and network access off (the file comes from
outside); elements are matched by local name. Rates are read as Decimal from the attribute text,
never through float. Anything unexpected is refused with the line and the element and field at
fault (`EcbFileError`), so that nothing of a bad file is stored.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree
from lxml.etree import _Element

from handoff.invoicing.domain.exchange_rates import (
    ExchangeRateError,
    ReferenceRate,
    currency_problem,
    rate_problem,
)

SOURCE = "ecb"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class EcbFileError(ExchangeRateError):
    """A file that is not a valid ECB reference-rate file: `file` and the reason, line included."""

    def __init__(self, file: str, reason: str, field: str | None = None) -> None:
        super().__init__(f"{file}: {reason}", field)
        self.file, self.reason = file, reason


def identify(data: bytes) -> bool:
    """Whether `data` looks like an ECB eurofxref file (before it is parsed)."""
    head = data[:2048]
    return b"Envelope" in head and (b"eurofxref" in head or b"<Cube" in head)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _local(el: _Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):  # an entity reference left unresolved, for example
        return ""
    return tag.split("}", 1)[1] if "}" in tag else tag


def _children(el: _Element) -> list[_Element]:
    return [c for c in el if isinstance(c.tag, str)]


def parse(data: bytes | str, name: str = "ECB rates") -> list[ReferenceRate]:
    """Every reference rate of the file, ordered by day and currency. Raises EcbFileError."""
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        raise EcbFileError(name, "file is empty")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise EcbFileError(name, f"line {exc.lineno}: not well-formed XML: {exc.msg}") from exc
    if _local(root) != "Envelope":
        raise EcbFileError(name, f"line {root.sourceline}: root element is <{_local(root)}>, not <gesmes:Envelope>")
    cubes = [c for c in _children(root) if _local(c) == "Cube"]
    if len(cubes) != 1:
        raise EcbFileError(name, f"line {root.sourceline}: <gesmes:Envelope> has {len(cubes)} <Cube> elements, not 1")
    rates: list[ReferenceRate] = []
    seen: set[date] = set()
    for day_el in _children(cubes[0]):
        day = _day(name, day_el)
        if day in seen:
            raise EcbFileError(name, f"line {day_el.sourceline}: <Cube time>: day {day} appears twice", "time")
        seen.add(day)
        rates.extend(_day_rates(name, day_el, day))
    if not seen:
        raise EcbFileError(name, f"line {cubes[0].sourceline}: <Cube> holds no <Cube time=...> day")
    return sorted(rates, key=lambda r: (r.rate_date, r.currency))


def _day(name: str, el: _Element) -> date:
    if _local(el) != "Cube":
        raise EcbFileError(name, f"line {el.sourceline}: unexpected element <{_local(el) or el.tag}> among the days")
    text = el.get("time")
    if text is None:
        raise EcbFileError(name, f"line {el.sourceline}: <Cube>: attribute time is missing", "time")
    try:
        if not _DATE.fullmatch(text.strip()):
            raise ValueError(text)
        return date.fromisoformat(text.strip())
    except ValueError:
        raise EcbFileError(
            name, f"line {el.sourceline}: <Cube time>: {text!r} is not a date (YYYY-MM-DD)", "time"
        ) from None


def _day_rates(name: str, day_el: _Element, day: date) -> list[ReferenceRate]:
    rates: dict[str, ReferenceRate] = {}
    for el in day_el:
        where = f"line {el.sourceline}: <Cube> of {day}"
        if _local(el) != "Cube":
            raise EcbFileError(name, f"{where}: unexpected content {etree.tostring(el).decode()[:40]!r}")
        currency = (el.get("currency") or "").strip()
        if not currency:
            raise EcbFileError(name, f"{where}: attribute currency is missing", "currency")
        problem = currency_problem(currency)
        if problem is not None:
            raise EcbFileError(name, f"{where}: {problem}", "currency")
        if currency in rates:
            raise EcbFileError(name, f"{where}: currency {currency} appears twice on that day", "currency")
        rates[currency] = ReferenceRate(currency, day, _rate(name, f"{where} for {currency}", el.get("rate")))
    if not rates:
        raise EcbFileError(name, f"line {day_el.sourceline}: <Cube time={day}> holds no rates", "rate")
    return list(rates.values())


def _rate(name: str, where: str, text: str | None) -> Decimal:
    if text is None or not text.strip():
        raise EcbFileError(name, f"{where}: attribute rate is missing", "rate")
    try:
        rate = Decimal(text.strip())
    except InvalidOperation:
        raise EcbFileError(name, f"{where}: rate {text!r} is not a decimal number", "rate") from None
    problem = rate_problem(rate)
    if problem is not None:
        raise EcbFileError(name, f"{where}: {problem}", "rate")
    return rate
