"""Subscriptions: a contract's usage line, the metric it bills and its price.

A usage line (`billing: usage` on the deal, `BillingKind.USAGE` on the contract) bills the metric
its `usage_prices` row names, else the metric whose code is the line's product; its price is that
row's, else per unit at the line's `unit_price` (`usage.domain.pricing.per_unit`). It takes events
from its start (the rule's, else the contract's billing start) until its end (exclusive), while the
contract is active.

Lines come from the contract's current version, parsed once per content hash (a version never
changes: the same hash is the same content), so a batch naming thousands of subscriptions reads
their contracts with two queries and parses only versions it has not seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import orjson

from handoff.context import AppContext
from handoff.contracts.domain.model import BillingKind, ContractVersion
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.usage.domain.pricing import UsagePrice, per_unit, price_from_json
from handoff.usage.repository.events import ContractRef, UsageEventRepository
from handoff.usage.repository.metrics import MetricRepository, PriceRow

ACTIVE = "active"
_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class UsageLine:
    """A contract's usage line as the current version has it."""

    contract_id: str
    line_key: str
    product: str
    description: str
    unit_price: Decimal
    unit_code: str
    tax_category: str
    supply: str
    start: date  # first day it takes usage
    end: date | None  # first day it no longer does (None: open)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A usage line with its contract, metric and price (`price_version` 0: the default price)."""

    contract: ContractRef
    line: UsageLine
    metric: str
    price: UsagePrice
    price_version: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.contract.contract_id, self.line.line_key)

    @property
    def active(self) -> bool:
        return self.contract.status == ACTIVE


_lines: dict[str, tuple[UsageLine, ...]] = {}


def lines_of(version: ContractVersion) -> tuple[UsageLine, ...]:
    """The usage lines of a contract version."""
    return tuple(
        UsageLine(
            contract_id=version.contract_id,
            line_key=line.key,
            product=line.product,
            description=line.description,
            unit_price=line.unit_price,
            unit_code=line.unit_code,
            tax_category=line.tax_category,
            supply=line.supply,
            start=line.rule.start or version.terms.billing_start,
            end=line.rule.end,
        )
        for line in version.lines
        if line.rule.kind is BillingKind.USAGE
    )


def _usage_lines(repo: UsageEventRepository, refs: Sequence[ContractRef]) -> dict[str, tuple[UsageLine, ...]]:
    missing = [r for r in refs if r.content_hash not in _lines]
    if missing:
        if len(_lines) > _CACHE_LIMIT:
            _lines.clear()
        contents = repo.contract_contents((r.contract_id, r.version) for r in missing)
        for r in missing:
            content = contents.get((r.contract_id, r.version))
            _lines[r.content_hash] = () if content is None else lines_of(ContractVersion.from_json(content))
    return {r.contract_id: _lines[r.content_hash] for r in refs}


_prices: dict[tuple[str, Decimal | bytes], tuple[UsagePrice, int]] = {}


def price_of(line: UsageLine, row: PriceRow | None) -> tuple[str, UsagePrice, int]:
    """(metric, price, version) of a usage line: its price row's, else the default. Prices are
    memoised by their content (a batch naming thousands of subscriptions parses each price once)."""
    key: tuple[str, Decimal | bytes]
    key = (
        ("", line.unit_price)
        if row is None
        else (str(row.version), orjson.dumps(row.price, option=orjson.OPT_SORT_KEYS))
    )
    found = _prices.get(key)
    if found is None:
        if len(_prices) > _CACHE_LIMIT:
            _prices.clear()
        if row is None:
            found = (per_unit(line.unit_price), 0)
        else:
            record = f"usage price of contract {line.contract_id} line {line.line_key}"
            found = (price_from_json(row.price, record), row.version)
        _prices[key] = found
    return (line.product if row is None else row.metric), found[0], found[1]


# the subscriptions of a contract without price rows, by its state as read (status, current
# version and content hash included: any change makes another key)
_default_priced: dict[ContractRef, tuple[Subscription, ...]] = {}


def subscriptions(
    on: UnitOfWork | AppContext, contract_ids: Iterable[str] = (), customer_ids: Iterable[str] = ()
) -> list[Subscription]:
    """Every usage line of the contracts `contract_ids` and of the customers' contracts (any
    status: callers check `active`), with its metric and price, in contract and line order; read
    in the unit of work's transaction, or outside any (a context)."""
    events = UsageEventRepository(on if isinstance(on, UnitOfWork) else on.engine)
    refs = events.contracts(contract_ids, customer_ids)
    if not refs:
        return []
    lines = _usage_lines(events, refs)
    with_lines = [r for r in refs if lines[r.contract_id]]
    prices = MetricRepository(on if isinstance(on, UnitOfWork) else on.engine).prices(r.contract_id for r in with_lines)
    priced = {contract_id for contract_id, _ in prices}
    found: list[Subscription] = []
    for ref in sorted(with_lines, key=lambda r: r.contract_id):
        if ref.contract_id not in priced:  # default prices only: built once per contract state
            built = _default_priced.get(ref)
            if built is None:
                if len(_default_priced) > _CACHE_LIMIT:
                    _default_priced.clear()
                built = _default_priced[ref] = tuple(
                    Subscription(ref, line, *price_of(line, None)) for line in lines[ref.contract_id]
                )
            found.extend(built)
            continue
        for line in lines[ref.contract_id]:
            metric, price, version = price_of(line, prices.get((ref.contract_id, line.line_key)))
            found.append(Subscription(ref, line, metric, price, version))
    return found
