"""Exchange rates from the ECB's euro foreign exchange reference rates, by day.

The ECB publishes, on each TARGET working day at about 16:00 CET, how many units of some 30
currencies one euro buys (`1 EUR = rate CCY`); it publishes nothing on weekends and TARGET holidays.
Those EUR-based rates are what is stored. A rate between two other currencies is crossed through
the euro with both legs taken from the same ECB day. The rate in force on a date is the one of the
most recent ECB day on or before it, looked back at most `LOOKBACK_DAYS` (a longer gap means rates
were not imported: "no rate" rather than a stale one). This is the rate Article 91(2) of the VAT
Directive (2006/112/EC) allows for VAT in another currency: the latest the ECB published when the
tax becomes chargeable; issuing before that day's rates are imported takes the day before's.

Direction: `FxRate.rate` is units of `to` per one unit of `from`, the direction of the VAT amount
in accounting currency (EN 16931 BT-111 = BT-110 x rate, BT-6 the accounting currency), and of
`exchange_rates.{to}.{from}` in the configuration.

Rounding: a rate from or to EUR is the published figure, or its reciprocal; a reciprocal or cross
rate is rounded to `CROSS_DIGITS` (10) significant digits, half to even: a relative error of at
most 5 in 10^10, far below that of the ECB figures themselves (5 significant digits). Significant
digits rather than decimal places keep JPY -> EUR (0.0056...) as exact as EUR -> JPY (178.25).
Converted amounts are then rounded to cents where they are used (`round2`, BT-111).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal

EUR = "EUR"
LOOKBACK_DAYS = 7  # a week covers weekends and the longest TARGET closing (Good Friday to Easter Monday)
CROSS_DIGITS = 10
RATE_PLACES = 6  # decimals stored (the ECB publishes at most 5)
RATE_INTEGER_DIGITS = 14
_CROSS = Context(prec=CROSS_DIGITS, rounding=ROUND_HALF_EVEN)
_CURRENCY = re.compile(r"[A-Z]{3}")


class ExchangeRateError(Exception):
    """Exchange rates refused: a bad rate file, a conflicting rate. `field` names the bad part."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True, slots=True)
class ReferenceRate:
    """One ECB reference rate: on `rate_date`, 1 EUR = `rate` units of `currency`."""

    currency: str
    rate_date: date
    rate: Decimal


@dataclass(frozen=True, slots=True)
class FxRate:
    """`rate` units of `to` per unit of `from`, in force on `on`, from the ECB day `rate_date`."""

    from_currency: str
    to_currency: str
    on: date
    rate_date: date
    rate: Decimal


def currency_problem(code: str) -> str | None:
    """Why `code` cannot be a currency of a reference rate (None: it can)."""
    if not _CURRENCY.fullmatch(code):
        return f"currency {code!r} is not an ISO 4217 code (three capital letters)"
    if code == EUR:
        return "currency EUR is the base of the reference rates, not one of them"
    return None


def rate_problem(rate: Decimal) -> str | None:
    """Why `rate` cannot be a reference rate (None: it can)."""
    if not rate.is_finite() or rate <= 0:
        return f"rate {rate} is not a positive number"
    exponent = rate.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > RATE_PLACES:
        return f"rate {rate} has more than {RATE_PLACES} decimals"
    if rate.adjusted() >= RATE_INTEGER_DIGITS:
        return f"rate {rate} is too large"
    return None


def by_day(rates: Iterable[ReferenceRate]) -> dict[date, dict[str, Decimal]]:
    """The rates grouped by ECB day: {day: {currency: units per EUR}}."""
    days: dict[date, dict[str, Decimal]] = {}
    for r in rates:
        days.setdefault(r.rate_date, {})[r.currency] = r.rate
    return days


def cross(from_currency: str, to_currency: str, day: Mapping[str, Decimal]) -> Decimal | None:
    """Units of `to_currency` per unit of `from_currency` from one ECB day's EUR-based rates
    (None: the day lacks one of them). Rounded as the module says."""
    if from_currency == to_currency:
        return Decimal(1)
    to_rate = Decimal(1) if to_currency == EUR else day.get(to_currency)
    from_rate = Decimal(1) if from_currency == EUR else day.get(from_currency)
    if to_rate is None or from_rate is None:
        return None
    if from_currency == EUR:
        return to_rate  # as published
    return _CROSS.divide(to_rate, from_rate)


def lookback_start(on: date, lookback_days: int = LOOKBACK_DAYS) -> date:
    """The earliest ECB day whose rates may still be in force on `on`."""
    return on - timedelta(days=lookback_days)


def rate_on(
    from_currency: str,
    to_currency: str,
    on: date,
    days: Mapping[date, Mapping[str, Decimal]],
    lookback_days: int = LOOKBACK_DAYS,
) -> FxRate | None:
    """The rate in force on `on`: from the most recent ECB day in `days` on or before `on`, at most
    `lookback_days` back, that has both currencies (None: no such day; never a rate from after `on`)."""
    if from_currency == to_currency:
        return FxRate(from_currency, to_currency, on, on, Decimal(1))
    start = lookback_start(on, lookback_days)
    for day in sorted((d for d in days if start <= d <= on), reverse=True):
        rate = cross(from_currency, to_currency, days[day])
        if rate is not None:
            return FxRate(from_currency, to_currency, on, day, rate)
    return None


@dataclass(frozen=True)
class ImportPlan:
    """What importing a rate file changes, decided against what is stored: rates `new` to the
    store, `changed` ones (another rate for a stored day: written only when replacing, else
    `conflicts`), and how many are `unchanged` (the same value, however written: 1.0800 = 1.08)."""

    new: tuple[ReferenceRate, ...]
    changed: tuple[tuple[ReferenceRate, Decimal], ...]  # (the file's rate, the stored one)
    unchanged: int

    @property
    def changes_nothing(self) -> bool:
        return not self.new and not self.changed

    def conflicts(self, limit: int = 5) -> str:
        """The first `limit` changed rates as text, for an error message."""
        shown = [f"{r.currency} on {r.rate_date}: stored {old}, file {r.rate}" for r, old in self.changed[:limit]]
        more = len(self.changed) - limit
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def plan_import(rates: Iterable[ReferenceRate], stored: Mapping[tuple[str, date], Decimal]) -> ImportPlan:
    """Compare a file's rates with the stored ones {(currency, day): rate}."""
    new: list[ReferenceRate] = []
    changed: list[tuple[ReferenceRate, Decimal]] = []
    unchanged = 0
    for r in rates:
        old = stored.get((r.currency, r.rate_date))
        if old is None:
            new.append(r)
        elif old == r.rate:  # Decimal equality ignores trailing zeros
            unchanged += 1
        else:
            changed.append((r, old))
    return ImportPlan(tuple(new), tuple(changed), unchanged)
