"""Worker loop and once-per-period jobs, as several workers would run them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.service.intake import receive
from handoff.kernel.storage import schema
from handoff.notifications.channels.log import LogChannel
from handoff.worker.loop import one_pass
from handoff.worker.scheduler import Job, claim, run_due, weekly
from tests.builders import event
from tests.conftest import Clock

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_a_job_runs_once_per_period_across_workers(ctx: AppContext, clock: Clock) -> None:
    runs: list[str] = []
    job = Job("digest", weekly, lambda c: runs.append(weekly(c.clock())))
    assert run_due(ctx, [job], "w1") == [("digest", "2026-W45")]
    assert run_due(ctx, [job], "w2") == []
    assert run_due(ctx, [job], "w1") == []
    clock.advance(days=7)
    assert run_due(ctx, [job], "w2") == [("digest", "2026-W46")]
    assert runs == ["2026-W45", "2026-W46"]


def test_a_dead_workers_job_is_taken_over_after_its_lease(ctx: AppContext, clock: Clock) -> None:
    job = Job("digest", weekly, lambda c: None, lease=timedelta(minutes=30))
    assert claim(ctx, job, "w1") == "2026-W45"  # w1 dies before finishing
    assert claim(ctx, job, "w2") is None
    clock.advance(minutes=31)
    assert claim(ctx, job, "w2") == "2026-W45"
    with ctx.engine.connect() as conn:
        assert conn.execute(select(schema.job_runs.c.worker)).scalar_one() == "w2"


def test_one_pass_applies_issues_delivers_and_sends_the_digest(ctx: AppContext, tmp_path) -> None:  # type: ignore[no-untyped-def]
    auto = replace(
        ctx,
        config=replace(
            ctx.config,
            model=ctx.config.model.model_copy(
                update={"automation": ctx.config.model.automation.model_copy(update={"issue_drafts": True})}
            ),
        ),
    )
    receive(auto, [event("e1", T0), event("e2", T0, deal_id="D-2", po_number="")])
    channel = LogChannel(tmp_path / "notices.log")
    result = one_pass(auto, {"email": channel, "log": channel}, "w1")
    assert (result.applied, result.issued) == (2, 1)
    assert result.jobs == [
        ("weekly_digest", "2026-W45"),
        ("daily_dunning", "2026-11-02"),
        ("compact_state_counts", "2026-11-02T09"),
        ("tax_retry", "2026-11-02T09:00"),
        ("open_projects", "2026-11-02T09"),
        ("delivery_posting", "2026-11-02"),
        ("usage_rating", "2026-11-02"),
        ("billing_run", "2026-11-02"),
        ("delivery_health", "2026-11-02"),
    ]
    assert result.delivered >= 4  # exception, task, invoice e-mail, their log lines; the digest next pass
    assert one_pass(auto, {"email": channel, "log": channel}, "w1").delivered == 1  # the digest
    sent = (tmp_path / "notices.log").read_text()
    assert "Weekly billing digest 2026-W45" in sent and "INV-DE-2026-000001" in sent
