"""Delivery health from stored work, and its alerts raised once through the outbox (SQLite and
PostgreSQL). The numbers are worked out in `health_setup`'s docstring."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.kernel.storage import schema
from handoff.notifications.channels.slack import blocks
from handoff.projects.domain.signals import AcceptanceInput
from handoff.projects.service import health
from handoff.projects.service.delivery import record_acceptances
from handoff.projects.service.posting import post_delivery
from tests.integration.projects.health_setup import ACTOR, HOSTILE, MANAGER, ON, PID, build_project

D = Decimal


def _with_channels(ctx: AppContext, channels: list[str]) -> AppContext:
    notifications = ctx.config.model.notifications.model_copy(update={"task_channels": channels})
    model = ctx.config.model.model_copy(update={"notifications": notifications})
    return dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, model=model))


def _outbox(ctx: AppContext) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    o = schema.outbox
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(o.c.key, o.c.channel, o.c.payload).where(o.c.topic == "project_alert").order_by(o.c.key)
        )
        return [(r.key, r.channel, dict(r.payload)) for r in rows]


def test_health_of_the_stored_project(ctx: AppContext) -> None:
    build_project(ctx)
    h = health.project_health(ctx, PID, ON)
    discovery, build = h.phases
    assert (discovery.total.actual, discovery.total.planned_to_date) == (D(37), D(40))
    assert [(b.role, b.actual) for b in discovery.roles] == [("architect", D(32)), ("analyst", D(5))]
    assert (build.total.actual, build.total.planned_to_date) == (D(40), D("12.90"))
    # build: EAC = 40 + (40 - 12.90...) x 40 / 12.90... = 40 + 27.096... x 3.1 = 124.00
    assert build.total.eac == D("124.00") and build.total.vac_amount == D("13440.00")  # 84 h x 160
    assert (h.total.actual, h.burn_percent_of_plan) == (D(77), D("145.56"))
    assert (h.wip_amount, h.wip_items, h.wip_oldest, h.wip_age_days) == (D("11970.00"), 10, date(2027, 2, 2), 36)
    assert (h.milestones_due, h.milestones_accepted, h.lead_time_days) == (1, 0, None)  # M1 due 28 Feb
    record_acceptances(ctx, [AcceptanceInput("test", "A-1", PID, "M1", date(2027, 3, 2), "Katrin", "signed")], ACTOR)
    h = health.project_health(ctx, PID, ON)
    assert (h.acceptance_rate, h.lead_time_days) == (D(1), D(2))
    # posting February's work moves it to the schedule, still unbilled: the WIP stays
    result = post_delivery(ctx, date(2027, 3, 1), ACTOR, PID)
    assert not result.failures, result
    again = health.project_health(ctx, PID, ON)
    assert again.wip_amount == D("11970.00") and again.wip_oldest == date(2027, 2, 1)  # the posted month's first day
    kinds = {u.kind for u in health.project_page(ctx, PID, ON).unbilled}
    assert kinds == {"time", "posted"}


def test_approval_required_keeps_unapproved_work_out_of_wip(ctx: AppContext) -> None:
    build_project(ctx, approval_required=True)
    page = health.project_page(ctx, PID, ON)
    assert page.health.wip_amount == 0 and len(page.awaiting) == 10
    assert [a.kind for a in page.flags] == ["burn"]


def test_alerts_are_raised_once_through_the_outbox(ctx: AppContext) -> None:
    build_project(ctx)
    ctx = _with_channels(ctx, ["email", "slack"])
    assert health.raise_alerts(ctx, ON) == 3
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(schema.project_alerts.c.kind, schema.project_alerts.c.key)).all()
    assert sorted(stored) == [("burn", "100%:2027-03"), ("wip_age", "10d:2027-02-02"), ("wip_amount", "1000:2027-03")]
    sent = _outbox(ctx)
    assert len(sent) == 6 and {c for _, c, _ in sent} == {"email", "slack"}
    email = next(p for k, c, p in sent if c == "email" and ":burn:" in k)
    assert email["to"] == ["ben.carter@acme.example", MANAGER, ctx.config.model.notifications.finance_email]
    assert "145.56% of the 52.90 h planned" in email["text"] and HOSTILE in email["text"]
    assert (
        "<script>" not in email["html"]
        and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in email["html"]
    )
    slack = next(p for k, c, p in sent if c == "slack" and ":wip_amount:" in k)
    section = blocks("project_alert", slack)[1]["text"]["text"]
    assert "<!channel>" not in section and "&lt;!channel&gt;" in section and "11,970.00 EUR" in section
    # the second run (and the next day's, same month) finds them raised: nothing written
    assert health.raise_alerts(ctx, ON) == 0
    assert health.raise_alerts(ctx, date(2027, 3, 11)) == 0
    assert len(_outbox(ctx)) == 6
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.project_alerts)).scalar_one() == 3
        audited = conn.execute(
            select(func.count())
            .select_from(schema.audit_log)
            .where(schema.audit_log.c.action == "project.alert_raised")
        ).scalar_one()
    assert audited == 3
