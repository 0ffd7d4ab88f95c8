"""Job-run storage: the SQL behind the worker's once-per-period jobs (`job_runs`).

A run is keyed by (job, period); the worker whose insert lands owns it, and a run left unfinished
past its lease may be taken over. Every method runs inside the caller's unit of work.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, update

from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.unit_of_work import UnitOfWork


class JobRunRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    def take(self, job: str, period: str, worker_id: str, now: datetime, lease: timedelta) -> bool:
        """Whether `worker_id` now owns the run of `job` for `period`: a new run, or one whose owner
        started it more than `lease` ago and never finished."""
        runs = schema.job_runs
        insert_many(
            self._conn,
            runs,
            [{"job": job, "period": period, "worker": worker_id, "started_at": now}],
            ignore_conflicts_on=["job", "period"],
        )
        # Take over a run whose owner died; our own fresh insert matches too (worker = us).
        mine_or_abandoned = (runs.c.worker == worker_id) | (runs.c.started_at < now - lease)
        taken = self._conn.execute(
            update(runs)
            .where(and_(runs.c.job == job, runs.c.period == period, runs.c.finished_at.is_(None), mine_or_abandoned))
            .values(worker=worker_id, started_at=now)
        ).rowcount
        return taken == 1

    def finish(self, job: str, period: str, worker_id: str, at: datetime) -> None:
        runs = schema.job_runs
        self._conn.execute(
            update(runs)
            .where(runs.c.job == job, runs.c.period == period, runs.c.worker == worker_id)
            .values(finished_at=at)
        )
