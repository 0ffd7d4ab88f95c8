"""Money: a Decimal amount in an ISO 4217 currency, with explicit rounding.

Amounts are never floats. Rounding is always named at the call site; invoice amounts follow
EN 16931, which rounds line net amounts, VAT per category and document totals to two decimals
(half away from zero, the convention of the EN 16931 examples and of the Peppol rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ZERO = Decimal("0")
TWO_PLACES = CENT = Decimal("0.01")  # one cent: the two decimals of EN 16931 amounts


class MoneyError(ValueError):
    """A value that cannot be money: not a number, float given, or currencies mixed."""


def D(value: str | int | Decimal) -> Decimal:
    """The one way to make a Decimal from outside data; floats are refused because they are inexact."""
    if isinstance(value, float):
        raise MoneyError(f"float {value!r} refused: pass a string or Decimal")
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise MoneyError(f"not a decimal number: {value!r}") from exc
    if not result.is_finite():
        raise MoneyError(f"not a finite number: {value!r}")
    return result


def round2(value: Decimal) -> Decimal:
    """Round to cents, half away from zero (EN 16931 amounts carry at most two decimals)."""
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        return cls(D(amount), currency.upper())

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def rounded(self) -> Money:
        return Money(round2(self.amount), self.currency)

    def __str__(self) -> str:
        return f"{self.amount:,.2f} {self.currency}"
