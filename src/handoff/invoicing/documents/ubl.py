"""UBL 2.1 Invoice and CreditNote (ISO/IEC 19845) per EN 16931, Peppol BIS Billing 3.0 (to a buyer
with a Peppol ID) and XRechnung 3.0 (to a German public body): BT-24 says which (`common`).

Element order follows the UBL 2.1 XSD sequences (`UBL-Invoice-2.1.xsd`, `UBL-CreditNote-2.1.xsd`,
`UBL-CommonAggregateComponents-2.1.xsd`). Business terms written: BT-1..BT-3, BT-5, BT-6, BT-9,
BT-10, BT-13, BT-22, BT-24, BT-23, BG-3 (BT-25/26) for credit notes, BG-4 seller, BG-7 buyer,
BG-13 delivery (BT-72, BT-80), BG-20 document-level allowances (a deal's discount per VAT category)
and BT-107, BG-16 payment instructions (BT-81, BT-83 the RF reference, BT-84 IBAN,
BT-86 BIC), BT-20 terms, BG-23 VAT breakdown, BT-110/BT-111, BG-22 totals, BG-25 lines with their
allowances (BG-27, a line's discount).
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from handoff.invoicing.documents.common import (
    PEPPOL_PROFILE_ID,
    TYPE_CODES,
    amount,
    buyer_reference,
    buyer_vat_id,
    customization_id,
    decimal_text,
    document_note,
    has_category,
    payment_instructions,
    payment_terms_text,
    require_issued,
    seller_contact,
    shows_exemption,
    shows_rate,
    shows_vat_ids,
    vat_id,
)
from handoff.invoicing.documents.peppol import buyer_endpoint, seller_endpoint
from handoff.invoicing.domain.invoices import Invoice, InvoiceKind
from handoff.invoicing.domain.payment import means_text
from handoff.kernel.parties import Address

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_C = f"{{{CAC}}}"
_B = f"{{{CBC}}}"


def _cac(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, _C + name)


def _cbc(parent: etree._Element, name: str, text: str, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, _B + name, attrs)
    el.text = text
    return el


def _address(parent: etree._Element, tag: str, address: Address, country: str) -> None:
    addr = _cac(parent, tag)
    if address.street:
        _cbc(addr, "StreetName", address.street)
    if address.city:
        _cbc(addr, "CityName", address.city)
    if address.postal_code:
        _cbc(addr, "PostalZone", address.postal_code)
    _cbc(_cac(addr, "Country"), "IdentificationCode", address.country or country)


def _party(
    parent: etree._Element,
    tag: str,
    name: str,
    country: str,
    address: Address,
    ep: tuple[str, str] | None,
    shown_vat: str,
    legal_id: str,
    contact: tuple[str, str, str],
) -> None:
    party = _cac(_cac(parent, tag), "Party")
    if ep:
        _cbc(party, "EndpointID", ep[1], schemeID=ep[0])
    _cbc(_cac(party, "PartyName"), "Name", name)
    _address(party, "PostalAddress", address, country)
    if shown_vat:
        scheme = _cac(party, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", shown_vat)
        _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
    legal = _cac(party, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", name)
    if legal_id:
        _cbc(legal, "CompanyID", legal_id)
    contact_name, phone, email = contact
    if contact_name or phone or email:
        el = _cac(party, "Contact")
        if contact_name:
            _cbc(el, "Name", contact_name)
        if phone:
            _cbc(el, "Telephone", phone)
        if email:
            _cbc(el, "ElectronicMail", email)


def _tax_category(
    parent: etree._Element, tag: str, category: str, rate_text: str, code: str = "", note: str = ""
) -> None:
    el = _cac(parent, tag)
    _cbc(el, "ID", category)
    if shows_rate(category):
        _cbc(el, "Percent", rate_text)
    if shows_exemption(category):
        if code:
            _cbc(el, "TaxExemptionReasonCode", code)
        if note:
            _cbc(el, "TaxExemptionReason", note)
    _cbc(_cac(el, "TaxScheme"), "ID", "VAT")


def _allowance(
    parent: etree._Element,
    value: Decimal,
    base: Decimal | None,
    percentage: Decimal | None,
    reason: str,
    code: str,
    cur: str,
) -> etree._Element:
    """An allowance (`ChargeIndicator` false): BT-92..BT-94, BT-97, BT-98 on the document,
    BT-136..BT-140 on a line; the base and percentage only together (Peppol R041, R042)."""
    el = _cac(parent, "AllowanceCharge")
    _cbc(el, "ChargeIndicator", "false")
    _cbc(el, "AllowanceChargeReasonCode", code)
    _cbc(el, "AllowanceChargeReason", reason)
    if percentage is not None and base is not None:
        _cbc(el, "MultiplierFactorNumeric", decimal_text(percentage))
    _cbc(el, "Amount", amount(value), currencyID=cur)
    if percentage is not None and base is not None:
        _cbc(el, "BaseAmount", amount(base), currencyID=cur)
    return el


def build(invoice: Invoice) -> etree._Element:
    """The UBL document tree of an issued invoice or credit note."""
    number, issued = require_issued(invoice)
    credit = invoice.kind is InvoiceKind.CREDIT_NOTE
    root_ns = NS_CREDIT_NOTE if credit else NS_INVOICE
    root = etree.Element(
        "{{{}}}{}".format(root_ns, "CreditNote" if credit else "Invoice"),
        nsmap={None: root_ns, "cac": CAC, "cbc": CBC},
    )
    cur = invoice.currency
    seller, buyer = invoice.seller, invoice.buyer

    _cbc(root, "CustomizationID", customization_id(invoice))
    _cbc(root, "ProfileID", PEPPOL_PROFILE_ID)
    _cbc(root, "ID", number)
    _cbc(root, "IssueDate", issued)
    if invoice.due_date and not credit:
        _cbc(root, "DueDate", invoice.due_date.isoformat())
    _cbc(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", TYPE_CODES[invoice.kind])
    note = document_note(invoice)
    if note:
        _cbc(root, "Note", note)
    _cbc(root, "DocumentCurrencyCode", cur)
    if invoice.tax_currency:
        _cbc(root, "TaxCurrencyCode", invoice.tax_currency)
    if buyer_reference(invoice):
        _cbc(root, "BuyerReference", buyer_reference(invoice))
    if invoice.po_number:
        _cbc(_cac(root, "OrderReference"), "ID", invoice.po_number)
    if credit and invoice.corrects:
        ref = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(ref, "ID", invoice.corrects)
        if invoice.corrects_issue_date:
            _cbc(ref, "IssueDate", invoice.corrects_issue_date.isoformat())

    show_vat = shows_vat_ids(invoice)
    _party(
        root,
        "AccountingSupplierParty",
        seller.name,
        seller.country,
        seller.address,
        seller_endpoint(invoice),
        vat_id(seller.country, seller.vat_id) if show_vat and seller.vat_id else "",
        seller.company_register or seller.tax_id,
        seller_contact(invoice),
    )
    _party(
        root,
        "AccountingCustomerParty",
        buyer.legal_name,
        buyer.country,
        buyer.address,
        buyer_endpoint(invoice),
        buyer_vat_id(invoice),
        "",
        (buyer.billing_contact_name, "", buyer.billing_email),
    )

    # Intra-community supply needs the delivery date and deliver-to country (BR-IC-11, BR-IC-12).
    if invoice.delivery_date or has_category(invoice, "K"):
        delivery = _cac(root, "Delivery")
        delivered = invoice.delivery_date or invoice.issue_date
        if delivered:
            _cbc(delivery, "ActualDeliveryDate", delivered.isoformat())
        _address(_cac(delivery, "DeliveryLocation"), "Address", buyer.address, buyer.country)

    pay = payment_instructions(invoice)
    if pay.code:  # BG-16 from the seller's configured means; none configured, none stated
        means = _cac(root, "PaymentMeans")
        _cbc(means, "PaymentMeansCode", pay.code).set("name", means_text(pay))  # BT-82 in its `name`
        if pay.reference:
            _cbc(means, "PaymentID", pay.reference)
        if pay.account:
            account = _cac(means, "PayeeFinancialAccount")
            _cbc(account, "ID", pay.account)
            _cbc(account, "Name", pay.account_name)
            if pay.institution:
                _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", pay.institution)
    _cbc(_cac(root, "PaymentTerms"), "Note", payment_terms_text(invoice))
    for a in invoice.allowances:  # BG-20, a deal's discount per VAT category
        el = _allowance(root, a.amount, a.base_amount, a.percentage, a.reason, a.reason_code, cur)
        _tax_category(el, "TaxCategory", a.category, decimal_text(a.rate))

    tax_total = _cac(root, "TaxTotal")
    _cbc(tax_total, "TaxAmount", amount(invoice.totals.tax), currencyID=cur)
    for b in invoice.breakdown:
        sub = _cac(tax_total, "TaxSubtotal")
        _cbc(sub, "TaxableAmount", amount(b.taxable_amount), currencyID=cur)
        _cbc(sub, "TaxAmount", amount(b.tax_amount), currencyID=cur)
        _tax_category(sub, "TaxCategory", b.category, decimal_text(b.rate), b.exemption_code, b.note)
    if invoice.tax_currency and invoice.tax_in_tax_currency is not None:
        _cbc(
            _cac(root, "TaxTotal"),
            "TaxAmount",
            amount(invoice.tax_in_tax_currency),
            currencyID=invoice.tax_currency,
        )

    totals = invoice.totals
    monetary = _cac(root, "LegalMonetaryTotal")
    _cbc(monetary, "LineExtensionAmount", amount(totals.line_net), currencyID=cur)
    _cbc(monetary, "TaxExclusiveAmount", amount(totals.tax_exclusive), currencyID=cur)
    _cbc(monetary, "TaxInclusiveAmount", amount(totals.tax_inclusive), currencyID=cur)
    if invoice.allowances:
        _cbc(monetary, "AllowanceTotalAmount", amount(totals.allowances), currencyID=cur)  # BT-107
    if totals.prepaid:
        _cbc(monetary, "PrepaidAmount", amount(totals.prepaid), currencyID=cur)
    _cbc(monetary, "PayableAmount", amount(totals.payable), currencyID=cur)

    line_tag, qty_tag = ("CreditNoteLine", "CreditedQuantity") if credit else ("InvoiceLine", "InvoicedQuantity")
    for line in invoice.lines:
        el = _cac(root, line_tag)
        _cbc(el, "ID", str(line.line_no))
        if line.note:
            _cbc(el, "Note", line.note)
        _cbc(el, qty_tag, decimal_text(line.quantity), unitCode=line.unit_code)
        _cbc(el, "LineExtensionAmount", amount(line.net_amount), currencyID=cur)
        if line.period_start is not None and line.period_end is not None:  # BG-26: the period a line bills
            period = _cac(el, "InvoicePeriod")
            _cbc(period, "StartDate", line.period_start.isoformat())  # BT-134
            _cbc(period, "EndDate", line.period_end.isoformat())  # BT-135
        for la in line.allowances:  # BG-27, the line's discount
            _allowance(el, la.amount, la.base_amount, la.percentage, la.reason, la.reason_code, cur)
        item = _cac(el, "Item")
        _cbc(item, "Name", line.description)
        _tax_category(item, "ClassifiedTaxCategory", line.tax.category, decimal_text(line.tax.rate))
        _cbc(_cac(el, "Price"), "PriceAmount", decimal_text(line.unit_price), currencyID=cur)
    return root


def render(invoice: Invoice) -> bytes:
    return etree.tostring(build(invoice), xml_declaration=True, encoding="UTF-8")  # type: ignore[no-any-return]
