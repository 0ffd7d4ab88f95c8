"""UN/CEFACT Cross Industry Invoice (CII D16B) per EN 16931: the syntax inside Factur-X / ZUGFeRD.

Element order follows the D16B uncoupled subset XSD (`CrossIndustryInvoice_100pD16B.xsd`). Same
business terms as the UBL rendering: BT-1..BT-3, BT-5, BT-6, BT-9, BT-10, BT-13, BT-22, BT-24,
BG-3 for credit notes, BG-4, BG-7, BG-13, BG-16 (BT-81, BT-83, BT-84, BT-86), BT-20, BG-23,
BT-110 / BT-111 (a second TaxTotalAmount in the accounting currency), BG-22, BG-25, and the
discounts: line allowances (BG-27) in the line's settlement, document-level allowances (BG-20)
per VAT category in the header settlement with their total (BT-107).
"""

from __future__ import annotations

from datetime import date
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

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
_R = f"{{{RAM}}}"


def _el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, _R + name, attrs)
    if text is not None:
        el.text = text
    return el


def _date(parent: etree._Element, name: str, value: date, ns: str = UDT) -> None:
    holder = _el(parent, name)
    etree.SubElement(holder, f"{{{ns}}}DateTimeString", format="102").text = value.strftime("%Y%m%d")


def _address(parent: etree._Element, address: Address, country: str) -> None:
    addr = _el(parent, "PostalTradeAddress")
    if address.postal_code:
        _el(addr, "PostcodeCode", address.postal_code)
    if address.street:
        _el(addr, "LineOne", address.street)
    if address.city:
        _el(addr, "CityName", address.city)
    _el(addr, "CountryID", address.country or country)


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
    party = _el(parent, tag)
    _el(party, "Name", name)
    if legal_id:
        _el(_el(party, "SpecifiedLegalOrganization"), "ID", legal_id)
    contact_name, phone, email = contact
    if contact_name or phone or email:
        el = _el(party, "DefinedTradeContact")
        if contact_name:
            _el(el, "PersonName", contact_name)
        if phone:
            _el(_el(el, "TelephoneUniversalCommunication"), "CompleteNumber", phone)
        if email:
            _el(_el(el, "EmailURIUniversalCommunication"), "URIID", email)
    _address(party, address, country)
    if ep:
        _el(_el(party, "URIUniversalCommunication"), "URIID", ep[1], schemeID=ep[0])
    if shown_vat:
        _el(_el(party, "SpecifiedTaxRegistration"), "ID", shown_vat, schemeID="VA")


def _allowance(
    parent: etree._Element, value: Decimal, base: Decimal | None, percentage: Decimal | None, reason: str, code: str
) -> etree._Element:
    """An allowance (`ChargeIndicator` false): BT-92..BT-94, BT-97, BT-98 on the document,
    BT-136..BT-140 on a line; the base and percentage only together."""
    el = _el(parent, "SpecifiedTradeAllowanceCharge")
    etree.SubElement(_el(el, "ChargeIndicator"), f"{{{UDT}}}Indicator").text = "false"
    if percentage is not None and base is not None:
        _el(el, "CalculationPercent", decimal_text(percentage))
        _el(el, "BasisAmount", amount(base))
    _el(el, "ActualAmount", amount(value))
    _el(el, "ReasonCode", code)
    _el(el, "Reason", reason)
    return el


