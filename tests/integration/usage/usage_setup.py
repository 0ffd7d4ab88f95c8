"""A contract with a usage line, locked by intake from a won deal, and the metrics it bills."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.intake import ingest
from handoff.usage.domain.events import UsageEvent
from handoff.usage.service.metrics import define_metric
from tests.builders import deal_with_lines, line

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
ACTOR = "automation:test"


def usage_contract(ctx: AppContext, deal_id: str = "D-1", customer_id: str = "C-1", **more: Any) -> str:
    """Contract `deal_id`: a platform licence billed once and L2 = API calls, 0.002 each (usage)."""
    deal = deal_with_lines(
        [
            line("Platform licence", "1", "1000.00"),
            line("API calls", "1", "0.002", billing="usage", product="api_calls"),
            *more.pop("lines", []),
        ],
        amount="1000.00",
        deal_id=deal_id,
        customer_id=customer_id,
        **more,
    )
    ingest(ctx, [DealEvent("crm", f"e-{deal_id}", T0, deal)])
    return deal_id


def api_calls(ctx: AppContext, **more: Any) -> None:
    define_metric(ctx, {"code": "api_calls", "name": "API calls", "aggregation": "count", **more}, ACTOR)


def call(txn: str, at: datetime, subscription: str = "D-1", **more: Any) -> UsageEvent:
    return UsageEvent(txn, more.pop("metric", "api_calls"), at, subscription=subscription, **more)
