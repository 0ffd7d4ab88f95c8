"""Scheduled jobs (weekly digest, daily dunning, CRM polling) that run once per period, however
many workers run.

A job run is keyed by (job, period), e.g. ("digest", "2026-W48"). The first worker to insert that
row owns the run; the others skip it. A run whose owner died (started, never finished, older than
its lease) may be taken over, so a killed worker does not lose the week's digest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from handoff.context import AppContext
from handoff.kernel.storage.schedule import JobRunRepository


def weekly(now: datetime) -> str:
    return now.strftime("%G-W%V")


def daily(now: datetime) -> str:
    return now.date().isoformat()


def hourly(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H")


def every(minutes: int) -> Callable[[datetime], str]:
    """Periods of `minutes` minutes, counted from the epoch so every worker cuts them alike."""
    width = minutes * 60

    def period(now: datetime) -> str:
        start = int(now.timestamp()) // width * width
        return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M")

    return period


@dataclass(frozen=True)
class Job:
    name: str
    period: Callable[[datetime], str]
    run: Callable[[AppContext], object]
    lease: timedelta = timedelta(minutes=30)


def claim(ctx: AppContext, job: Job, worker_id: str) -> str | None:
    """The period this worker now owns for `job`, or None when another worker has it."""
    now = ctx.clock()
    period = job.period(now)
    with ctx.unit_of_work() as uow:
        taken = uow.repository(JobRunRepository).take(job.name, period, worker_id, now, job.lease)
        uow.commit()
    return period if taken else None


def finish(ctx: AppContext, job: Job, period: str, worker_id: str) -> None:
    with ctx.unit_of_work() as uow:
        uow.repository(JobRunRepository).finish(job.name, period, worker_id, ctx.clock())
        uow.commit()


def run_due(ctx: AppContext, jobs: list[Job], worker_id: str) -> list[tuple[str, str]]:
    """Run every job whose current period nobody has run yet; (job, period) for each run here."""
    ran = []
    for job in jobs:
        period = claim(ctx, job, worker_id)
        if period is None:
            continue
        job.run(ctx)
        finish(ctx, job, period, worker_id)
        ran.append((job.name, period))
    return ran
