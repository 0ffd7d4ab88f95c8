"""Invoices and credit notes: building a draft from a billable order, EN 16931 totals, numbering,
payment state.

Totals follow EN 16931 (BR-CO rules): each line net amount (BT-131) is quantity x price rounded to
two decimals; the sum of line nets is BT-106; VAT is computed per VAT category and rate (BG-23) on
the sum of its line nets and rounded once per category (BR-CO-17); the document VAT total (BT-110)
is the sum of those; total with VAT (BT-112) = BT-109 + BT-110; amount due (BT-115) = BT-112 -
paid (BT-113) (BR-CO-16).

An invoice's document status (draft, issued, void) and its payment state (unpaid, partial, paid)
are separate fields; `overdue` is derived from the due date, never stored.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Mapping, Sequence

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

from handoff.domain.money import round2
from handoff.domain.orders import BillableOrder
from handoff.domain.parties import Customer, LegalEntity
from handoff.domain.tax import TaxDecision, VatRates, determine

ZERO = Decimal("0")


class InvoiceKind(str, enum.Enum):
    INVOICE = "invoice"  # UNCL 1001 code 380
    CREDIT_NOTE = "credit_note"  # UNCL 1001 code 381


class DocumentStatus(str, enum.Enum):
    DRAFT = "draft"
    ISSUED = "issued"
    VOID = "void"


class PaymentState(str, enum.Enum):
    UNPAID = "unpaid"
    PARTIAL = "partial"
    PAID = "paid"


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    line_no: int
    description: str
    quantity: Decimal
    unit_price: Decimal  # net, BT-146
    net_amount: Decimal  # BT-131
    tax: TaxDecision
    order_ref: str = ""  # the deal this line bills


@dataclass(frozen=True, slots=True)
class VatBreakdown:
    """One BG-23 VAT breakdown: a category and rate with its taxable base and tax."""

    category: str
    rate: Decimal
    taxable_amount: Decimal  # BT-116
    tax_amount: Decimal  # BT-117
    note: str = ""  # BT-120
    exemption_code: str = ""  # BT-121


@dataclass(frozen=True, slots=True)
class Totals:
    line_net: Decimal  # BT-106
    tax_exclusive: Decimal  # BT-109
    tax: Decimal  # BT-110
    tax_inclusive: Decimal  # BT-112
    prepaid: Decimal  # BT-113
    payable: Decimal  # BT-115


@dataclass(frozen=True, slots=True)
class Invoice:
    kind: InvoiceKind
    seller: LegalEntity
    buyer: Customer
    currency: str
    payment_terms: str
    payment_terms_days: int
    po_number: str
    order_refs: tuple[str, ...]
    lines: tuple[InvoiceLine, ...]
    breakdown: tuple[VatBreakdown, ...]
    totals: Totals
    number: str | None = None  # assigned on issue, gapless per entity and series
    issue_date: date | None = None
    due_date: date | None = None
    payment_reference: str = ""  # ISO 11649 structured creditor reference
    corrects: str | None = None  # for a credit note: the invoice number it corrects
    status: DocumentStatus = DocumentStatus.DRAFT
    notes: tuple[str, ...] = field(default_factory=tuple)


def compute_breakdown(lines: Sequence[InvoiceLine]) -> tuple[VatBreakdown, ...]:
    groups: dict[tuple[str, Decimal], list[InvoiceLine]] = defaultdict(list)
    for line in lines:
        groups[(line.tax.category, line.tax.rate)].append(line)
    result = []
    for (category, rate), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        taxable = sum((ln.net_amount for ln in members), ZERO)
        result.append(VatBreakdown(category, rate, taxable, round2(taxable * rate / 100),
                                   members[0].tax.note, members[0].tax.exemption_code))  # fmt: skip
    return tuple(result)


def compute_totals(lines: Sequence[InvoiceLine], breakdown: Sequence[VatBreakdown],
                   prepaid: Decimal = ZERO) -> Totals:  # fmt: skip
    line_net = sum((ln.net_amount for ln in lines), ZERO)
    tax = sum((b.tax_amount for b in breakdown), ZERO)
    inclusive = line_net + tax
    return Totals(line_net, line_net, tax, inclusive, prepaid, inclusive - prepaid)


def build_lines(order: BillableOrder, seller: LegalEntity, rates: VatRates,
                start: int = 1) -> list[InvoiceLine]:  # fmt: skip
    lines = []
    for offset, item in enumerate(order.lines):
        decision = determine(seller, order.customer, item.supply, item.tax_category, rates)
        lines.append(InvoiceLine(start + offset, item.description, item.quantity, item.unit_price,
                                 round2(item.quantity * item.unit_price), decision, order.deal_id))  # fmt: skip
    return lines


def draft_invoice(order: BillableOrder, seller: LegalEntity, rates: VatRates,
                  terms_days: Mapping[str, int]) -> Invoice:  # fmt: skip
    """An invoice draft for a whole order. It has no number and no dates until it is issued."""
    lines = tuple(build_lines(order, seller, rates))
    breakdown = compute_breakdown(lines)
    return Invoice(
        kind=InvoiceKind.INVOICE,
        seller=seller,
        buyer=order.customer,
        currency=order.currency,
        payment_terms=order.payment_terms,
        payment_terms_days=terms_days[order.payment_terms],
        po_number=order.po_number,
        order_refs=(order.deal_id,),
        lines=lines,
        breakdown=breakdown,
        totals=compute_totals(lines, breakdown),
        notes=tuple(sorted({b.note for b in breakdown if b.note})),
    )


def invoice_number(entity: LegalEntity, series: str, year: int, sequence: int) -> str:
    """`INV-DE-2026-000042`: series, entity prefix and year, then the gapless sequence."""
    prefix = entity.invoice_prefix or entity.code
    return f"{series}-{prefix}-{year}-{sequence:06d}"


def creditor_reference(number: str) -> str:
    """ISO 11649 `RF` reference carrying the invoice number, so a bank payment can be matched."""
    body = "".join(ch for ch in number.upper() if ch.isalnum())[-21:]
    check = mod_97_10.calc_check_digits(body + "RF")
    reference = f"RF{check}{body}"
    assert iso11649.is_valid(reference)
    return reference


def issue(invoice: Invoice, number: str, on: date) -> Invoice:
    """The issued invoice: numbered, dated, with its due date and payment reference. Immutable
    from here on; corrections are credit notes."""
    if invoice.status is not DocumentStatus.DRAFT:
        raise ValueError(f"invoice {invoice.number} is {invoice.status.value}, only a draft can be issued")
    return replace(invoice, number=number, issue_date=on, due_date=on + timedelta(days=invoice.payment_terms_days),
                   payment_reference=creditor_reference(number), status=DocumentStatus.ISSUED)  # fmt: skip


def payment_state(amount_due: Decimal, paid: Decimal) -> PaymentState:
    if paid <= 0:
        return PaymentState.UNPAID
    if paid < amount_due:
        return PaymentState.PARTIAL
    return PaymentState.PAID


def is_overdue(status: DocumentStatus, state: PaymentState, due: date | None, today: date) -> bool:
    return status is DocumentStatus.ISSUED and state is not PaymentState.PAID and due is not None and today > due
