"""Deal-desk review: each finding of the approval matrix, with its code, field and numbers, and
reading a policy from configuration."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Frequency,
    RampStep,
)
from handoff.contracts.domain.review import (
    Finding,
    PolicyError,
    TermsPolicy,
    policy_from_mapping,
    review,
)

D = Decimal
CLOSE = date(2027, 1, 1)
TERMS = {"due_on_receipt": 0, "net30": 30, "net60": 60}
PRICES = {("PLAT", "EUR"): D("100.00"), ("SEAT", "EUR"): D("10.00")}
POLICY = TermsPolicy(
    max_discount_percent=D(20),
    max_payment_terms_days=30,
    max_days_to_billing_start=60,
    payment_terms=TERMS,
)


def list_price(sku: str, currency: str, day: date) -> Decimal | None:
    if sku == "SEAT" and day >= date(2028, 1, 1):
        return D("11.00")  # the 2028 price list
    return PRICES.get((sku, currency))


def contract(*lines: ContractLine, payment_terms: str = "net30", billing_start: date = CLOSE) -> ContractVersion:
    return ContractVersion(
        contract_id="C-1",
        version=1,
        effective=billing_start,
        terms=ContractTerms("CUST-1", "acme-de", "EUR", payment_terms, billing_start),
        lines=lines,
    )


def line(key: str, sku: str, price: str, quantity: str = "1", **fields: Any) -> ContractLine:
    rule = fields.pop("rule", BillingRule(BillingKind.RECURRING, frequency=Frequency.ANNUAL, end=date(2030, 1, 1)))
    return ContractLine(key, sku, f"Line {key}", D(quantity), D(price), rule, **fields)


def run(version: ContractVersion, policy: TermsPolicy = POLICY, manual_tax: bool = False) -> list[Finding]:
    return review(version, policy, CLOSE, list_price, manual_tax)


def test_a_contract_within_policy_has_no_findings() -> None:
    version = contract(line("L1", "PLAT", "100.00", discount="20%"), line("L2", "SEAT", "10.00", "50", discount="100"))
    assert run(version) == []


def test_percentage_discount_above_the_limit() -> None:
    [finding] = run(contract(line("L1", "PLAT", "100.00"), line("L2", "PLAT", "100.00", discount="25%")))
    assert (finding.code, finding.field) == ("discount_above_limit", "lines[L2].discount")
    assert finding.message == "line L2 discount 25% is above the 20% limit"
    assert finding.as_dict() == {"code": finding.code, "field": finding.field, "message": finding.message}


def test_amount_discount_counts_as_its_share_of_the_line() -> None:
    [finding] = run(contract(line("L1", "SEAT", "10.00", "40", discount="100.00")))  # 100 of 400: 25%
    assert (finding.code, finding.field) == ("discount_above_limit", "lines[L1].discount")
    assert "100.00 (25.00% of 40 x 10.00) is above the 20% limit" in finding.message


def test_unreadable_discount_is_a_finding_not_an_error() -> None:
    [finding] = run(contract(line("L1", "PLAT", "100.00", discount="lots")))
    assert (finding.code, finding.field) == ("discount_unreadable", "lines[L1].discount")


def test_payment_terms_beyond_the_limit_and_unknown_terms() -> None:
    [finding] = run(contract(line("L1", "PLAT", "100.00"), payment_terms="net60"))
    assert (finding.code, finding.field) == ("payment_terms_beyond_limit", "payment_terms")
    assert finding.message == "payment terms net60 give 60 days, more than the 30 days allowed"
    [unknown] = run(contract(line("L1", "PLAT", "100.00"), payment_terms="net90"))
    assert (unknown.code, unknown.field) == ("payment_terms_unknown", "payment_terms")
    assert run(contract(line("L1", "PLAT", "100.00"), payment_terms="net90"), TermsPolicy()) == []


def test_billing_start_too_long_after_the_close() -> None:
    assert run(contract(line("L1", "PLAT", "100.00"), billing_start=date(2027, 3, 2))) == []  # 60 days
    [finding] = run(contract(line("L1", "PLAT", "100.00"), billing_start=date(2027, 3, 3)))
    assert (finding.code, finding.field) == ("billing_start_late", "billing_start")
    assert "61 days after the close on 2027-01-01" in finding.message and "60 days allowed" in finding.message


def test_prices_off_the_list_unlisted_or_without_product() -> None:
    ramp = (RampStep(date(2028, 1, 1), D("11.00")), RampStep(date(2029, 1, 1), D("12.00")))
    rule = BillingRule(BillingKind.RECURRING, frequency=Frequency.ANNUAL, end=date(2030, 1, 1), ramp=ramp)
    version = contract(
        line("L1", "PLAT", "90.00"),
        line("L2", "SEAT", "10.00", rule=rule),
        line("L3", "GHOST", "5.00"),
        line("L4", "", "1500.00", rule=BillingRule(BillingKind.ONE_TIME)),
    )
    findings = run(version)
    assert [(f.code, f.field) for f in findings] == [
        ("price_off_list", "lines[L1].unit_price"),
        ("price_off_list", "lines[L2].ramp[2029-01-01].unit_price"),
        ("price_off_list", "lines[L3].unit_price"),
        ("price_off_list", "lines[L4].unit_price"),
    ]
    assert findings[0].message == "line L1 price 90.00 EUR differs from the list price 100.00 of PLAT on 2027-01-01"
    assert "12.00 EUR differs from the list price 11.00 of SEAT on 2029-01-01" in findings[1].message
    assert "GHOST has no list price in EUR on 2027-01-01" in findings[2].message
    assert "has no product" in findings[3].message
    assert run(version, TermsPolicy(review_price_off_list=False)) == []


def test_manual_tax_treatment() -> None:
    version = contract(line("L1", "PLAT", "100.00"))
    assert [(f.code, f.field) for f in run(version, manual_tax=True)] == [("manual_tax_treatment", "tax_treatment")]
    assert run(version, TermsPolicy(review_manual_tax=False), manual_tax=True) == []


def test_no_limits_no_findings_but_off_list_and_manual_tax_by_default() -> None:
    version = contract(
        line("L1", "PLAT", "100.00", discount="90%"), payment_terms="net60", billing_start=date(2028, 1, 1)
    )
    assert run(version, TermsPolicy()) == []
    assert [f.code for f in run(version, TermsPolicy(), manual_tax=True)] == ["manual_tax_treatment"]


def test_policy_from_mapping_reads_every_key() -> None:
    doc = {
        "max_discount_percent": 12.5,
        "max_payment_terms_days": 45,
        "max_days_to_billing_start": 90,
        "review_price_off_list": False,
        "review_manual_tax": True,
    }
    policy = policy_from_mapping(doc, payment_terms=TERMS)
    assert policy == TermsPolicy(D("12.5"), 45, 90, False, True, TERMS)
    assert policy_from_mapping({"max_discount_percent": "20%"}).max_discount_percent == D(20)
    assert policy_from_mapping({}) == TermsPolicy()


@pytest.mark.parametrize(
    ("doc", "terms", "named"),
    [
        ({"max_discount": 10}, None, "unknown keys max_discount"),
        ({"max_discount_percent": "ten"}, None, "max_discount_percent must be a number from 0 to 100, not 'ten'"),
        ({"max_discount_percent": 150}, None, "max_discount_percent"),
        ({"max_discount_percent": True}, None, "max_discount_percent"),
        ({"max_payment_terms_days": -1}, None, "max_payment_terms_days must be a whole number of days"),
        ({"max_days_to_billing_start": "30"}, None, "max_days_to_billing_start"),
        ({"review_manual_tax": "yes"}, None, "review_manual_tax must be true or false, not 'yes'"),
        ({}, {"net30": "30"}, "payment_terms.net30"),
    ],
)
def test_policy_from_mapping_names_what_is_wrong(doc: dict[str, Any], terms: dict[str, Any] | None, named: str) -> None:
    with pytest.raises(PolicyError, match="review policy: ") as caught:
        policy_from_mapping(doc, payment_terms=terms)
    assert named in str(caught.value)


def test_policy_from_mapping_refuses_a_non_mapping() -> None:
    with pytest.raises(PolicyError, match="is not a mapping"):
        policy_from_mapping([1, 2])  # type: ignore[arg-type]


def test_a_billing_start_is_judged_against_a_known_close_only() -> None:
    """A contract locked by hand has no close date: its billing start is not judged against the
    day it was locked (which says nothing about the deal); a deal's close date is."""
    version = contract(line("L1", "PLAT", "100.00"), billing_start=date(2027, 3, 1))
    policy = TermsPolicy(max_days_to_billing_start=30, review_price_off_list=False)
    assert review(version, policy, None, lambda *_: None, False) == []
    (finding,) = review(version, policy, version.terms.billing_start - timedelta(days=31), lambda *_: None, False)
    assert finding.code == "billing_start_late" and finding.field == "billing_start"
