"""Opening a project queues its push to the project tool in the same transaction, on SQLite and
PostgreSQL: after `open_projects` (the worker's job, nothing else called) the project and its outbox
row are both there; a failure after the push was queued rolls both back; without a configured tool
nothing is queued."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from handoff.config import ConnectorsModel, ProjectToolModel
from handoff.context import AppContext
from handoff.contracts.service import contracts
from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.projects.service import projects
from handoff.worker.loop import DEFAULT_JOBS
from tests.e2e.contract_builders import BUYER
from tests.e2e.project_builders import services_version

FINANCE = "finance@acme.example"
SYSTEM = "automation:test"


def _configured(ctx: AppContext) -> AppContext:
    tool = ProjectToolModel(url="https://tool.example/api/projects")
    model = ctx.config.model.model_copy(update={"connectors": ConnectorsModel(project_tool=tool)})
    return dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, model=model))


def _stored(ctx: AppContext) -> tuple[list[str], list[tuple[str, str]]]:
    """(project ids, (key, status) of the project tool's outbox rows)."""
    ob = schema.outbox
    with ctx.engine.connect() as conn:
        pids = list(conn.execute(select(schema.projects.c.project_id).order_by(schema.projects.c.project_id)).scalars())
        rows = [
            (r.key, r.status)
            for r in conn.execute(
                select(ob.c.key, ob.c.status).where(ob.c.channel == "project_tool").order_by(ob.c.key)
            )
        ]
    return pids, rows


def _lock(ctx: AppContext, *contract_ids: str) -> None:
    for cid in contract_ids:
        contracts.lock(ctx, services_version(cid, FINANCE), BUYER, FINANCE, "won quote")


def test_the_worker_job_opens_and_queues_in_one_transaction(ctx: AppContext) -> None:
    ctx = _configured(ctx)
    _lock(ctx, "C-1", "C-2")
    (job,) = [j for j in DEFAULT_JOBS if j.name == "open_projects"]
    job.run(ctx)
    assert _stored(ctx) == (
        ["PRJ-C-1", "PRJ-C-2"],
        [("project_tool:PRJ-C-1", "pending"), ("project_tool:PRJ-C-2", "pending")],
    )
    job.run(ctx)  # nothing new: nothing opened, nothing queued again
    assert len(_stored(ctx)[1]) == 2


def test_a_failure_after_queueing_rolls_back_project_and_push(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _configured(ctx)
    _lock(ctx, "C-1")
    flush = UnitOfWork._flush_audit

    def crash(self: UnitOfWork) -> None:  # the outbox row is written in the transaction, then it fails
        ob = schema.outbox
        queued = self.conn.execute(select(ob.c.key).where(ob.c.channel == "project_tool")).scalars().all()
        assert queued == ["project_tool:PRJ-C-1"]
        raise RuntimeError("crash after the push was queued")

    monkeypatch.setattr(UnitOfWork, "_flush_audit", crash)
    with pytest.raises(RuntimeError, match="crash"):
        projects.open_projects(ctx, SYSTEM)
    assert _stored(ctx) == ([], [])  # neither the project nor its push
    monkeypatch.setattr(UnitOfWork, "_flush_audit", flush)
    assert projects.open_projects(ctx, SYSTEM) == ["PRJ-C-1"]
    assert _stored(ctx) == (["PRJ-C-1"], [("project_tool:PRJ-C-1", "pending")])


def test_open_project_queues_too_and_nothing_without_a_tool(ctx: AppContext) -> None:
    _lock(ctx, "C-1", "C-2")
    projects.open_project(ctx, "C-1", SYSTEM)  # no tool configured
    assert _stored(ctx) == (["PRJ-C-1"], [])
    projects.open_project(_configured(ctx), "C-2", SYSTEM)
    assert _stored(ctx) == (["PRJ-C-1", "PRJ-C-2"], [("project_tool:PRJ-C-2", "pending")])
    ob = schema.outbox
    with ctx.engine.connect() as conn:
        payload = conn.execute(select(ob.c.payload).where(ob.c.key == "project_tool:PRJ-C-2")).scalar_one()
    assert (payload["project"]["project_id"], payload["project"]["contract_id"]) == ("PRJ-C-2", "C-2")
