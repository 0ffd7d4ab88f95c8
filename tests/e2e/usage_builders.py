"""A usage contract the usage adapter tests lock through the service: contract D-1 (the sales
user's deal in the e2e seed) with usage lines U1 (product `api_calls`, 0.01 EUR per call) and U2
(`storage_gb`, 0.50 EUR per GB) billed from 1 Oct 2026, and the billable metrics `api_calls` (a
count per region) and `storage_gb` (a sum of the property `gb`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.contracts.domain.model import BillingKind, BillingRule, ContractLine, ContractTerms, ContractVersion
from handoff.contracts.service import contracts
from handoff.usage.service import metrics as metric_service
from tests.e2e.contract_builders import BUYER, CUSTOMER

START = date(2026, 10, 1)
CONTRACT = "D-1"  # the sales user's deal in the e2e seed, so its owner sees the contract
METRICS: dict[str, dict[str, Any]] = {
    "api_calls": {"name": "API calls", "aggregation": "count", "group_by": ["region"]},
    "storage_gb": {"name": "Storage", "aggregation": "sum", "field": "gb"},
}


def usage_version(contract_id: str, owner: str) -> ContractVersion:
    terms = ContractTerms(CUSTOMER, "ACME-DE", "EUR", "net30", START, po_number="PO-77", owner_email=owner)
    lines = (
        ContractLine("U1", "api_calls", "API calls", Decimal(1), Decimal("0.01"), BillingRule(BillingKind.USAGE)),
        ContractLine("U2", "storage_gb", "Storage", Decimal(1), Decimal("0.50"), BillingRule(BillingKind.USAGE)),
    )
    return ContractVersion(contract_id, 1, START, terms, lines)


def lock_usage_contract(ctx: AppContext, owner: str, contract_id: str = CONTRACT) -> str:
    """Define the metrics (as finance would) and lock the usage contract; its id."""
    for code, doc in METRICS.items():
        metric_service.define_metric(ctx, {"code": code, **doc}, "automation:test")
    contracts.lock(ctx, usage_version(contract_id, owner), BUYER, "finance@acme.example", "won quote")
    return contract_id


def event(txn: str, metric: str = "api_calls", **more: Any) -> dict[str, Any]:
    """A usage event as the API takes it: on the e2e clock's day (1 Nov 2026), for D-1."""
    body: dict[str, Any] = {
        "transaction_id": txn,
        "subscription": CONTRACT,
        "metric": metric,
        "timestamp": "2026-11-01T08:00:00Z",
        "properties": {"region": "eu"} if metric == "api_calls" else {"gb": "2.5"},
    }
    body.update(more)
    return body
