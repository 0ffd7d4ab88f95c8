"""Contracts the contract e2e tests lock through the service: a three-year subscription billed
annually in advance with a ramp (10,000 / 12,000 / 15,000 EUR), a one-time onboarding fee and an
implementation billed on two milestones (40 % and 60 % of 20,000 EUR). The e2e clock stands at
1 Nov 2026: the first year and the fee are due, the rest planned."""

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
    Frequency,
    Milestone,
    RampStep,
)
from handoff.contracts.service import contracts
from handoff.contracts.service.contracts import Locked
from handoff.kernel.parties import Address, Customer

START = date(2026, 10, 1)
CUSTOMER = "CUST-9"
BUYER = Customer(
    CUSTOMER,
    "Kestrel Analytics GmbH",
    "DE",
    True,
    "DE811907980",
    billing_email="ap@kestrel.example",
    address=Address("Invalidenstraße 1", "Berlin", "10115", "DE"),
)


def version(contract_id: str, subscription: str = "Platform subscription") -> ContractVersion:
    terms = ContractTerms(CUSTOMER, "ACME-DE", "EUR", "net30", START, po_number="PO-77")
    ramp = (RampStep(date(2027, 10, 1), Decimal("12000.00")), RampStep(date(2028, 10, 1), Decimal("15000.00")))
    lines = (
        ContractLine(
            "L1",
            "PLAT-ANNUAL",
            subscription,
            Decimal(1),
            Decimal("10000.00"),
            BillingRule(BillingKind.RECURRING, frequency=Frequency.ANNUAL, end=date(2029, 10, 1), ramp=ramp),
        ),
        ContractLine("L2", "ONBOARD", "Onboarding", Decimal(1), Decimal("5000.00"), BillingRule(BillingKind.ONE_TIME)),
        ContractLine(
            "L3",
            "IMPL",
            "Implementation project",
            Decimal(1),
            Decimal("20000.00"),
            BillingRule(
                BillingKind.MILESTONE,
                milestones=(
                    Milestone("M1", "Design signed off", percent=Decimal(40)),
                    Milestone("M2", "Go-live", percent=Decimal(60)),
                ),
            ),
        ),
    )
    return ContractVersion(contract_id, 1, START, terms, lines)


def lock(ctx: AppContext, contract_id: str, subscription: str = "Platform subscription") -> Locked:
    return contracts.lock(ctx, version(contract_id, subscription), BUYER, "finance@acme.example", "won quote")
