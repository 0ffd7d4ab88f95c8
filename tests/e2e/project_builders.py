"""A services contract the project adapter tests lock through the service, and its project: two T&M
roles (architect 150.00/h for 100 h, developer 120.00/h for 200 h) and a milestone M1 (5,000.00),
billed from 1 Oct 2026; the project opens with one phase "delivery" (Oct to Dec 2026)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from handoff.context import AppContext
from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Milestone,
)
from handoff.contracts.service import contracts
from handoff.projects.service.projects import open_projects
from tests.e2e.contract_builders import BUYER, CUSTOMER

START = date(2026, 10, 1)
SYSTEM = "automation:test"
HUNDRED = Decimal(100)


def services_version(contract_id: str, owner: str) -> ContractVersion:
    terms = ContractTerms(CUSTOMER, "ACME-DE", "EUR", "net30", START, po_number="PO-77", owner_email=owner)
    tm = BillingRule(BillingKind.TIME_AND_MATERIALS)
    lines = (
        ContractLine("L1", "architect", "Architect", Decimal(100), Decimal("150.00"), tm),
        ContractLine("L2", "developer", "Developer", Decimal(200), Decimal("120.00"), tm),
        ContractLine(
            "L3",
            "IMPL",
            "Implementation",
            Decimal(1),
            Decimal("5000.00"),
            BillingRule(
                BillingKind.MILESTONE, milestones=(Milestone("M1", "Design signed off", percent=Decimal(100)),)
            ),
        ),
    )
    return ContractVersion(contract_id, 1, START, terms, lines)


def open_services_project(ctx: AppContext, contract_id: str, owner: str) -> str:
    """Lock the contract and open its project; the project's id."""
    contracts.lock(ctx, services_version(contract_id, owner), BUYER, "finance@acme.example", "won quote")
    opened = open_projects(ctx, SYSTEM)
    assert f"PRJ-{contract_id}" in opened
    return f"PRJ-{contract_id}"


def entry(
    external_id: str, project: str, role: str = "architect", hours: str = "7.5", **more: object
) -> dict[str, object]:
    """A time entry as the API takes it."""
    return {
        "external_id": external_id,
        "project": project,
        "role": role,
        "person": "ada@acme.example",
        "work_date": "2026-10-14",
        "hours": hours,
        **more,
    }
