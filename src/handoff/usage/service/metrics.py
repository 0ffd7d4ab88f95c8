"""Billable metrics and usage prices: define, list, price a usage line.

Metrics live in the database (`billable_metrics`, versioned, audited). The business config's
`usage.metrics` seeds them: a configured code the database lacks is added (source `config`), and
a metric still owned by the config (source `config`) follows the file when its definition there
changes; once changed through the API or the CLI the database's definition wins. A change applies
to events received afterwards; aggregates already kept are not recomputed.

A usage line's price is per unit at the line's `unit_price`, metric = the line's product, until
finance sets one (`set_price`: any `usage.domain.pricing` model, with free units, a minimum
commitment and prepaid credits), versioned and audited per (contract, line).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handoff.context import AppContext
from handoff.usage.domain.events import UsageError
from handoff.usage.domain.metrics import BillableMetric, metric_from_json, metric_to_json
from handoff.usage.domain.pricing import UsagePrice, price_from_json, price_to_json
from handoff.usage.repository.metrics import MetricRepository, MetricRow, PriceRow
from handoff.usage.service.access import check_finance
from handoff.usage.service.subscriptions import Subscription, subscriptions

CONFIG_ACTOR = "automation:config"

__all__ = [
    "MetricView",
    "PriceView",
    "define_metric",
    "get_metric",
    "list_metrics",
    "load_metrics",
    "price_of_line",
    "seed_metrics",
    "set_price",
]


@dataclass(frozen=True, slots=True)
class MetricView:
    """A billable metric with its version and who changed it last."""

    metric: BillableMetric
    version: int
    source: str  # config | api | cli
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PriceView:
    """A usage line's metric and price (`version` 0: the default, per unit at the line's price)."""

    contract_id: str
    line_key: str
    metric: str
    price: UsagePrice
    version: int


def _view(row: MetricRow) -> MetricView:
    return MetricView(metric_from_json(row.definition), row.version, row.source, row.updated_by, row.updated_at)


def _configured(ctx: AppContext) -> dict[str, dict[str, Any]]:
    docs = ctx.config.model.usage.metrics
    return {metric_from_json(doc).code: metric_to_json(metric_from_json(doc)) for doc in docs}


def seed_metrics(ctx: AppContext, actor: str = CONFIG_ACTOR) -> list[str]:
    """Add the configured metrics the database lacks, and follow the file for those it still owns
    (source `config`) whose definition changed there; the codes written (one transaction)."""
    configured = _configured(ctx)
    if not configured:
        return []
    now = ctx.clock()
    written: list[str] = []
    with ctx.unit_of_work() as uow:
        repo = uow.repository(MetricRepository)
        stored = {row.code: row for row in repo.metrics()}
        for code, definition in sorted(configured.items()):
            row = stored.get(code)
            if row is not None and (row.source != "config" or row.definition == definition):
                continue
            new = MetricRow(
                code, definition["name"], definition, 1 if row is None else row.version + 1, "config", actor, now
            )
            if row is None:
                repo.add_metric(new)
            else:
                repo.change_metric(new)
            uow.audit(
                at=now,
                actor=actor,
                action="usage.metric_defined",
                entity_type="billable_metric",
                entity_id=code,
                reason=f"billable metric {code} version {new.version} from the business config",
                before=None if row is None else row.definition,
                after=definition,
            )
            written.append(code)
        if written:
            uow.commit()
    return written


def load_metrics(ctx: AppContext) -> dict[str, BillableMetric]:
    """Every billable metric by code (seeding the configured ones first when the database lacks
    one or the file changed one it owns)."""
    rows = MetricRepository(ctx.engine).metrics()
    configured = _configured(ctx)
    if configured:
        stored = {r.code: r for r in rows}
        stale = any(
            code not in stored or (stored[code].source == "config" and stored[code].definition != d)
            for code, d in configured.items()
        )
        if stale:
            seed_metrics(ctx)
            rows = MetricRepository(ctx.engine).metrics()
    return {r.code: metric_from_json(r.definition) for r in rows}


def list_metrics(ctx: AppContext) -> list[MetricView]:
    """Every billable metric with its version, by code."""
    load_metrics(ctx)
    return [_view(r) for r in MetricRepository(ctx.engine).metrics()]


def get_metric(ctx: AppContext, code: str) -> MetricView | None:
    load_metrics(ctx)
    row = MetricRepository(ctx.engine).metric(code)
    return None if row is None else _view(row)


def define_metric(ctx: AppContext, doc: Mapping[str, Any], actor: str, *, source: str = "api") -> MetricView:
    """Add a billable metric or change one (its next version), audited; UsageError naming the
    field when the definition is invalid, or the actor when they may not."""
    metric = metric_from_json(doc)
    check_finance(ctx, actor, f"billable metric {metric.code}")
    definition = metric_to_json(metric)
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(MetricRepository)
        row = repo.metric(metric.code, lock=True)
        if row is not None and row.definition == definition and row.source == source:
            return _view(row)
        new = MetricRow(metric.code, metric.name, definition, 1 if row is None else row.version + 1, source, actor, now)
        if row is None:
            repo.add_metric(new)
        else:
            repo.change_metric(new)
        uow.audit(
            at=now,
            actor=actor,
            action="usage.metric_defined",
            entity_type="billable_metric",
            entity_id=metric.code,
            reason=f"billable metric {metric.code} version {new.version}",
            before=None if row is None else row.definition,
            after=definition,
        )
        uow.commit()
    return _view(new)


def _line(ctx: AppContext, contract_id: str, line_key: str) -> Subscription:
    record = f"contract {contract_id} line {line_key}"
    found = subscriptions(ctx, [contract_id])
    for sub in found:
        if sub.line.line_key == line_key:
            return sub
    if not found:
        raise UsageError(record, "contract_id", "names no contract with usage lines")
    keys = ", ".join(sub.line.line_key for sub in found)
    raise UsageError(record, "line_key", f"is not a usage line of the contract ({keys})")


def price_of_line(ctx: AppContext, contract_id: str, line_key: str) -> PriceView:
    """The usage line's metric and price in force (the default when none was set)."""
    sub = _line(ctx, contract_id, line_key)
    return PriceView(contract_id, line_key, sub.metric, sub.price, sub.price_version)


