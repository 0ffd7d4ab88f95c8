"""A customer's e-invoice preference (`invoice_format`: pdf, facturx, ubl or cii) is read with the
deal and kept with the customer as billed; a value that is none of them blocks the deal naming the
field, whatever the rules file says."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.config import load_business_config
from handoff.deals.domain.orders import DEAL_FIELDS, to_billable
from handoff.deals.domain.readiness import check
from handoff.invoicing.domain.formats import DEFAULT_FORMAT, attachments
from tests.builders import deal

RULES = load_business_config().ruleset


@pytest.mark.parametrize(
    ("given", "stored"),
    [("", "pdf"), ("pdf", "pdf"), ("UBL", "ubl"), (" cii ", "cii"), ("Factur-X", "facturx"), ("facturx", "facturx")],
)
def test_a_known_format_passes_and_is_kept_with_the_customer(given: str, stored: str) -> None:
    d = deal(invoice_format=given)
    assert check(d, RULES) == []
    assert to_billable(d).customer.invoice_format == stored


def test_an_unknown_format_is_a_readiness_problem_naming_the_field() -> None:
    problems = check(deal(invoice_format="edifact"), RULES)
    assert [(p.code, p.field) for p in problems] == [("invalid", "invoice_format")]
    assert "edifact" in problems[0].message and "ubl" in problems[0].message


def test_the_check_holds_with_a_rules_file_that_does_not_name_it(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules:\n  - {field: billing_email, check: email}\n", encoding="utf-8")
    ruleset = load_business_config(rules_file=rules).ruleset
    assert [p.field for p in check(deal(invoice_format="edifact"), ruleset)] == ["invoice_format"]


def test_it_is_a_generic_deal_field_and_each_format_says_what_is_attached() -> None:
    assert "invoice_format" in DEAL_FIELDS
    assert DEFAULT_FORMAT == "pdf"
    assert attachments("pdf") == ("pdf",)
    assert attachments("facturx") == ("facturx",)
    assert attachments("ubl") == ("pdf", "ubl")
    assert attachments("cii") == ("pdf", "cii")
