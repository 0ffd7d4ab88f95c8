"""Reporting storage: the only SQL for the dashboard, `GET /api/v1/metrics` and the weekly digest.

Reporting owns no table of its own; it is a read model across capabilities' tables (orders and their
state counts, the exception queue), so this repository reads them. What is open and overdue on
invoices comes from invoicing's ledger instead (`invoicing.service.ledger`), which counts payments
and credits. Its one write folds the `order_state_counts` deltas, which only reporting reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ARRAY, Engine, Float, delete, func, insert, select
from sqlalchemy.dialects import postgresql

from handoff.deals.domain.readiness import Problem
from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.reporting.domain import CycleBasis

Buckets = Sequence[tuple[int, int, str]]  # (low, high, label), in days
DAY = 86400


class StateCounts(NamedTuple):
    """Orders by state, and those that ever had an exception by state (states with orders only)."""

    counts: dict[str, int]
    flagged: dict[str, int]


class CycleFigures(NamedTuple):
    """Deals invoiced in a window: how many, how many untouched, cycle-time percentiles (seconds),
    and how many were measured from each basis (close date, intake)."""

    invoiced: int
    untouched: int
    median_seconds: float | None
    p90_seconds: float | None
    buckets: dict[str, int]
    basis: dict[str, int]


class DashboardFigures(NamedTuple):
    states: StateCounts
    aging: dict[str, int]
    cycle: CycleFigures


@dataclass(frozen=True, slots=True)
class OpenException:
    owner: str
    deal_id: str
    deal_name: str
    problems: tuple[Problem, ...]
    opened_at: datetime


def _interpolated(ordered: list[int], q: float) -> float:
    """The q-quantile of sorted values, interpolated between neighbours (as PostgreSQL's
    percentile_cont), so both engines report the same figure."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class ReportingRepository:
    """Reads on the engine: each read takes its own connection, so `dashboard` can run its reads at once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def dashboard(
        self, now: datetime, window_start: datetime, age_buckets: Buckets, cycle_buckets: Buckets
    ) -> DashboardFigures:
        """Everything the metrics need, each part on its own connection. On PostgreSQL they run at
        once (the server works on them in parallel, so the dashboard costs its slowest query, not the
        sum); SQLite runs them in turn."""
        parts: dict[str, Callable[[], Any]] = {
            "states": self.state_counts,
            "aging": lambda: self.exception_aging(now, age_buckets),
            "cycle": lambda: self.cycle(window_start, cycle_buckets),
        }
        if self._engine.dialect.name != "postgresql":
            results = {name: part() for name, part in parts.items()}
        else:
            with ThreadPoolExecutor(max_workers=len(parts)) as pool:
                futures = {name: pool.submit(part) for name, part in parts.items()}
                results = {name: future.result() for name, future in futures.items()}
        return DashboardFigures(results["states"], results["aging"], results["cycle"])

    def state_counts(self) -> StateCounts:
        """From the counts the database keeps (`order_state_counts`): a few rows, however many
        orders there are."""
        c = schema.order_state_counts
        counts: dict[str, int] = {}
        flagged: dict[str, int] = {}
        with self._engine.connect() as conn:
            for state, had_exception, n in conn.execute(
                select(c.c.state, c.c.had_exception, func.sum(c.c.n)).group_by(c.c.state, c.c.had_exception)
            ):
                counts[state] = counts.get(state, 0) + int(n)
                if had_exception:
                    flagged[state] = flagged.get(state, 0) + int(n)
        return StateCounts({s: n for s, n in counts.items() if n}, flagged)

    def exception_aging(self, now: datetime, buckets: Buckets) -> dict[str, int]:
        """Open exceptions by age in whole days: age in [lo, hi] is opened_at in (now-(hi+1)d, now-lo d]."""
        ex = schema.exceptions
        columns = [
            func.count().filter(
                ex.c.opened_at <= now - timedelta(days=lo), ex.c.opened_at > now - timedelta(days=min(hi, 36500) + 1)
            )
            for lo, hi, _ in buckets
        ]
        with self._engine.connect() as conn:
            counts = conn.execute(select(*columns).where(ex.c.status == "open")).one()
        return {label: int(n) for (*_, label), n in zip(buckets, counts, strict=True)}

    def cycle(self, since: datetime, buckets: Buckets) -> CycleFigures:
        """Deals invoiced since `since`. Reads `cycle_seconds` and `cycle_basis`, kept on each order
        when it is invoiced: on PostgreSQL one index-only scan of the window (time arithmetic per row
        would cost more than the scan). Percentiles in PostgreSQL; SQLite has no percentile function,
        so there the window's values come sorted from the database and are interpolated here."""
        o = schema.orders
        seconds = o.c.cycle_seconds
        window = o.c.invoiced_at >= since
        spread = [func.count().filter(seconds >= lo * DAY, seconds < hi * DAY) for lo, hi, _ in buckets]
        bases = [func.count().filter(o.c.cycle_basis == basis.value) for basis in CycleBasis]
        columns = [func.count(), func.count().filter(~o.c.had_exception, ~o.c.touched_by_person), *spread, *bases]
        with self._engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                columns.append(
                    func.percentile_cont(postgresql.array([0.5, 0.9]), type_=ARRAY(Float)).within_group(seconds)
                )
            count, clean, *rest = conn.execute(select(*columns).where(window)).one()
            by_bucket = {label: int(n) for (*_, label), n in zip(buckets, rest[: len(buckets)], strict=True)}
            basis_counts = rest[len(buckets) : len(buckets) + len(bases)]
            by_basis = {b.value: int(n) for b, n in zip(CycleBasis, basis_counts, strict=True)}
            if not count:
                return CycleFigures(0, 0, None, None, by_bucket, by_basis)
            if postgres:
                p50, p90 = rest[-1]
            else:
                ordered = list(conn.execute(select(seconds).where(window).order_by(seconds)).scalars())
                p50, p90 = _interpolated(ordered, 0.5), _interpolated(ordered, 0.9)
        return CycleFigures(count, clean, p50, p90, by_bucket, by_basis)

    def open_exceptions(self) -> list[OpenException]:
        """The open exception queue, by owner and then oldest first."""
        ex, o = schema.exceptions, schema.orders
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(ex.c.owner, ex.c.deal_id, ex.c.problems, ex.c.opened_at, o.c.data)
                .join(o, o.c.id == ex.c.order_id)
                .where(ex.c.status == "open")
                .order_by(ex.c.owner, ex.c.opened_at)
            ).all()
        return [
            OpenException(
                r.owner,
                r.deal_id,
                r.data.get("deal_name", ""),
                tuple(Problem(p["code"], p["field"], p["message"]) for p in r.problems),
                r.opened_at,
            )
            for r in rows
        ]

    def orders_by_state(self) -> dict[str, int]:
        o = schema.orders
        with self._engine.connect() as conn:
            counts: dict[str, int] = dict(conn.execute(select(o.c.state, func.count()).group_by(o.c.state)).all())
        return counts


class StateCountsRepository:
    """The one write of reporting, inside the caller's unit of work."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    def fold(self) -> int:
        """Replace the state-count deltas by one row per (state, had_exception); the number of rows
        folded. Safe beside writers and other compactions: the rows deleted are replaced by their
        sum in the same transaction, so the totals never change."""
        c = schema.order_state_counts
        rows = self._conn.execute(delete(c).returning(c.c.state, c.c.had_exception, c.c.n)).all()
        sums: dict[tuple[str, bool], int] = {}
        for state, had_exception, n in rows:
            sums[(state, bool(had_exception))] = sums.get((state, bool(had_exception)), 0) + n
        folded = [{"state": s, "had_exception": h, "n": n} for (s, h), n in sorted(sums.items()) if n]
        if folded:
            self._conn.execute(insert(c), folded)
        return len(rows)
