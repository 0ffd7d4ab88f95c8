"""Accounting mappings by product: an invoice line keeps the product code its deal line gave and the
product tax category it was sold under, and a mapping on either (`product:CODE`,
`tax_category:NAME`) wins over the line's VAT-category mapping, in Xero (requests checked against
Xero's published OpenAPI description) and QuickBooks. Mappings are validated at load."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from handoff.accounting.connectors.xero import XeroChannel
from handoff.accounting.service import document
from handoff.approvals.service import approve, request_credit_note
from handoff.config import DEFAULTS, ConfigError, QuickBooksModel, XeroModel, category_code, load_business_config
from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.invoicing.domain.invoices import Invoice
from handoff.invoicing.service.issuing import issue_draft
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import StaticToken
from handoff.kernel.connectors.secrets import Secret
from tests.builders import deal_with_lines, issued_invoices, line
from tests.contract.standin import StandIn
from tests.contract.test_accounting_mappings import _quickbooks
from tests.contract.xero_standin import XeroBooks

T0 = datetime(2026, 11, 1, tzinfo=UTC)
LINES = [
    line("Handbook", unit_price="4000.00", product="HB-1", tax_category="reduced", supply="goods"),
    line("Course", unit_price="4000.00", product="CRS-9", tax_category="reduced"),
    line("Licence", unit_price="4000.00"),
]
XERO = XeroModel.model_validate(
    {
        "entities": {
            "ACME-DE": {
                "account_codes": {"product:HB-1": "4400", "tax_category:reduced": "4300", "S:7": "4310", "S": "4000"},
                "tax_types": {"product:HB-1": "OUTPUT3", "S": "OUTPUT2"},
            }
        }
    }
)
QBO = QuickBooksModel.model_validate(
    {"item_ids": {"product:HB-1": "44", "tax_category:reduced": "43", "S": "40"}, "tax_codes": {"product:CRS-9": "7"}}
)


def issue_mixed(ctx: AppContext) -> Invoice:
    (inv,) = issued_invoices(ctx, [DealEvent("crm", "e1", T0, deal_with_lines(LINES))])
    return inv


def test_the_invoice_line_keeps_the_product_and_its_tax_category(ctx: AppContext) -> None:
    inv = issue_mixed(ctx)
    assert [(ln.product, ln.tax_category, ln.tax.rate) for ln in inv.lines] == [
        ("HB-1", "reduced", 7),
        ("CRS-9", "reduced", 7),
        ("", "standard", 19),
    ]
    doc = document(inv)
    assert [(ln["product"], ln["tax_category"]) for ln in doc["lines"]] == [
        ("HB-1", "reduced"),
        ("CRS-9", "reduced"),
        ("", "standard"),
    ]
    approval = request_credit_note(ctx, inv.number or "", "returned", "ann@acme.example")
    credit_id = approve(ctx, approval["id"], "bob@acme.example")["result_invoice_id"]
    credit = issue_draft(ctx, credit_id, "bob@acme.example")
    assert [ln.product for ln in credit.lines] == ["HB-1", "CRS-9", ""]  # the credit note books alike


def test_a_product_mapping_wins_over_the_category_mapping() -> None:
    mappings = ({"product:HB-1": "p", "tax_category:reduced": "t", "S:7": "r", "S": "c"},)
    assert category_code(mappings, "S", "7.00", product="HB-1", tax_category="reduced") == "p"
    assert category_code(mappings, "S", "7.00", product="OTHER", tax_category="reduced") == "t"
    assert category_code(mappings, "S", "7.00", product="OTHER", tax_category="standard") == "r"
    assert category_code(mappings, "S", "19.00", product="", tax_category="") == "c"
    assert category_code(mappings, "S", "7.00") == "r"  # a document pushed before lines carried products
    # an entity's own mappings come first, whatever they are keyed by
    assert category_code(({"S": "own"}, {"product:HB-1": "shared"}), "S", "7", product="HB-1") == "own"


def test_xero_books_each_product_to_its_account_and_tax_type(
    ctx: AppContext, xero: StandIn, xero_books: XeroBooks
) -> None:
    doc = document(issue_mixed(ctx))
    with make_client(f"{xero.url}/api.xro/2.0", timeout=2.0) as http:
        channel = XeroChannel(
            HttpSender(http, "xero", sleep=lambda s: None), StaticToken(Secret("t")), "tenant-1", XERO
        )
        channel.deliver("xero:invoice:1", {"type": "invoice", "document": doc})
    (posted,) = xero_books.invoices
    assert [(i["Description"], i["AccountCode"], i["TaxType"]) for i in posted["LineItems"]] == [
        ("Handbook", "4400", "OUTPUT3"),  # its product's mapping
        ("Course", "4300", "OUTPUT2"),  # its tax category's account; no product tax type: its category's
        ("Licence", "4000", "OUTPUT2"),  # its VAT category's
    ]


def test_quickbooks_books_each_product_to_its_item_and_tax_code(ctx: AppContext) -> None:
    books, _ = _quickbooks(document(issue_mixed(ctx)), QBO)
    (posted,) = books.entities["Invoice"]
    details = [ln["SalesItemLineDetail"] for ln in posted["Line"]]
    assert [(d["ItemRef"]["value"], d.get("TaxCodeRef")) for d in details] == [
        ("44", None),
        ("43", {"value": "7"}),
        ("40", None),
    ]


def config_with(tmp_path: Path, xero: dict[str, Any]) -> Path:
    data = yaml.safe_load((DEFAULTS / "handoff.yaml").read_text(encoding="utf-8"))
    data["connectors"]["xero"] = xero
    path = tmp_path / "handoff.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("xero", "message"),
    [
        ({"account_codes": {"tax_category:luxury": "4300"}}, r"connectors\.xero\.account_codes: .*'luxury' is not a"),
        ({"account_codes": {"product:": "4300"}}, r"connectors\.xero\.account_codes: .*name the product code"),
        ({"tax_types": {"product:HB-1": " "}}, r"connectors\.xero\.tax_types: .*'product:HB-1': the code is empty"),
        (
            {"entities": {"ACME-DE": {"account_codes": {"sku:HB-1": "1"}}}},
            r"connectors\.xero\.entities\.ACME-DE\.account_codes: .*'sku' is not a VAT category",
        ),
    ],
)
def test_bad_product_mappings_are_refused_at_load(tmp_path: Path, xero: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_business_config(config_file=config_with(tmp_path, xero))


def test_good_product_mappings_load(tmp_path: Path) -> None:
    xero = {"account_codes": {"product:HB-1": "4400", "tax_category:reduced": "4300", "AE": "4336"}}
    loaded = load_business_config(config_file=config_with(tmp_path, xero)).model.connectors.xero
    assert loaded.account_code("ACME-DE", "S", "7", product="HB-1", tax_category="reduced") == "4400"
