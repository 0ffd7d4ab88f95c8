"""Quote lock, pure: a closed-won deal's lines and terms become version 1 of its contract."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from handoff.contracts.domain.model import (
    BillingKind,
    ContractError,
    ContractVersion,
    Frequency,
    RampStep,
    SignedDocument,
    Timing,
)
from handoff.contracts.domain.quote import contract_from_deal, is_contract_deal
from handoff.contracts.domain.schedule import plan
from tests.builders import deal, deal_with_lines, line

CLOSED = date(2026, 10, 30)
PLATFORM = line(
    "Platform",
    "2",
    "10000.00",
    billing="recurring",
    frequency="annual",
    start="2027-01-01",
    end="2030-01-01",
    ramp="2028-01-01=12000; 2029-01-01=15000",
    product="PLAT",
)
SETUP = line("Setup", "1", "2000.00", discount="10%")


def test_a_recurring_ramp_line_and_a_one_time_fee_become_a_contract_with_the_deals_terms() -> None:
    d = deal_with_lines([PLATFORM, SETUP], po_number="PO-7", owner_email="anna@acme.example")
    version = contract_from_deal(d, CLOSED)
    assert (version.contract_id, version.version, version.effective, version.change_order) == ("D-1", 1, CLOSED, "")
    terms = version.terms
    assert (terms.customer_id, terms.currency, terms.billing_start) == (d.get("customer_id"), "EUR", CLOSED)
    assert (terms.legal_entity, terms.payment_terms) == (d.get("legal_entity"), d.get("payment_terms"))
    assert (terms.po_number, terms.owner_email) == ("PO-7", "anna@acme.example")
    platform, setup = version.lines
    assert [platform.key, setup.key] == ["L1", "L2"]
    assert (platform.product, platform.quantity, platform.unit_price) == ("PLAT", Decimal("2"), Decimal("10000.00"))
    rule = platform.rule
    assert (rule.kind, rule.frequency, rule.timing) == (BillingKind.RECURRING, Frequency.ANNUAL, Timing.IN_ADVANCE)
    assert (rule.start, rule.end) == (date(2027, 1, 1), date(2030, 1, 1))
    assert rule.ramp == (RampStep(date(2028, 1, 1), Decimal("12000")), RampStep(date(2029, 1, 1), Decimal("15000")))
    assert (setup.rule.kind, setup.rule.bill_on, setup.discount) == (BillingKind.ONE_TIME, None, "10%")
    # what the billing run will bill: three ramped years for two seats, and the fee once
    amounts = [(i.line_key, i.period_key, i.amount) for i in plan(version)]
    assert amounts == [
        ("L1", "2027-01-01", Decimal("20000.00")),
        ("L1", "2028-01-01", Decimal("24000.00")),
        ("L1", "2029-01-01", Decimal("30000.00")),
        ("L2", "once", Decimal("1800.00")),
    ]
    assert ContractVersion.from_json(version.to_json()) == version


def test_billing_start_signed_document_and_the_ways_a_recurring_line_ends() -> None:
    lines = [
        {**PLATFORM, "start": "", "end": "", "term": "P2Y"},
        {**PLATFORM, "start": "P1M", "end": "", "periods": "8", "frequency": "quarterly", "timing": "in_arrears"},
        {**PLATFORM, "end": "", "ramp": "", "auto_renew": "yes", "notice_days": "60"},
        line("Kick-off", "1", "500.00", start="P14D", unit_code="DAY"),
    ]
    d = deal_with_lines(
        lines,
        billing_start="2027-01-15",
        signed_document_url="https://docs.example/order-form.pdf",
        signed_document_sha256="AB" * 32,
    )
    version = contract_from_deal(d, CLOSED)
    assert version.terms.billing_start == version.effective == date(2027, 1, 15)
    assert version.documents == (SignedDocument("https://docs.example/order-form.pdf", "ab" * 32),)
    term, periods, renewing, kickoff = (ln.rule for ln in version.lines)
    assert (term.start, term.end) == (None, date(2029, 1, 15))  # from billing start, two years
    assert (periods.start, periods.end, periods.timing) == (date(2027, 2, 15), date(2029, 2, 15), Timing.IN_ARREARS)
    assert (renewing.auto_renew, renewing.notice_days, renewing.end) == (True, 60, None)
    assert (kickoff.kind, kickoff.bill_on, version.lines[3].unit_code) == (
        BillingKind.ONE_TIME,
        date(2027, 1, 29),
        "DAY",
    )


def test_milestones_are_keyed_by_name_and_a_name_used_twice_by_its_line_too() -> None:
    design = line("Design", "1", "10000.00", billing="milestone", milestones="Design=30%; Go live=70%")
    rollout = line("Rollout", "1", "5000.00", billing="milestone", milestones="Go live=5000")
    version = contract_from_deal(deal_with_lines([design, rollout]), CLOSED)
    first, second = (ln.rule.milestones for ln in version.lines)
    assert [(m.key, m.name, m.percent) for m in first] == [
        ("design", "Design", Decimal("30")),
        ("go-live", "Go live", Decimal("70")),
    ]
    assert [(m.key, m.amount) for m in second] == [("L2-go-live", Decimal("5000"))]


def test_a_deal_without_lines_is_one_one_time_line_of_its_amount() -> None:
    version = contract_from_deal(deal(billing_start="2027-03-01", discount="5%"), CLOSED)
    [only] = version.lines
    assert (only.key, only.quantity, only.unit_price, only.discount) == ("L1", Decimal("1"), Decimal("12000.00"), "5%")
    assert only.rule.kind is BillingKind.ONE_TIME and only.description == deal().get("deal_name")


def test_what_cannot_be_a_contract_raises_contract_error_naming_deal_line_and_field() -> None:
    with pytest.raises(ContractError, match=r"contract D-1 line L2: .*frequency 'weekly'"):
        contract_from_deal(deal_with_lines([SETUP, {**PLATFORM, "frequency": "weekly"}]), CLOSED)
    with pytest.raises(ContractError, match=r"contract D-1: discount on the deal cannot be carried"):
        contract_from_deal(deal_with_lines([PLATFORM], discount="10%"), CLOSED)
    with pytest.raises(ContractError, match=r"contract D-1: legal_entity is missing"):
        contract_from_deal(deal_with_lines([PLATFORM], legal_entity=""), CLOSED)


def test_is_contract_deal() -> None:
    assert not is_contract_deal(deal())
    assert not is_contract_deal(deal_with_lines([SETUP, line(billing="one_time")]))
    assert is_contract_deal(deal_with_lines([SETUP, PLATFORM]))
    assert is_contract_deal(deal_with_lines([line(billing="usage")]))
    # a billing start after the close date defers billing: a contract
    assert is_contract_deal(deal(billing_start="2026-12-01"))
    assert not is_contract_deal(deal(billing_start="2026-10-30"))
    assert not is_contract_deal(deal(billing_start="soon"))  # readiness names it
    assert is_contract_deal(deal(close_date="", billing_start="2026-12-01"), date(2026, 11, 1))
    assert not is_contract_deal(deal(close_date="", billing_start="2026-12-01"))
