"""The contract model: JSON round-trip, content hash, and what `validate` refuses."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractError,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Frequency,
    Milestone,
    RampStep,
    SignedDocument,
    Timing,
    add_months,
    validate,
)

D = Decimal
START = date(2027, 1, 1)


def terms(**changes: Any) -> ContractTerms:
    base = ContractTerms(
        customer_id="CUST-1", legal_entity="acme-de", currency="EUR", payment_terms="net30", billing_start=START
    )
    return replace(base, **changes)


def recurring_line(key: str = "L1", **rule: Any) -> ContractLine:
    fields: dict[str, Any] = {"kind": BillingKind.RECURRING, "frequency": Frequency.ANNUAL, "end": date(2030, 1, 1)}
    fields.update(rule)
    return ContractLine(key, "SKU-PLAT", "Platform", D("1"), D("10000.00"), BillingRule(**fields))


def version(*lines: ContractLine, **changes: Any) -> ContractVersion:
    base = ContractVersion(
        contract_id="C-1",
        version=1,
        effective=START,
        terms=terms(),
        lines=lines or (recurring_line(),),
    )
    return replace(base, **changes)


def rich_version() -> ContractVersion:
    """A version using every field, with Decimals whose exponents must survive the round-trip."""
    return ContractVersion(
        contract_id="C-1",
        version=2,
        effective=date(2027, 3, 1),
        terms=terms(po_number="PO-9", signatory="Ada Lovelace", owner_email="ae@example.com", consolidate=True),
        lines=(
            recurring_line(
                ramp=(RampStep(date(2028, 1, 1), D("12000.00")), RampStep(date(2029, 1, 1), D("15000"))),
                timing=Timing.IN_ARREARS,
            ),
            ContractLine(
                "L2",
                "",
                "Implementation",
                D("2.500"),
                D("1000"),
                BillingRule(
                    BillingKind.MILESTONE,
                    milestones=(
                        Milestone("M1", "Kick-off", percent=D("30")),
                        Milestone("M2", "Go-live", amount=D("1750")),
                    ),
                ),
                discount="10%",
                unit_code="HUR",
                tax_category="reduced",
                supply="services",
            ),
            ContractLine(
                "L3",
                "SETUP",
                "Setup fee – Größe",
                D("1"),
                D("500"),
                BillingRule(BillingKind.ONE_TIME, bill_on=date(2027, 2, 1)),
            ),
            ContractLine(
                "L4",
                "",
                "Support",
                D("1"),
                D("99"),
                BillingRule(
                    BillingKind.RECURRING,
                    frequency=Frequency.MONTHLY,
                    start=date(2027, 1, 15),
                    auto_renew=True,
                    renewal_months=12,
                    notice_days=30,
                    notice_given_on=date(2027, 6, 1),
                ),
            ),
            ContractLine("L5", "", "Consulting", D("1"), D("150"), BillingRule(BillingKind.TIME_AND_MATERIALS)),
        ),
        documents=(SignedDocument("s3://contracts/C-1.pdf", "a" * 64),),
        change_order="CO-1",
    )


def test_rich_version_is_valid() -> None:
    validate(rich_version())


def test_json_round_trip_is_exact_including_decimal_exponents() -> None:
    original = rich_version()
    doc = json.loads(json.dumps(original.to_json()))
    restored = ContractVersion.from_json(doc)
    assert restored == original
    assert restored.lines[1].quantity.as_tuple() == D("2.500").as_tuple()
    assert restored.to_json() == original.to_json()


def test_content_hash_is_stable_and_changes_with_content() -> None:
    original = rich_version()
    assert original.content_hash == ContractVersion.from_json(original.to_json()).content_hash
    assert len(original.content_hash) == 64
    # 10000.00 and 10000 are the same number but not the same document
    changed = replace(original, lines=(replace(original.lines[0], unit_price=D("10000")), *original.lines[1:]))
    assert changed.content_hash != original.content_hash


def test_from_json_names_the_missing_field() -> None:
    doc = rich_version().to_json()
    del doc["lines"][1]["quantity"]
    with pytest.raises(ContractError, match=r"^contract C-1 line L2: quantity is missing$") as info:
        ContractVersion.from_json(doc)
    assert (info.value.contract_id, info.value.line_key, info.value.field) == ("C-1", "L2", "quantity")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["lines"][0]["rule"].update(kind="weekly"), r"line L1: rule.kind is 'weekly', not one of"),
        (
            lambda d: d["lines"][0].update(unit_price=1.5),
            r"line L1: unit_price is not a decimal number written as text",
        ),
        (lambda d: d["lines"][0].update(unit_price="abc"), r"line L1: unit_price is not a decimal number"),
        (lambda d: d.update(effective="2027-13-01"), r"contract C-1: effective is not an ISO date"),
        (lambda d: d["terms"].pop("currency"), r"contract C-1: currency is missing"),
    ],
)
def test_from_json_refuses_bad_documents(mutate: Any, message: str) -> None:
    doc = rich_version().to_json()
    mutate(doc)
    with pytest.raises(ContractError, match=message):
        ContractVersion.from_json(doc)


def test_line_lookup() -> None:
    v = rich_version()
    assert v.line("L3").description.startswith("Setup")
    with pytest.raises(ContractError, match="contract C-1: line 'L9' does not exist"):
        v.line("L9")


def test_frequency_months() -> None:
    assert [f.months for f in Frequency] == [1, 3, 12]


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2027, 1, 31), 2, date(2027, 3, 31)),
        (date(2027, 11, 15), 3, date(2028, 2, 15)),
        (date(2027, 3, 31), -1, date(2027, 2, 28)),
        (date(2027, 1, 1), 0, date(2027, 1, 1)),
    ],
)
def test_add_months_clamps_to_month_end(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def line_with(**changes: Any) -> ContractLine:
    return replace(recurring_line("L2"), **changes)


def rule_with(**changes: Any) -> ContractLine:
    line = recurring_line("L2")
    return replace(line, rule=replace(line.rule, **changes))


def milestone_line(*milestones: Milestone, price: str = "1000") -> ContractLine:
    return ContractLine("L2", "", "Build", D("1"), D(price), BillingRule(BillingKind.MILESTONE, milestones=milestones))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (line_with(unit_price=None), "contract C-1 line L2: unit_price is missing"),
        (line_with(unit_price=D("-1")), "contract C-1 line L2: unit_price must not be negative"),
        (line_with(quantity=D("0")), "contract C-1 line L2: quantity must be above 0"),
        (line_with(quantity=D("NaN")), "contract C-1 line L2: quantity is not a finite Decimal"),
        (line_with(discount="ten"), "contract C-1 line L2: discount is unreadable"),
        (line_with(discount="20000"), "contract C-1 line L2: discount 20000 is more than"),
        (line_with(tax_category="luxury"), "contract C-1 line L2: tax_category 'luxury' is not"),
        (line_with(supply="rent"), "contract C-1 line L2: supply 'rent' is not one of"),
        (line_with(unit_code=" "), "contract C-1 line L2: unit_code is missing"),
        (rule_with(frequency=None), "contract C-1 line L2: frequency is missing"),
        (rule_with(end=START), "contract C-1 line L2: end 2027-01-01 is not after the start 2027-01-01"),
        (rule_with(end=None), "contract C-1 line L2: end is missing"),
        (rule_with(coterm_to=date(2029, 1, 1)), "contract C-1 line L2: coterm_to 2029-01-01 differs from end"),
        (rule_with(end=None, auto_renew=True, renewal_months=0), "contract C-1 line L2: renewal_months must be 1"),
        (rule_with(end=None, auto_renew=True, notice_days=-5), "contract C-1 line L2: notice_days must be 0"),
        (rule_with(notice_given_on=START), "contract C-1 line L2: notice_given_on applies to auto-renewing"),
        (
            rule_with(ramp=(RampStep(date(2029, 1, 1), D("1")), RampStep(date(2028, 1, 1), D("2")))),
            "contract C-1 line L2: ramp step 2028-01-01 is not after 2029-01-01",
        ),
        (rule_with(ramp=(RampStep(date(2029, 1, 1), D("-1")),)), "contract C-1 line L2: ramp.unit_price must not be"),
        (
            ContractLine(
                "L2", "", "Fee", D("1"), D("5"), BillingRule(BillingKind.ONE_TIME, frequency=Frequency.ANNUAL)
            ),
            "contract C-1 line L2: frequency applies to recurring lines only",
        ),
        (
            ContractLine("L2", "", "Fee", D("1"), D("5"), BillingRule(BillingKind.RECURRING, bill_on=START)),
            "contract C-1 line L2: bill_on applies to one-time lines only",
        ),
        (milestone_line(), "contract C-1 line L2: milestones are missing"),
        (
            milestone_line(Milestone("M1", "a", percent=D("30")), Milestone("M2", "b", percent=D("60"))),
            "contract C-1 line L2: milestones add up to 900, not",
        ),
        (
            milestone_line(Milestone("M1", "a", percent=D("30"), amount=D("700"))),
            "contract C-1 line L2: milestone M1 needs exactly one of amount and percent",
        ),
        (milestone_line(Milestone("M1", "a")), "contract C-1 line L2: milestone M1 needs exactly one"),
        (
            milestone_line(Milestone("M1", "a", percent=D("130")), Milestone("M2", "b", amount=D("-300"))),
            "contract C-1 line L2: milestone M1 percent must be above 0 and at most 100",
        ),
        (
            milestone_line(Milestone("M1", "a", amount=D("1000")), Milestone("M1", "b", amount=D("0"))),
            "contract C-1 line L2: milestones.key 'M1' is used twice",
        ),
        (recurring_line("L1"), "contract C-1 line L1: key is used by two lines"),
    ],
)
def test_validate_names_contract_line_and_field(bad: ContractLine, message: str) -> None:
    with pytest.raises(ContractError) as info:
        validate(version(recurring_line("L1"), bad))
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.line_key == bad.key


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (version(terms=terms(currency="EURO")), "contract C-1: currency 'EURO' is not an ISO 4217 code"),
        (version(terms=terms(currency="XYZ")), "contract C-1: currency 'XYZ' is not an ISO 4217 code"),
        (version(terms=terms(customer_id="")), "contract C-1: customer_id is missing"),
        (version(effective=date(2026, 12, 31)), "contract C-1: effective 2026-12-31 is before billing_start"),
        (version(change_order="CO-1"), "contract C-1: change_order must be empty on version 1"),
        (version(version=2), "contract C-1: change_order is missing"),
        (version(version=0), "contract C-1: version must be a whole number from 1 up"),
        (version(documents=(SignedDocument("s3://x", "not-a-hash"),)), "contract C-1: documents.sha256"),
        (version(contract_id=" "), "contract ?: contract_id is missing"),
    ],
)
def test_validate_refuses_bad_terms(bad: ContractVersion, message: str) -> None:
    with pytest.raises(ContractError) as info:
        validate(bad)
    assert str(info.value).startswith(message), str(info.value)


def test_milestone_keys_must_be_unique_across_the_contract() -> None:
    one = milestone_line(Milestone("M1", "a", amount=D("1000")))
    other = replace(one, key="L3")
    with pytest.raises(ContractError, match=r"contract C-1 line L3: milestones\.key 'M1' is used twice"):
        validate(version(one, other))


def test_contract_error_is_a_value_error() -> None:
    error = ContractError.at("C-1", "unit_price", "is missing", line="L2")
    assert isinstance(error, ValueError)
    assert str(error) == "contract C-1 line L2: unit_price is missing"
