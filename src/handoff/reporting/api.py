"""API: the metrics finance and management watch (deals by state, exceptions, cycle time,
overdue amounts, open receivables with their aging and DSO, in all and per selling entity,
automation rate), computed fresh on each call."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from handoff.reporting.service import metrics
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx
from handoff.web.errors import ERROR_RESPONSES
from handoff.web.schemas import Out, plain

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["metrics"])


class EntityMetrics(Out):
    entity: str = Field(description="the selling entity's code (`legal_entities`)")
    name: str
    functional_currency: str | None = Field(
        description="the entity's own currency (configured `currency`); null for an entity no longer configured"
    )
    open_receivables_by_currency: dict[str, str] = Field(
        description="what is open on its issued invoices (gross - paid - credited), by invoice currency"
    )
    open_invoices: int
    overdue_by_currency: dict[str, str]
    overdue_invoices: int
    dso_days: dict[str, float | None] = Field(
        description="its days sales outstanding by invoice currency over the window; null when it invoiced nothing"
    )


class Metrics(Out):
    deals_by_state: dict[str, int]
    won_deals: int
    deals_with_exceptions: int
    exception_rate: float
    open_exceptions: int
    exception_aging: dict[str, int]
    invoiced_deals: int
    cycle_time_days_median: float | None
    cycle_time_days_p90: float | None
    cycle_time_buckets: dict[str, int]
    cycle_basis: dict[str, int] = Field(
        description="invoiced deals in the window by what their cycle time runs from: `close_date` (the start, "
        "UTC, of the close date the CRM gave) or `intake` (no close date: from the deal's arrival in handoff)"
    )
    overdue_by_currency: dict[str, str]
    overdue_invoices: int
    automation_rate: float
    window_days: int = Field(description="cycle time and automation rate cover deals invoiced in this many days")
    open_receivables_by_currency: dict[str, str] = Field(
        description="what is open on issued invoices (gross - paid - credited), by currency"
    )
    receivables_aging: dict[str, dict[str, str]] = Field(
        description="open receivables by currency and days past due (`not due`, `1-30 days`, ... `over 90 days`)"
    )
    dso_days: dict[str, float | None] = Field(
        description="days sales outstanding by currency: open receivables / invoiced (net of credit notes) in "
        "the window x its days; null when nothing was invoiced in it"
    )
    by_entity: list[EntityMetrics] = Field(
        description="the receivables per selling entity: every configured one, then any other that has invoices"
    )


@router.get("/metrics", response_model=Metrics)
def get_metrics(ctx: Ctx, user: User = api_user(Role.FINANCE, Role.AUDITOR, Role.ADMIN)) -> Any:
    """Deals by state, exception rate and aging, sales-to-invoice cycle time (from the close date
    where the CRM gives one, else from intake), overdue amounts, automation rate."""
    return plain(asdict(metrics.compute(ctx)))
