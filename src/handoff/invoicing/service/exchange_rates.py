"""Exchange rates: importing the ECB's reference rates, and the rate in force on a day.

`import_rates` stores an ECB eurofxref file (daily, 90-day or full history) in one transaction,
audited: a rate already stored with the same value is left alone, so importing a file again
changes nothing (and is not audited); a different rate for a stored day is refused with nothing
written, unless `replace` (the ECB corrects a published rate only exceptionally: replacing is a
decision a person takes, and the audit entry keeps the rates it overwrote).

`rate_for` / `rate_in` give the rate in force on a day (`invoicing.domain.exchange_rates`: the
most recent ECB day on or before it, at most a week back, crossed through EUR). Issuing takes the
rate of the issue date from here for an invoice in another currency than its seller's (BT-111),
before the configured `exchange_rates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx

from handoff.context import AppContext
from handoff.invoicing.connectors import ecb as ecb_feed
from handoff.invoicing.domain.exchange_rates import (
    EUR,
    LOOKBACK_DAYS,
    ExchangeRateError,
    FxRate,
    ReferenceRate,
    by_day,
    lookback_start,
    plan_import,
    rate_on,
)
from handoff.invoicing.formats import ecb
from handoff.invoicing.repository.exchange_rates import ExchangeRateRepository
from handoff.kernel.storage.unit_of_work import UnitOfWork

__all__ = [
    "LOOKBACK_DAYS",
    "ExchangeRateError",
    "FxRate",
    "ImportResult",
    "RateConflict",
    "RatesInForce",
    "fetch_rates",
    "import_rates",
    "rate_for",
    "rate_in",
    "rates_in_force",
]


class RateConflict(ExchangeRateError):
    """The file has another rate for a day already stored, and replacing was not asked for."""


@dataclass(frozen=True)
class ImportResult:
    source: str
    first_day: date
    last_day: date
    days: int
    added: int
    replaced: int
    unchanged: int


@dataclass(frozen=True)
class RatesInForce:
    """The rates stored for `day`, the most recent ECB day on or before `on`; `in_force`: within
    the look-back, so issuing uses them (else they are only the latest there are)."""

    on: date
    day: date
    rates: list[ReferenceRate]
    in_force: bool


def _read(source: bytes | str | Path, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, name or "ECB rates"
    path = Path(source)
    try:
        return path.read_bytes(), name or path.name
    except OSError as exc:
        raise ExchangeRateError(f"{path}: cannot be read: {exc.strerror or exc}", "file") from exc


def import_rates(
    ctx: AppContext,
    source: bytes | str | Path,
    actor: str,
    *,
    replace: bool = False,
    name: str | None = None,
) -> ImportResult:
    """Store the ECB rates of `source` (a file's path, or its bytes named `name`), all or nothing.
    Raises ExchangeRateError (a bad file: EcbFileError; a changed rate without `replace`: RateConflict)."""
    data, name = _read(source, name)
    rates = ecb.parse(data, name)
    days = sorted({r.rate_date for r in rates})
    first, last = days[0], days[-1]
    origin = f"{ecb.SOURCE}:{name}"[:64]
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(ExchangeRateRepository)
        stored = {(r.currency, r.rate_date): r.rate for r in repo.between(first, last)}
        plan = plan_import(rates, stored)
        if plan.changed and not replace:
            raise RateConflict(
                f"{name}: {len(plan.changed)} rate(s) differ from those stored, nothing imported "
                f"(import with --replace to overwrite them): {plan.conflicts()}",
                "rate",
            )
        result = ImportResult(name, first, last, len(days), len(plan.new), len(plan.changed), plan.unchanged)
        if plan.changes_nothing:
            return result  # the same file again: nothing to write, nothing to audit
        repo.add(list(plan.new), origin, now)
        repo.replace([r for r, _ in plan.changed], origin, now)
        uow.audit(
            at=now,
            actor=actor,
            action="exchange_rates.imported",
            entity_type="exchange_rates",
            entity_id=f"{EUR}:{first}/{last}",
            reason=f"ECB reference rates imported from {name}",
            before={f"{r.currency} {r.rate_date}": str(old) for r, old in plan.changed} or None,
            after={
                "source": origin,
                "days": len(days),
                "added": len(plan.new),
                "replaced": {f"{r.currency} {r.rate_date}": str(r.rate) for r, _ in plan.changed},
                "unchanged": plan.unchanged,
            },
        )
        uow.commit()
    return result


def fetch_rates(
    ctx: AppContext,
    actor: str,
    url: str | None = None,
    *,
    replace: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> ImportResult:
    """Fetch the ECB file at `url` (default: today's rates) and import it as `import_rates` does.
    Raises DeliveryError when the file cannot be fetched (nothing stored), else as `import_rates`."""
    url = url or ecb_feed.DAILY_URL
    data = ecb_feed.fetch(url, transport)
    return import_rates(ctx, data, actor, replace=replace, name=ecb_feed.file_name(url))


def _needed(from_currency: str, to_currency: str) -> tuple[str, ...]:
    return tuple(sorted({from_currency, to_currency} - {EUR}))


def _rate(repo: ExchangeRateRepository, from_currency: str, to_currency: str, on: date) -> FxRate | None:
    if from_currency == to_currency:
        return rate_on(from_currency, to_currency, on, {})
    stored = repo.between(lookback_start(on), on, _needed(from_currency, to_currency))
    return rate_on(from_currency, to_currency, on, by_day(stored))


def rate_in(uow: UnitOfWork, from_currency: str, to_currency: str, on: date) -> FxRate | None:
    """Units of `to_currency` per unit of `from_currency` in force on `on`, from the stored ECB
    rates, in `uow`'s transaction (None: no ECB day within the look-back has both)."""
    return _rate(uow.repository(ExchangeRateRepository), from_currency, to_currency, on)


def rate_for(ctx: AppContext, from_currency: str, to_currency: str, on: date) -> FxRate | None:
    """As `rate_in`, outside any transaction."""
    return _rate(ExchangeRateRepository(ctx.engine), from_currency, to_currency, on)


def rates_in_force(ctx: AppContext, on: date) -> RatesInForce | None:
    """The stored rates of the most recent ECB day on or before `on` (None: none stored)."""
    repo = ExchangeRateRepository(ctx.engine)
    day = repo.latest_day(on)
    if day is None:
        return None
    return RatesInForce(on, day, repo.between(day, day), day >= lookback_start(on))