def build(invoice: Invoice) -> etree._Element:
    """The CII document tree of an issued invoice or credit note."""
    number, _ = require_issued(invoice)
    assert invoice.issue_date is not None
    cur = invoice.currency
    seller, buyer = invoice.seller, invoice.buyer
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)

    context = etree.SubElement(root, f"{{{RSM}}}ExchangedDocumentContext")
    _el(_el(context, "BusinessProcessSpecifiedDocumentContextParameter"), "ID", PEPPOL_PROFILE_ID)  # BT-23
    _el(_el(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", customization_id(invoice, "cii"))
    header = etree.SubElement(root, f"{{{RSM}}}ExchangedDocument")
    _el(header, "ID", number)
    _el(header, "TypeCode", TYPE_CODES[invoice.kind])
    _date(header, "IssueDateTime", invoice.issue_date)
    for note in invoice.notes:
        _el(_el(header, "IncludedNote"), "Content", note)

    trade = etree.SubElement(root, f"{{{RSM}}}SupplyChainTradeTransaction")
    for line in invoice.lines:
        item = _el(trade, "IncludedSupplyChainTradeLineItem")
        doc = _el(item, "AssociatedDocumentLineDocument")
        _el(doc, "LineID", str(line.line_no))
        if line.note:
            _el(_el(doc, "IncludedNote"), "Content", line.note)
        _el(_el(item, "SpecifiedTradeProduct"), "Name", line.description)
        agreement = _el(item, "SpecifiedLineTradeAgreement")
        _el(_el(agreement, "NetPriceProductTradePrice"), "ChargeAmount", decimal_text(line.unit_price))
        _el(
            _el(item, "SpecifiedLineTradeDelivery"),
            "BilledQuantity",
            decimal_text(line.quantity),
            unitCode=line.unit_code,
        )
        settlement = _el(item, "SpecifiedLineTradeSettlement")
        tax = _el(settlement, "ApplicableTradeTax")
        _el(tax, "TypeCode", "VAT")
        _el(tax, "CategoryCode", line.tax.category)
        if shows_rate(line.tax.category):
            _el(tax, "RateApplicablePercent", decimal_text(line.tax.rate))
        if line.period_start is not None and line.period_end is not None:  # BG-26: the period a line bills
            period = _el(settlement, "BillingSpecifiedPeriod")
            _date(period, "StartDateTime", line.period_start)  # BT-134
            _date(period, "EndDateTime", line.period_end)  # BT-135
        for la in line.allowances:  # BG-27, the line's discount
            _allowance(settlement, la.amount, la.base_amount, la.percentage, la.reason, la.reason_code)
        _el(
            _el(settlement, "SpecifiedTradeSettlementLineMonetarySummation"),
            "LineTotalAmount",
            amount(line.net_amount),
        )

    agreement = _el(trade, "ApplicableHeaderTradeAgreement")
    if buyer_reference(invoice):
        _el(agreement, "BuyerReference", buyer_reference(invoice))
    show_vat = shows_vat_ids(invoice)
    _party(
        agreement,
        "SellerTradeParty",
        seller.name,
        seller.country,
        seller.address,
        seller_endpoint(invoice),
        vat_id(seller.country, seller.vat_id) if show_vat and seller.vat_id else "",
        seller.company_register or seller.tax_id,
        seller_contact(invoice),
    )
    _party(
        agreement,
        "BuyerTradeParty",
        buyer.legal_name,
        buyer.country,
        buyer.address,
        buyer_endpoint(invoice),
        buyer_vat_id(invoice),
        "",
        (buyer.billing_contact_name, "", buyer.billing_email),
    )
    if invoice.po_number:
        _el(_el(agreement, "BuyerOrderReferencedDocument"), "IssuerAssignedID", invoice.po_number)

    delivery = _el(trade, "ApplicableHeaderTradeDelivery")
    # Intra-community supply needs the delivery date and deliver-to country (BR-IC-11, BR-IC-12).
    if invoice.delivery_date or has_category(invoice, "K"):
        ship_to = _el(delivery, "ShipToTradeParty")
        _address(ship_to, buyer.address, buyer.country)
        _date(
            _el(delivery, "ActualDeliverySupplyChainEvent"),
            "OccurrenceDateTime",
            invoice.delivery_date or invoice.issue_date,
        )

    settle = _el(trade, "ApplicableHeaderTradeSettlement")
    if invoice.payment_reference:
        _el(settle, "PaymentReference", invoice.payment_reference)
    if invoice.tax_currency:
        _el(settle, "TaxCurrencyCode", invoice.tax_currency)
    _el(settle, "InvoiceCurrencyCode", cur)
    pay = payment_instructions(invoice)
    if pay.code:  # BG-16 from the seller's configured means; none configured, none stated
        means = _el(settle, "SpecifiedTradeSettlementPaymentMeans")
        _el(means, "TypeCode", pay.code)
        _el(means, "Information", means_text(pay))
        if pay.account:
            account = _el(means, "PayeePartyCreditorFinancialAccount")  # XSD order: IBANID, AccountName, ProprietaryID
            if pay.kind == "iban":
                _el(account, "IBANID", pay.account)
            _el(account, "AccountName", pay.account_name)
            if pay.kind != "iban":
                _el(account, "ProprietaryID", pay.account)
            if pay.institution:  # BT-86: a BIC, or a national clearing code such as an ABA routing number
                _el(_el(means, "PayeeSpecifiedCreditorFinancialInstitution"), "BICID", pay.institution)
    for b in invoice.breakdown:
        tax = _el(settle, "ApplicableTradeTax")
        _el(tax, "CalculatedAmount", amount(b.tax_amount))
        _el(tax, "TypeCode", "VAT")
        if shows_exemption(b.category) and b.note:
            _el(tax, "ExemptionReason", b.note)
        _el(tax, "BasisAmount", amount(b.taxable_amount))
        _el(tax, "CategoryCode", b.category)
        if shows_exemption(b.category) and b.exemption_code:
            _el(tax, "ExemptionReasonCode", b.exemption_code)
        if shows_rate(b.category):
            _el(tax, "RateApplicablePercent", decimal_text(b.rate))
    for a in invoice.allowances:  # BG-20, a deal's discount per VAT category
        el = _allowance(settle, a.amount, a.base_amount, a.percentage, a.reason, a.reason_code)
        tax = _el(el, "CategoryTradeTax")
        _el(tax, "TypeCode", "VAT")
        _el(tax, "CategoryCode", a.category)
        if shows_rate(a.category):
            _el(tax, "RateApplicablePercent", decimal_text(a.rate))
    terms = _el(settle, "SpecifiedTradePaymentTerms")
    _el(terms, "Description", payment_terms_text(invoice))
    if invoice.due_date and invoice.kind is InvoiceKind.INVOICE:
        _date(terms, "DueDateDateTime", invoice.due_date)

    totals = invoice.totals
    summary = _el(settle, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(summary, "LineTotalAmount", amount(totals.line_net))
    if invoice.allowances:
        _el(summary, "AllowanceTotalAmount", amount(totals.allowances))  # BT-107
    _el(summary, "TaxBasisTotalAmount", amount(totals.tax_exclusive))
    _el(summary, "TaxTotalAmount", amount(totals.tax), currencyID=cur)
    if invoice.tax_currency and invoice.tax_in_tax_currency is not None:
        _el(summary, "TaxTotalAmount", amount(invoice.tax_in_tax_currency), currencyID=invoice.tax_currency)
    _el(summary, "GrandTotalAmount", amount(totals.tax_inclusive))
    if totals.prepaid:
        _el(summary, "TotalPrepaidAmount", amount(totals.prepaid))
    _el(summary, "DuePayableAmount", amount(totals.payable))
    if invoice.kind is InvoiceKind.CREDIT_NOTE and invoice.corrects:
        ref = _el(settle, "InvoiceReferencedDocument")
        _el(ref, "IssuerAssignedID", invoice.corrects)
        if invoice.corrects_issue_date:
            _date(ref, "FormattedIssueDateTime", invoice.corrects_issue_date, QDT)
    return root


def render(invoice: Invoice) -> bytes:
    return etree.tostring(build(invoice), xml_declaration=True, encoding="UTF-8")  # type: ignore[no-any-return]