def set_price(
    ctx: AppContext,
    contract_id: str,
    line_key: str,
    doc: Mapping[str, Any],
    actor: str,
    *,
    metric: str | None = None,
) -> PriceView:
    """Price a contract's usage line (`doc`: `usage.domain.pricing.price_from_json`; `metric`: the
    metric it bills, default the one it bills now), its next version, audited. UsageError naming
    the field (price, metric, line) or the actor. Aggregates not rated yet are rated at the price
    in force when the rating runs."""
    record = f"usage price of contract {contract_id} line {line_key}"
    check_finance(ctx, actor, record)
    price = price_from_json(doc, record)
    sub = _line(ctx, contract_id, line_key)
    code = sub.metric if metric is None else metric
    if not code or load_metrics(ctx).get(code) is None:
        raise UsageError(record, "metric", f"is not a known billable metric ({code!r})")
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo = uow.repository(MetricRepository)
        row = repo.price(contract_id, line_key, lock=True)
        new = PriceRow(
            contract_id, line_key, code, price_to_json(price), 1 if row is None else row.version + 1, actor, now
        )
        repo.put_price(new)
        uow.audit(
            at=now,
            actor=actor,
            action="usage.price_set",
            entity_type="contract",
            entity_id=contract_id,
            reason=f"line {line_key}: metric {code}, {price.model.value} price version {new.version}",
            before=None if row is None else {"metric": row.metric, "price": row.price},
            after={"line_key": line_key, "metric": code, "price": new.price},
        )
        uow.commit()
    return PriceView(contract_id, line_key, code, price, new.version)
