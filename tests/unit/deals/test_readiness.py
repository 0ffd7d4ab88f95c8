"""The default readiness rules, rule by rule: each failure is exactly one problem with the right
code and field, and a complete deal has none."""

from __future__ import annotations

import pytest

from handoff.config import ConfigError, load_business_config
from handoff.deals.domain.readiness import check
from tests.builders import deal

RULES = load_business_config().ruleset


def problems(**changes: str) -> list[tuple[str, str]]:
    return [(p.code, p.field) for p in check(deal(**changes), RULES)]


def test_complete_deal_is_ready() -> None:
    assert problems() == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"billing_email": ""}, [("missing", "billing_email")]),
        ({"billing_email": "ap at kestrel.de"}, [("invalid", "billing_email")]),
        ({"billing_email": "ap@"}, [("invalid", "billing_email")]),
        ({"customer_legal_name": "  "}, [("missing", "customer_legal_name")]),
        ({"country": ""}, [("missing", "country")]),
        ({"country": "Deutschland"}, [("invalid", "country")]),  # a name pycountry does not know ("Germany" is DE)
        ({"country": "XX"}, [("invalid", "country")]),
        ({"currency": ""}, [("missing", "currency")]),
        ({"currency": "EURO"}, [("invalid", "currency")]),
        ({"currency": "ABC"}, [("invalid", "currency")]),
        ({"amount": ""}, [("missing", "amount")]),
        ({"amount": "-5"}, [("invalid", "amount")]),
        ({"amount": "0"}, [("invalid", "amount")]),
        ({"amount": "12,000.00"}, [("invalid", "amount")]),
        ({"amount": "NaN"}, [("invalid", "amount")]),
        ({"legal_entity": ""}, [("missing", "legal_entity")]),
        ({"legal_entity": "ACME-FR"}, [("invalid", "legal_entity")]),
        ({"vat_id": ""}, [("missing", "vat_id")]),
        ({"vat_id": "DE136695977"}, [("invalid", "vat_id")]),  # checksum
        ({"vat_id": "136695976"}, [("invalid", "vat_id")]),  # no prefix
        ({"vat_id": "FR40303265045"}, [("invalid", "vat_id")]),  # valid, but not a German id
        ({"po_number": ""}, [("missing", "po_number")]),
        ({"payment_terms": ""}, [("missing", "payment_terms")]),
        ({"payment_terms": "net90"}, [("invalid", "payment_terms")]),
        (
            {"billing_email": "", "po_number": "", "vat_id": ""},
            [("missing", "billing_email"), ("missing", "vat_id"), ("missing", "po_number")],
        ),
    ],
)
def test_each_rule_reports_one_problem(changes: dict[str, str], expected: list[tuple[str, str]]) -> None:
    assert problems(**changes) == expected


def test_vat_id_formatting_is_tolerated_and_greece_uses_el() -> None:
    assert problems(vat_id="DE 136 695 976") == []
    assert problems(country="GR", vat_id="EL094259216") == []
    assert problems(country="GR", vat_id="GR094259216") == [("invalid", "vat_id")]


def test_vat_id_only_required_for_eu_businesses() -> None:
    assert problems(customer_type="consumer", vat_id="") == []
    assert problems(country="US", vat_id="", billing_state="NY") == []  # (a US customer needs its state)
    assert problems(country="CH", vat_id="") == []
    assert problems(customer_type="Business", vat_id="") == [("missing", "vat_id")]


def test_po_only_required_when_requires_po() -> None:
    for no in ("false", "no", "0", ""):
        assert problems(requires_po=no, po_number="") == []
    for yes in ("true", "TRUE", "yes", "1"):
        assert problems(requires_po=yes, po_number="") == [("missing", "po_number")]
    assert problems(requires_po="maybe", po_number="PO-1") == [("invalid", "requires_po")]


def test_lower_case_codes_are_accepted() -> None:
    assert problems(country="de", currency="eur") == []


def test_a_rules_file_with_an_unknown_check_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: 1\nrules:\n  - {field: po_number, check: presnt}\n")
    with pytest.raises(ConfigError, match=r"rules.yaml: rules.0: .*unknown check 'presnt'"):
        load_business_config(rules_file=bad)


def test_custom_rules_from_yaml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n"
        "  - {field: po_number, check: pattern, pattern: 'PO-\\d+'}\n"
        "  - {field: custom.cost_center, check: present, when: business}\n"
    )
    ruleset = load_business_config(rules_file=rules).ruleset
    found = [(p.code, p.field) for p in check(deal(po_number="X1"), ruleset)]
    assert found == [("invalid", "po_number"), ("missing", "custom.cost_center")]
    assert check(deal(cost_center="CC-7"), ruleset) == []
