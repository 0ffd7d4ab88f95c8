"""What the UBL, CII and PDF renderings of an EN 16931 invoice share: number formats, code lists
(UNCL 1001 document type, the payment instructions) and checks. Electronic addresses are in `peppol`.
"""

from __future__ import annotations

from decimal import Decimal

from handoff.invoicing.domain.einvoice import is_peppol, is_public_de
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceKind
from handoff.invoicing.domain.payment import PaymentInstructions, instructions
from handoff.kernel.money import round2
from handoff.kernel.parties import vat_prefix


class DocumentError(ValueError):
    """An invoice that cannot be rendered as asked (for example an unissued draft as XML)."""


# EN 16931 specification identifier (BT-24) and the Peppol BIS Billing 3.0 ones.
EN16931_ID = "urn:cen.eu:en16931:2017"
PEPPOL_CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
XRECHNUNG_ID = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"

# UNCL 1001 (BT-3): commercial invoice, credit note.
TYPE_CODES = {InvoiceKind.INVOICE: "380", InvoiceKind.CREDIT_NOTE: "381"}


def require_issued(invoice: Invoice) -> tuple[str, str]:
    """Number and ISO issue date of an issued invoice; an e-invoice of a draft does not exist."""
    if invoice.status is not DocumentStatus.ISSUED or invoice.number is None or invoice.issue_date is None:
        raise DocumentError("only an issued invoice has an e-invoice: it needs a number and a date (BT-1, BT-2)")
    return invoice.number, invoice.issue_date.isoformat()


def amount(value: Decimal) -> str:
    """An EN 16931 amount: two decimals (BR-DEC rules), no exponent."""
    return f"{round2(value):f}"


def decimal_text(value: Decimal) -> str:
    """A quantity, price or rate without needless trailing zeros and without exponent."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def vat_id(country: str, raw: str) -> str:
    """A VAT identifier with its country prefix (BR-CO-09)."""
    compact = raw.replace(" ", "").upper()
    prefix = vat_prefix(country)
    if compact[:2].isalpha():
        return compact
    return prefix + compact


# Countries without VAT whose tax id may stand in a customer's `vat_id` (US: the EIN).
NON_VAT_COUNTRIES = frozenset({"US"})


def buyer_vat_id(invoice: Invoice) -> str:
    """BT-48, when the buyer has a VAT id the invoice may show (never for category O, BR-O-02)."""
    buyer = invoice.buyer
    if not buyer.vat_id or buyer.country in NON_VAT_COUNTRIES or not shows_vat_ids(invoice):
        return ""
    return vat_id(buyer.country, buyer.vat_id)


def has_category(invoice: Invoice, category: str) -> bool:
    return any(b.category == category for b in invoice.breakdown)


def shows_vat_ids(invoice: Invoice) -> bool:
    """Seller and buyer VAT ids are left out when a line is not subject to VAT (BR-O-02)."""
    return not has_category(invoice, "O")


def shows_exemption(category: str) -> bool:
    """Exemption reasons (BT-120/121) belong to exempt categories only (BR-S-10, BR-Z-10)."""
    return category not in ("S", "Z", "L", "M")


def shows_rate(category: str) -> bool:
    """Category O carries no rate (BR-O-05, BR-O-10)."""
    return category != "O"


def payment_instructions(invoice: Invoice) -> PaymentInstructions:
    """BG-16 of the invoice, from its seller's configured means (`invoicing.domain.payment`): BT-81
    UNCL 4461 code 58, 30 or 68, empty when the seller has none (no BG-16 then)."""
    return instructions(invoice.seller, invoice.currency, invoice.number or "", invoice.payment_reference)


def payment_terms_text(invoice: Invoice) -> str:
    if invoice.payment_terms_days == 0:
        return "Due on receipt"
    return f"Payment within {invoice.payment_terms_days} days ({invoice.payment_terms})"


def document_note(invoice: Invoice) -> str:
    """All document notes (BT-22) as one text: Peppol allows one note per document (R002)."""
    return " | ".join(n for n in invoice.notes if n)


def customization_id(invoice: Invoice, syntax: str = "ubl") -> str:
    """BT-24: XRechnung for a German public buyer; Peppol BIS Billing 3.0 for a UBL to a buyer
    with a Peppol address (`peppol_id`); plain EN 16931 otherwise (a UBL sent by e-mail or a CII)."""
    if is_public_de(invoice):
        return XRECHNUNG_ID
    if syntax == "ubl" and is_peppol(invoice):
        return PEPPOL_CUSTOMIZATION_ID
    return EN16931_ID


def buyer_reference(invoice: Invoice) -> str:
    """BT-10: a German public buyer's Leitweg-ID, else the invoice's buyer reference."""
    if is_public_de(invoice) and invoice.buyer.leitweg_id:
        return invoice.buyer.leitweg_id
    return invoice.buyer_reference


def seller_contact(invoice: Invoice) -> tuple[str, str, str]:
    """BG-6 (BT-41 name, BT-42 telephone, BT-43 e-mail) from the entity's configured contact."""
    seller = invoice.seller
    return seller.contact_name or seller.name, seller.phone, seller.contact_email or seller.email
