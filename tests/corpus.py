"""A corpus of generated, issued invoices and credit notes: one per VAT case (domestic standard,
reduced and zero-rated, reverse charge, intra-community goods, EU B2C at origin and destination,
exports of goods and services, exempt, outside scope), credit notes (full and partial), partial
and consolidated invoices, in EUR, USD, GBP and SEK. Used by the document tests and the benchmark.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import yaml

from handoff.deals.domain.orders import BillableLine, BillableOrder
from handoff.invoicing.documents.peppol import endpoint
from handoff.invoicing.domain.invoices import Invoice, consolidate, credit_note, draft_invoice, issue
from handoff.invoicing.domain.tax import VatRates
from handoff.kernel.parties import Address, Customer, LegalEntity

RATES_FILE = Path(__file__).resolve().parents[1] / "src" / "handoff" / "defaults" / "vat_rates.yaml"
RATES = VatRates.from_mapping(yaml.safe_load(RATES_FILE.read_text(encoding="utf-8")))
TERMS = {"net30": 30, "net14": 14, "due_on_receipt": 0}
ISSUED_ON = date(2026, 3, 2)

DE_SELLER = LegalEntity(
    code="DE",
    name="Handoff Demo GmbH",
    country="DE",
    currency="EUR",
    address=Address("Friedrichstrasse 10", "Berlin", "10117", "DE"),
    vat_id="DE136695976",
    tax_id="HRB 123456",
    iban="DE89370400440532013000",
    bic="COBADEFFXXX",
    email="billing@handoff.example",
    invoice_prefix="DE",
    phone="+49 30 1234567",
)
SE_SELLER = LegalEntity(
    code="SE",
    name="Handoff Demo AB",
    country="SE",
    currency="SEK",
    address=Address("Drottninggatan 5", "Stockholm", "11151", "SE"),
    vat_id="SE556036079301",
    tax_id="5560360793",
    iban="SE4550000000058398257466",
    bic="ESSESESS",
    email="faktura@handoff.example",
    invoice_prefix="SE",
    phone="+46 8 123456",
)
GB_SELLER = LegalEntity(
    code="UK",
    name="Handoff Demo Ltd",
    country="GB",
    currency="GBP",
    address=Address("1 King Street", "London", "EC2V 8AU", "GB"),
    vat_id="GB123456789",
    tax_id="01234567",
    iban="GB29NWBK60161331926819",
    bic="NWBKGB2L",
    email="billing@handoff.example",
    invoice_prefix="UK",
    phone="+44 20 7946 0000",
)


def customer(
    cid: str,
    name: str,
    country: str,
    vat_id: str = "",
    business: bool = True,
    street: str = "Main Street 1",
    city: str = "City",
    postal: str = "12345",
) -> Customer:
    """A buyer; a business with a VAT id is on Peppol, at the address its VAT id makes (its master data)."""
    ep = endpoint(country, vat_id) if business else None
    return Customer(
        cid,
        name,
        country,
        business,
        vat_id,
        f"ap@{cid.lower()}.example",
        "Accounts Payable",
        Address(street, city, postal, country),
        peppol_id=f"{ep[0]}:{ep[1]}" if ep else "",
    )


DE_BUYER = customer("C-DE", "Kunde AG", "DE", "DE811569869", city="Munich", postal="80331")
FR_BUYER = customer("C-FR", "Client SARL", "FR", "FR40303265045", city="Paris", postal="75001")
NL_BUYER = customer("C-NL", "Klant BV", "NL", "NL004495445B01", city="Amsterdam", postal="1012AB")
FR_CONSUMER = customer("C-FRX", "Marie Dupont", "FR", business=False, city="Lyon", postal="69001")
US_BUYER = customer("C-US", "Customer Inc.", "US", "12-3456789", city="Boston", postal="02110")
GB_BUYER = customer("C-GB", "Customer Ltd", "GB", "GB987654321", city="Leeds", postal="LS1 4AP")
SE_BUYER = customer("C-SE", "Kund AB", "SE", "SE556703748501", city="Goteborg", postal="41101")


def order(
    deal_id: str,
    buyer: Customer,
    currency: str,
    lines: list[tuple[str, str, str, str, str]],
    po: str = "",
    terms: str = "net30",
    entity: str = "DE",
) -> BillableOrder:
    """lines: (description, quantity, unit price, product tax category, supply)."""
    return BillableOrder(
        deal_id,
        f"Deal {deal_id}",
        currency,
        buyer,
        entity,
        terms,
        po,
        "owner@handoff.example",
        tuple(BillableLine(d, Decimal(q), Decimal(p), c, s) for d, q, p, c, s in lines),
    )


SAAS = ("Platform subscription, annual", "1", "12000.00", "standard", "services")
SEATS = ("Additional seats", "15", "49.90", "standard", "services")
BOOKS = ("Printed training manuals", "12", "18.75", "reduced", "goods")
HARDWARE = ("Barcode scanners", "10", "129.99", "standard", "goods")


def _issue(inv: Invoice, seq: int, rate: str | None = None, series: str = "INV") -> Invoice:
    prefix = inv.seller.invoice_prefix
    return issue(inv, f"{series}-{prefix}-2026-{seq:06d}", ISSUED_ON, Decimal(rate) if rate else None)


def build_corpus() -> dict[str, Invoice]:
    """name -> issued invoice or credit note."""
    c: dict[str, Invoice] = {}
    d = lambda o, **kw: draft_invoice(o, DE_SELLER, RATES, TERMS, **kw)  # noqa: E731
    c["domestic_standard"] = _issue(d(order("D-1", DE_BUYER, "EUR", [SAAS, SEATS], po="PO-4711")), 1)
    c["domestic_reduced"] = _issue(d(order("D-2", DE_BUYER, "EUR", [BOOKS, SEATS])), 2)
    c["domestic_zero"] = _issue(
        d(order("D-3", DE_BUYER, "EUR", [("Solar panel kit", "2", "2450.00", "zero", "goods"), SEATS])), 3
    )
    c["reverse_charge_services"] = _issue(d(order("D-4", FR_BUYER, "EUR", [SAAS, SEATS], po="BC-2026-17")), 4)
    c["intra_community_goods"] = _issue(
        d(order("D-5", NL_BUYER, "EUR", [HARDWARE, BOOKS]), delivery_date=date(2026, 2, 27)), 5
    )
    digital = [("E-learning licence", "3", "99.00", "standard", "digital")]
    c["b2c_origin"] = _issue(d(order("D-6", FR_CONSUMER, "EUR", digital)), 6)
    c["b2c_destination"] = _issue(d(order("D-7", FR_CONSUMER, "EUR", digital), over_distance_threshold=True), 7)
    c["export_goods_usd"] = _issue(d(order("D-8", US_BUYER, "USD", [HARDWARE])), 8, "0.9214")
    c["services_abroad_gbp"] = _issue(d(order("D-9", GB_BUYER, "GBP", [SAAS, SEATS])), 9, "1.1852")
    c["exempt_education"] = _issue(
        d(
            order(
                "D-10",
                DE_BUYER,
                "EUR",
                [("Accredited training course", "4", "450.00", "exempt_education", "services"), SEATS],
            )
        ),
        10,
    )
    c["domestic_usd_tax_currency"] = _issue(d(order("D-11", DE_BUYER, "USD", [SAAS, BOOKS])), 11, "0.9214")
    c["outside_scope_gb_seller"] = _issue(
        draft_invoice(order("U-1", GB_BUYER, "GBP", [SAAS], entity="UK"), GB_SELLER, RATES, TERMS), 1
    )
    c["domestic_sek"] = _issue(
        draft_invoice(
            order(
                "S-1",
                SE_BUYER,
                "SEK",
                [
                    ("Onboarding workshop", "2", "14500.00", "standard", "services"),
                    ("Course literature", "6", "349.00", "reduced_low", "goods"),
                ],
                entity="SE",
            ),
            SE_SELLER,
            RATES,
            TERMS,
        ),
        1,
    )
    big = order("D-12", DE_BUYER, "EUR", [HARDWARE, ("Installation", "8", "95.00", "standard", "services")])
    c["partial_delivery"] = _issue(d(big, quantities={1: Decimal("4")}), 12)
    c["consolidated"] = _issue(
        consolidate(
            [
                order("D-13", FR_BUYER, "EUR", [SAAS], po="BC-1"),
                order(
                    "D-14",
                    FR_BUYER,
                    "EUR",
                    [SEATS, ("Onsite consulting", "2.5", "1100", "standard", "services")],
                    po="BC-2",
                ),
                order("D-15", FR_BUYER, "EUR", [HARDWARE], po="BC-2"),
            ],
            DE_SELLER,
            RATES,
            TERMS,
        ),
        13,
    )
    c["credit_note_full"] = _issue(credit_note(c["domestic_standard"], "cancelled subscription"), 1, series="CN")
    c["credit_note_partial"] = _issue(
        credit_note(c["intra_community_goods"], "two scanners returned", {1: Decimal("2")}), 2, series="CN"
    )
    c["credit_note_usd"] = _issue(
        credit_note(c["export_goods_usd"], "price correction", {1: Decimal("1")}), 3, series="CN"
    )
    return c


# Invoices to consumers are not Peppol documents: a consumer has no Peppol endpoint (BT-49), and
# none is made up. They are validated against EN 16931 only.
NOT_PEPPOL = frozenset({"b2c_origin", "b2c_destination"})
