"""A deal line's billing terms (billing kind, frequency, dates, ramp, milestones, ...): read from deal
files and CRM line mappings, kept on the line only when given, and judged by readiness whatever the
rules file says, a bad one a problem on `lines[N].<field>`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handoff.config import load_business_config
from handoff.deals.connectors.mapping import LineMap
from handoff.deals.connectors.mapping_file import load_source_mapping
from handoff.deals.domain.orders import LINE_FIELDS, LineInput
from handoff.deals.domain.readiness import check
from handoff.deals.formats import read_deal_file
from tests.builders import deal, deal_with_lines, line

RULES = load_business_config().ruleset
DEFAULTS = Path(__file__).parents[3] / "src" / "handoff" / "defaults" / "crm"
# 12,000.00 a year for three years from 2027, stepping up twice; and a one-time setup fee
PLATFORM = line(
    "Platform",
    "1",
    "10000.00",
    billing="recurring",
    frequency="annual",
    start="2027-01-01",
    end="2030-01-01",
    ramp="2028-01-01=12000; 2029-01-01=15000",
)
SETUP = line("Setup", "1", "2000.00")


def found(d: Any) -> list[tuple[str, str]]:
    return [(str(p.code), p.field) for p in check(d, RULES)]


def test_a_good_contract_deal_is_ready_and_its_amount_is_not_compared_with_recurring_prices() -> None:
    assert check(deal_with_lines([PLATFORM, SETUP], amount="47000.00"), RULES) == []


def test_new_line_fields_are_empty_by_default_and_left_out_of_the_stored_line() -> None:
    plain = deal_with_lines([line()])
    assert plain.lines[0].billing == "" and plain.lines[0].is_one_time
    assert set(plain.lines[0].as_dict()) == {"description", "quantity", "unit_price", "tax_category", "supply"}
    contract = deal_with_lines([PLATFORM])
    stored = contract.lines[0].as_dict()
    assert stored["billing"] == "recurring" and stored["ramp"] == "2028-01-01=12000; 2029-01-01=15000"
    assert "milestones" not in stored and "auto_renew" not in stored
    assert {"billing", "frequency", "ramp", "milestones", "unit_code", "term", "periods"} <= set(LINE_FIELDS)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"billing": "sometimes"}, "billing", "not one of one_time, recurring"),
        ({"frequency": "weekly"}, "frequency", "'weekly' is not one of monthly, quarterly, annual"),
        ({"timing": "later"}, "timing", "not one of in_advance, in_arrears"),
        ({"start": "01/02/2027"}, "start", "not an ISO date"),
        ({"end": "2030-02-30"}, "end", "not an ISO date"),
        ({"end": "2026-06-01"}, "end", "is not after the start 2027-01-01"),
        ({"ramp": "2028-01-01:12000"}, "ramp", "is not `name=value`"),
        ({"ramp": "2029-01-01=12000; 2028-01-01=15000"}, "ramp", "is not after 2029-01-01"),
        ({"ramp": "2028-01-01=lots"}, "ramp", "not a number"),
        ({"auto_renew": "perhaps"}, "auto_renew", "not a yes/no value"),
        ({"notice_days": "-3"}, "notice_days", "not a whole number"),
        ({"unit_code": "BOX"}, "unit_code", "not a UN/ECE Recommendation 20 code"),
        ({"end": "", "term": "P1W"}, "term", "whole months or years"),
        ({"end": "", "periods": "two"}, "periods", "not a whole number"),
        ({"term": "P2Y"}, "term", "give one of end, term and periods"),
    ],
)
def test_a_bad_billing_term_is_invalid_on_its_line_field(changes: dict[str, str], field: str, message: str) -> None:
    problems = [p for p in check(deal_with_lines([SETUP, {**PLATFORM, **changes}]), RULES)]
    assert [(str(p.code), p.field) for p in problems] == [("invalid", f"lines[1].{field}")]
    assert problems[0].message.startswith("line 2: ")
    assert message in problems[0].message


def test_a_recurring_line_needs_a_frequency_and_an_end_a_term_periods_or_auto_renewal() -> None:
    bare = {**PLATFORM, "frequency": "", "end": ""}
    assert found(deal_with_lines([bare])) == [("missing", "lines[0].frequency"), ("missing", "lines[0].end")]
    for ends in ({"term": "P36M"}, {"term": "36"}, {"periods": "3"}, {"auto_renew": "yes", "notice_days": "90"}):
        assert found(deal_with_lines([{**PLATFORM, "end": "", **ends}])) == [], ends
    assert found(deal_with_lines([{**PLATFORM, "end": "", "auto_renew": "no"}])) == [("missing", "lines[0].end")]


def test_recurring_terms_on_a_line_billed_once_are_a_problem() -> None:
    once = {**SETUP, "frequency": "monthly", "ramp": "2028-01-01=1"}
    assert found(deal_with_lines([once], amount="2000.00")) == [
        ("invalid", "lines[0].frequency"),
        ("invalid", "lines[0].ramp"),
    ]
    # a start on a one-time line is the day it bills; what means nothing without a frequency is not judged
    assert (
        found(
            deal_with_lines([{**SETUP, "start": "2027-03-01", "periods": "1", "auto_renew": "false"}], amount="2000.00")
        )
        == []
    )


@pytest.mark.parametrize(
    ("milestones", "message"),
    [
        ("design=30%; go-live=60%", "add up to 90 %, not 100 %"),
        ("design=3000; go-live=6000", "add up to 9000, not the line's 10000.00"),
        ("design=30%; design=70%", "named twice"),
        ("design=0%; go-live=100%", "not above 0 %"),
        ("design", "is not `name=value`"),
    ],
)
def test_bad_milestones_are_invalid_on_the_lines_milestones(milestones: str, message: str) -> None:
    ms = line("Implementation", "1", "10000.00", billing="milestone", milestones=milestones)
    [problem] = check(deal_with_lines([ms], amount="10000.00"), RULES)
    assert (str(problem.code), problem.field) == ("invalid", "lines[0].milestones")
    assert message in problem.message


def test_good_milestones_in_percent_or_amounts_pass_and_a_milestone_line_needs_them() -> None:
    for milestones in ("design=30%; go-live=70%", "design=3000; go-live=7000", "design=3000; go-live=70%"):
        ms = line("Implementation", "1", "10000.00", billing="milestone", milestones=milestones)
        assert check(deal_with_lines([ms], amount="10000.00"), RULES) == [], milestones
    bare = line("Implementation", "1", "10000.00", billing="milestone")
    assert found(deal_with_lines([bare], amount="10000.00")) == [("missing", "lines[0].milestones")]


def test_a_deal_discount_on_a_contract_deal_is_a_problem_it_is_given_per_line() -> None:
    [problem] = check(deal_with_lines([PLATFORM, SETUP], discount="5%"), RULES)
    assert (str(problem.code), problem.field) == ("invalid", "discount")
    assert "give each line its own discount" in problem.message
    assert check(deal_with_lines([PLATFORM, {**SETUP, "discount": "5%"}]), RULES) == []


def test_the_deals_billing_start_and_signed_document_are_judged_when_given() -> None:
    assert found(deal(billing_start="next year")) == [("invalid", "billing_start")]
    assert found(deal(signed_document_url="https://docs.example/os.pdf")) == [("missing", "signed_document_sha256")]
    assert found(deal(signed_document_url="https://docs.example/os.pdf", signed_document_sha256="abc")) == [
        ("invalid", "signed_document_sha256")
    ]
    good = deal(
        billing_start="2027-01-01", signed_document_url="https://docs.example/os.pdf", signed_document_sha256="a" * 64
    )
    assert check(good, RULES) == []
    assert good.as_dict()["billing_start"] == "2027-01-01"
    assert "billing_start" not in deal().as_dict()


def test_a_json_deal_file_reads_billing_terms_and_keeps_plain_lines_as_before(tmp_path: Path) -> None:
    path = tmp_path / "deals.json"
    path.write_text(json.dumps([{"deal_id": "D-9", "lines": [PLATFORM, {**SETUP, "auto_renew": False}]}]))
    [event] = read_deal_file(path)
    platform, setup = event.deal.lines
    assert (platform.billing, platform.frequency, platform.end) == ("recurring", "annual", "2030-01-01")
    assert setup.auto_renew == "false" and setup.billing == ""


def test_crm_line_mappings_read_recurring_line_items() -> None:
    hubspot = load_source_mapping(DEFAULTS / "hubspot.yaml", "hubspot").lines
    assert hubspot is not None
    items = [
        {
            "properties": {
                "name": "Platform",
                "price": "1000",
                "recurringbillingfrequency": "annually",
                "hs_recurring_billing_period": "P36M",
                "hs_billing_start_delay_days": "30",
            }
        },
        {"properties": {"name": "Support", "price": "50", "recurringbillingfrequency": "monthly"}},
        {"properties": {"name": "Setup", "price": "500", "hs_billing_start_delay_days": "0"}},
    ]
    platform, support, setup = hubspot.apply({"line_items": items})
    assert (platform.billing, platform.frequency, platform.term, platform.start) == (
        "recurring",
        "annual",
        "P36M",
        "P30D",
    )
    assert platform.auto_renew == "false" and support.auto_renew == "true"  # no term: renews until cancelled
    assert setup == LineInput("Setup", "", "500.00")  # a one-time line item is read as before
    pipedrive = load_source_mapping(DEFAULTS / "pipedrive.yaml", "pipedrive").lines
    assert pipedrive is not None
    products = [
        {
            "name": "Seats",
            "item_price": 10,
            "billing_frequency": "quarterly",
            "billing_frequency_cycles": 8,
            "billing_start_date": "2027-02-01",
        },
        {"name": "Fee", "item_price": 99, "billing_frequency": "one-time", "billing_frequency_cycles": None},
    ]
    seats, fee = pipedrive.apply({"products": products})
    assert (seats.billing, seats.frequency, seats.periods, seats.start) == ("recurring", "quarterly", "8", "2027-02-01")
    assert fee.billing == "" and fee.frequency == "" and fee.auto_renew == ""
    # Salesforce: standard ServiceDate and custom fields, by mapping
    salesforce = LineMap.parse(
        "records",
        {
            "description": "Description",
            "unit_price": "UnitPrice | amount",
            "start": "ServiceDate | date",
            "billing": "Billing_Type__c",
            "frequency": "Billing_Frequency__c | frequency",
            "term": "Term_Months__c | number",
        },
    )
    [item] = salesforce.apply(
        {
            "records": [
                {
                    "UnitPrice": 5,
                    "ServiceDate": "2027-01-01",
                    "Billing_Type__c": "recurring",
                    "Billing_Frequency__c": "Monthly",
                    "Term_Months__c": 24,
                }
            ]
        }
    )
    assert (item.billing, item.frequency, item.start, item.term) == ("recurring", "monthly", "2027-01-01", "24")
    assert check(deal_with_lines([item.as_dict() | {"description": "Seats"}], amount="5.00"), RULES) == []
