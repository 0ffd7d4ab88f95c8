"""Invoices and credit notes: building drafts from billable orders, EN 16931 totals, numbering,
issuing, payment state.

Totals follow EN 16931 (BR-CO rules): each line net amount (BT-131) is quantity x price rounded to
two decimals less the line's allowances (BR-LIN-04; a line discount, see `allowances`); the sum of
line nets is BT-106 (BR-CO-10); the document-level allowances (BG-20, a deal's discount per VAT
category) add up to BT-107 (BR-CO-11) and BT-109 = BT-106 - BT-107 (BR-CO-13); VAT is computed per
VAT category and rate (BG-23) on the sum of its line nets less its document allowances (BR-CO-18,
BR-S-08) and rounded once per category (BR-CO-17); the document VAT total (BT-110) is the sum of
those (BR-CO-14); total with VAT (BT-112) = BT-109 + BT-110 (BR-CO-15); amount due (BT-115) =
BT-112 - paid (BT-113) (BR-CO-16). Rounding is half away from zero to two decimals.

Kinds of draft:
- a whole order (`draft_invoice`), or the delivered part of it (`quantities=`: a partial invoice);
- several orders of one customer, currency and selling entity in one invoice (`consolidate`);
- a credit note correcting an issued invoice, in full or for some quantities (`credit_note`),
  which references it (BT-25 / BT-26) and credits the discounted amounts: its lines' and the
  document's allowances in the share credited (all of them for a full credit).

When the invoice currency differs from the seller's accounting currency, the seller's currency
is the VAT accounting currency (BT-6) and the VAT total is also given in it (BT-111, BR-53),
converted at an exchange rate that is an input (accounting currency per unit of invoice currency).

An issued invoice never changes: `amend` refuses it and `__post_init__` refuses totals that do not
follow from the lines; corrections are credit notes. An invoice's document status (draft, issued,
void) and its payment state (unpaid, partial, paid, credited) are separate; `overdue` is derived.
What is open on an issued invoice is its gross less payments and less the credit applied to it
(`open_amount`): see `invoicing.domain.credits`.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

from handoff.deals.domain.orders import BillableOrder
from handoff.invoicing.domain.allowances import (
    DISCOUNT_REASON,
    DocumentAllowance,
    LineAllowance,
    allowance_totals,
    credited_allowances,
    document_allowances,
    line_allowance,
)
from handoff.invoicing.domain.payment import uses_creditor_reference
from handoff.invoicing.domain.tax import TaxDecision, VatCategory, VatRates, determine
from handoff.kernel.encoding import load_json
from handoff.kernel.money import ZERO, round2
from handoff.kernel.parties import Customer, LegalEntity


class InvoiceError(ValueError):
    """An invoice operation that the rules do not allow (a logical error, never retried)."""


class ImmutableInvoiceError(InvoiceError):
    """An attempt to change an issued (or void) invoice: corrections are credit notes."""


class InvoiceKind(str, enum.Enum):
    INVOICE = "invoice"  # UNCL 1001 code 380
    CREDIT_NOTE = "credit_note"  # UNCL 1001 code 381


class DocumentStatus(str, enum.Enum):
    DRAFT = "draft"
    ISSUED = "issued"
    VOID = "void"


class PaymentState(str, enum.Enum):
    """How far an issued invoice is settled. `paid` and `credited` leave nothing open: `credited`
    when credit notes took part in settling it (its `credited_amount`), `paid` when payments alone did."""

    UNPAID = "unpaid"
    PARTIAL = "partial"
    PAID = "paid"
    CREDITED = "credited"


OPEN_STATES = frozenset({PaymentState.UNPAID, PaymentState.PARTIAL})  # something is still owed


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    line_no: int
    description: str
    quantity: Decimal
    unit_price: Decimal  # net, BT-146
    net_amount: Decimal  # BT-131
    tax: TaxDecision
    order_ref: str = ""  # the deal this line bills
    order_line: int = 0  # 1-based position of the billed line in its order (0: unknown)
    note: str = ""  # BT-127
    unit_code: str = "C62"  # BT-130, UN/ECE Rec 20 "one"
    allowances: tuple[LineAllowance, ...] = ()  # BG-27: the line's discount, already off net_amount
    product: str = ""  # the seller's product code of what the line bills (BT-155), "" when the deal gave none
    tax_category: str = ""  # the product tax category it was sold under (standard, reduced, ...; "" before kept)
    contract_line: str = ""  # the contract line it bills (its key; the contract is `order_ref`), "" if none
    period_start: date | None = None  # BG-26 invoice line period: first day (BT-134) ...
    period_end: date | None = None  # ... and last day billed (BT-135, inclusive)
    trigger: str = ""  # what made it due (contracts: date, milestone, time, usage, change_order)

    @property
    def allowance_total(self) -> Decimal:
        return sum((a.amount for a in self.allowances), ZERO)

    @property
    def gross_amount(self) -> Decimal:
        """Quantity x price rounded, before the line's allowances."""
        return self.net_amount + self.allowance_total


@dataclass(frozen=True, slots=True)
class VatBreakdown:
    """One BG-23 VAT breakdown: a category and rate with its taxable base and tax."""

    category: VatCategory  # BT-118
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
    allowances: Decimal = ZERO  # BT-107, the sum of the document-level allowances


@dataclass(frozen=True, slots=True)
class AnnexRow:
    """One delivered entry an invoice bills, for its time and expense annex: a time entry (hours of
    a person in a role on a day) or an expense (quantity 1, with its receipt reference)."""

    kind: str  # "time" | "expense"
    day: date
    person: str
    role: str  # time: the role billed; expense: its category
    description: str
    quantity: Decimal  # hours; 1 for an expense
    amount: Decimal  # net, in the invoice currency
    reference: str = ""  # the entry's external id, an expense's receipt reference


ANNEX_TIME = "time"
ANNEX_EXPENSE = "expense"


def annex_from_json(rows: Sequence[Mapping[str, Any]]) -> tuple[AnnexRow, ...]:
    """The annex rows that `kernel.encoding.to_jsonable` turned into `rows` (a delivery schedule
    item's `detail`), read directly: a monthly item may bill thousands of entries."""
    return tuple(
        AnnexRow(
            r["kind"],
            date.fromisoformat(r["day"]),
            r["person"],
            r["role"],
            r["description"],
            Decimal(r["quantity"]),
            Decimal(r["amount"]),
            r.get("reference", ""),
        )
        for r in rows
    )


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
    corrects: str | None = None  # for a credit note: the invoice number it corrects (BT-25)
    status: DocumentStatus = DocumentStatus.DRAFT
    notes: tuple[str, ...] = field(default_factory=tuple)
    corrects_issue_date: date | None = None  # BT-26
    tax_currency: str = ""  # BT-6, set when the seller accounts in another currency
    exchange_rate: Decimal | None = None  # tax_currency per 1 unit of currency
    tax_in_tax_currency: Decimal | None = None  # BT-111
    delivery_date: date | None = None  # BT-72
    buyer_reference: str = ""  # BT-10
    allowances: tuple[DocumentAllowance, ...] = ()  # BG-20: the deals' discounts, per VAT category
    annex: tuple[AnnexRow, ...] = ()  # the time and expenses billed, for the PDF's annex (not in UBL/CII)

    # serialised (kernel.encoding) without `annex` when it is empty: the same bytes as before it existed
    __json_omit_empty__ = ("annex",)

    def __post_init__(self) -> None:
        # The totals are a function of the lines and allowances: refusing anything else keeps an
        # issued invoice's amounts from being altered through dataclasses.replace.
        if self.breakdown != compute_breakdown(self.lines, self.allowances):
            raise InvoiceError("VAT breakdown does not follow from the lines (BR-CO-17)")
        if self.totals != compute_totals(self.lines, self.breakdown, self.totals.prepaid, self.allowances):
            raise InvoiceError("totals do not follow from the lines (BR-CO-10..16)")
        if self.status is DocumentStatus.ISSUED and (not self.number or self.issue_date is None):
            raise InvoiceError("an issued invoice needs a number and an issue date (BT-1, BT-2)")
        if self.kind is InvoiceKind.CREDIT_NOTE and not self.corrects:
            raise InvoiceError("a credit note must reference the invoice it corrects (BT-25)")

    @property
    def is_draft(self) -> bool:
        return self.status is DocumentStatus.DRAFT


# The last breakdown and totals computed, by the identity of the (immutable) tuples they were
# computed from: building an invoice computes them, and its constructor checks them against its
# lines again, as does every `replace` that keeps the lines; recomputing was a third of a draft's cost.
_last_breakdown: tuple[object, object, tuple[VatBreakdown, ...]] | None = None
_last_totals: tuple[object, object, object, Decimal, Totals] | None = None


def compute_breakdown(
    lines: Sequence[InvoiceLine], allowances: Sequence[DocumentAllowance] = ()
) -> tuple[VatBreakdown, ...]:
    global _last_breakdown
    last = _last_breakdown
    if last is not None and last[0] is lines and last[1] is allowances:
        return last[2]
    result = _breakdown(lines, allowances)
    if type(lines) is tuple and type(allowances) is tuple:  # immutable: safe to know by identity
        _last_breakdown = (lines, allowances, result)
    return result


def _breakdown(lines: Sequence[InvoiceLine], allowances: Sequence[DocumentAllowance]) -> tuple[VatBreakdown, ...]:
    groups: dict[tuple[VatCategory, Decimal], list[InvoiceLine]] = defaultdict(list)
    for line in lines:
        groups[(line.tax.category, line.tax.rate)].append(line)
    off = allowance_totals(allowances)
    stray = sorted(set(off) - set(groups))
    if stray:
        category, rate = stray[0]
        raise InvoiceError(f"a document allowance in VAT category {category} at {rate} % has no line in it (BR-S-08)")
    result = []
    for (category, rate), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        taxable = sum((ln.net_amount for ln in members), ZERO) - off.get((category, rate), ZERO)
        result.append(
            VatBreakdown(
                category,
                rate,
                taxable,
                round2(taxable * rate / 100),
                members[0].tax.note,
                members[0].tax.exemption_code,
            )
        )
    return tuple(result)


def compute_totals(
    lines: Sequence[InvoiceLine],
    breakdown: Sequence[VatBreakdown],
    prepaid: Decimal = ZERO,
    allowances: Sequence[DocumentAllowance] = (),
) -> Totals:
    global _last_totals
    last = _last_totals
    if last is not None and last[0] is lines and last[1] is breakdown and last[2] is allowances and last[3] == prepaid:
        return last[4]
    result = _totals(lines, breakdown, prepaid, allowances)
    if type(lines) is tuple and type(breakdown) is tuple and type(allowances) is tuple:
        _last_totals = (lines, breakdown, allowances, prepaid, result)
    return result


def _totals(
    lines: Sequence[InvoiceLine],
    breakdown: Sequence[VatBreakdown],
    prepaid: Decimal,
    allowances: Sequence[DocumentAllowance],
) -> Totals:
    line_net = sum((ln.net_amount for ln in lines), ZERO)
    allowance_total = sum((a.amount for a in allowances), ZERO)
    exclusive = line_net - allowance_total
    tax = sum((b.tax_amount for b in breakdown), ZERO)
    inclusive = exclusive + tax
    return Totals(line_net, exclusive, tax, inclusive, prepaid, inclusive - prepaid, allowance_total)


def make_line(
    line_no: int,
    description: str,
    quantity: Decimal,
    unit_price: Decimal,
    tax: TaxDecision,
    order_ref: str = "",
    order_line: int = 0,
    note: str = "",
    allowances: Sequence[LineAllowance] = (),
    *,
    product: str = "",
    tax_category: str = "",
) -> InvoiceLine:
    """One invoice line with its net amount per BR-LIN-04: quantity x price rounded to cents, less
    the line's allowances (which may not take it below zero)."""
    gross = round2(quantity * unit_price)
    off = sum((a.amount for a in allowances), ZERO)
    if off and off > gross:
        raise InvoiceError(f"line {line_no}: a discount of {off} is above the line's amount {gross}")
    return InvoiceLine(
        line_no,
        description,
        quantity,
        unit_price,
        gross - off,
        tax,
        order_ref,
        order_line,
        note,
        allowances=tuple(allowances),
        product=product,
        tax_category=tax_category,
    )


def build_lines(
    order: BillableOrder,
    seller: LegalEntity,
    rates: VatRates,
    start: int = 1,
    quantities: Mapping[int, Decimal] | None = None,
    over_distance_threshold: bool = False,
    note: str = "",
) -> list[InvoiceLine]:
    """The invoice lines for an order; with `quantities` (1-based order line -> quantity), only
    those quantities are billed (a partial invoice)."""
    lines: list[InvoiceLine] = []
    for position, item in enumerate(order.lines, start=1):
        quantity = item.quantity if quantities is None else quantities.get(position, ZERO)
        if quantities is not None and quantity == 0:
            continue
        decision = determine(seller, order.customer, item.supply, item.tax_category, rates, over_distance_threshold)
        allowance = line_allowance(round2(quantity * item.unit_price), item.discount, quantity, item.quantity)
        lines.append(
            make_line(
                start + len(lines),
                item.description,
                quantity,
                item.unit_price,
                decision,
                order.deal_id,
                position,
                note,
                (allowance,) if allowance else (),
                product=item.product,
                tax_category=item.tax_category,
            )
        )
    return lines


def order_allowances(
    order: BillableOrder,
    lines: Sequence[InvoiceLine],
    whole_order: Sequence[InvoiceLine] | None = None,
    reason: str = DISCOUNT_REASON,
) -> tuple[DocumentAllowance, ...]:
    """The order's discount (BG-20) over its invoice `lines`. A partial invoice (`whole_order`:
    the lines of the whole order) bills the share of an amount discount that its lines' net is
    of the order's, rounded to cents; a percentage applies to its lines as they are."""
    discount = order.discount
    total = None
    if discount is not None and discount.amount is not None and whole_order is not None:
        billed = sum((ln.net_amount for ln in lines), ZERO)
        of = sum((ln.net_amount for ln in whole_order), ZERO)
        total = discount.amount if billed == of or of <= 0 else round2(discount.amount * billed / of)
    return document_allowances(lines, discount, order.deal_id, reason, total)


def _check_quantities(
    order: BillableOrder, quantities: Mapping[int, Decimal], already_billed: Mapping[int, Decimal]
) -> None:
    for position, quantity in quantities.items():
        if not 1 <= position <= len(order.lines):
            raise InvoiceError(f"order {order.deal_id} has no line {position}")
        if quantity < 0:
            raise InvoiceError(f"order {order.deal_id} line {position}: negative quantity {quantity}")
        ordered = order.lines[position - 1].quantity
        open_quantity = ordered - already_billed.get(position, ZERO)
        if quantity > open_quantity:
            raise InvoiceError(
                f"order {order.deal_id} line {position}: billing {quantity} but only "
                f"{open_quantity} of {ordered} is still unbilled"
            )
    if not any(q > 0 for q in quantities.values()):
        raise InvoiceError(f"order {order.deal_id}: nothing to bill")


def billed_quantities(order_ref: str, invoices: Sequence[Invoice]) -> dict[int, Decimal]:
    """Quantities of each order line already billed by issued invoices, net of credit notes."""
    billed: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for inv in invoices:
        if inv.status is not DocumentStatus.ISSUED:
            continue
        sign = -1 if inv.kind is InvoiceKind.CREDIT_NOTE else 1
        for line in inv.lines:
            if line.order_ref == order_ref and line.order_line:
                billed[line.order_line] += sign * line.quantity
    return dict(billed)


def _assemble(
    kind: InvoiceKind,
    seller: LegalEntity,
    buyer: Customer,
    currency: str,
    terms: str,
    terms_days: int,
    po_number: str,
    order_refs: tuple[str, ...],
    lines: Sequence[InvoiceLine],
    exchange_rate: Decimal | None,
    extra_notes: Sequence[str] = (),
    allowances: Sequence[DocumentAllowance] = (),
    **more: Any,
) -> Invoice:
    if not lines:
        raise InvoiceError("an invoice needs at least one line (BG-25)")
    lines, allowances = tuple(lines), tuple(allowances)  # the tuples the invoice keeps (and checks)
    breakdown = compute_breakdown(lines, allowances)
    totals = compute_totals(lines, breakdown, ZERO, allowances)
    tax_currency = seller.currency if seller.currency and seller.currency != currency else ""
    notes = tuple(sorted({b.note for b in breakdown if b.note})) + tuple(extra_notes)
    return Invoice(
        kind=kind,
        seller=seller,
        buyer=buyer,
        currency=currency,
        payment_terms=terms,
        payment_terms_days=terms_days,
        po_number=po_number,
        order_refs=order_refs,
        lines=lines,
        breakdown=breakdown,
        totals=totals,
        notes=notes,
        allowances=allowances,
        **_tax_currency_fields(tax_currency, exchange_rate, totals.tax),
        **more,
    )


def _tax_currency_fields(tax_currency: str, rate: Decimal | None, tax: Decimal) -> dict[str, Any]:
    if not tax_currency:
        return {"tax_currency": "", "exchange_rate": None, "tax_in_tax_currency": None}
    if rate is not None and rate <= 0:
        raise InvoiceError(f"exchange rate must be positive, got {rate}")
    converted = None if rate is None else round2(tax * rate)
    return {"tax_currency": tax_currency, "exchange_rate": rate, "tax_in_tax_currency": converted}


def draft_invoice(
    order: BillableOrder,
    seller: LegalEntity,
    rates: VatRates,
    terms_days: Mapping[str, int],
    *,
    quantities: Mapping[int, Decimal] | None = None,
    already_billed: Mapping[int, Decimal] | None = None,
    exchange_rate: Decimal | None = None,
    over_distance_threshold: bool = False,
    delivery_date: date | None = None,
) -> Invoice:
    """An invoice draft for an order (whole, or `quantities` of its lines: a partial invoice,
    checked against `already_billed`). It has no number and no dates until it is issued."""
    if quantities is not None:
        _check_quantities(order, quantities, already_billed or {})
    lines = build_lines(order, seller, rates, quantities=quantities, over_distance_threshold=over_distance_threshold)
    # a partial invoice bills its share of an amount discount: of the whole order's lines
    whole = None
    if quantities is not None:
        whole = build_lines(order, seller, rates, over_distance_threshold=over_distance_threshold)
    return _assemble(
        InvoiceKind.INVOICE,
        seller,
        order.customer,
        order.currency,
        order.payment_terms,
        terms_days[order.payment_terms],
        order.po_number,
        (order.deal_id,),
        lines,
        exchange_rate,
        allowances=order_allowances(order, lines, whole),
        delivery_date=delivery_date,
        buyer_reference=order.po_number or order.customer.customer_id,
    )


def consolidate(
    orders: Sequence[BillableOrder],
    seller: LegalEntity,
    rates: VatRates,
    terms_days: Mapping[str, int],
    *,
    exchange_rate: Decimal | None = None,
    over_distance_threshold: bool = False,
    delivery_date: date | None = None,
) -> Invoice:
    """One invoice for several orders of the same customer, currency, selling entity and terms.
    Each line notes its order (and PO); the header PO (BT-13) is kept only when all orders share it."""
    if not orders:
        raise InvoiceError("nothing to consolidate")
    first = orders[0]
    for order in orders[1:]:
        for attr, label in (
            ("currency", "currency"),
            ("legal_entity", "legal entity"),
            ("payment_terms", "payment terms"),
        ):
            if getattr(order, attr) != getattr(first, attr):
                raise InvoiceError(f"cannot consolidate {first.deal_id} and {order.deal_id}: different {label}")
        if order.customer.customer_id != first.customer.customer_id:
            raise InvoiceError(f"cannot consolidate {first.deal_id} and {order.deal_id}: different customers")
    if len({o.deal_id for o in orders}) != len(orders):
        raise InvoiceError("an order appears twice in the consolidation")
    lines: list[InvoiceLine] = []
    allowances: list[DocumentAllowance] = []
    for order in orders:
        note = f"Order {order.deal_id}" + (f", PO {order.po_number}" if order.po_number else "")
        own = build_lines(
            order, seller, rates, start=len(lines) + 1, over_distance_threshold=over_distance_threshold, note=note
        )
        lines += own
        allowances += order_allowances(order, own, reason=f"{DISCOUNT_REASON} (order {order.deal_id})")
    pos = {o.po_number for o in orders}
    po_number = first.po_number if len(pos) == 1 else ""
    return _assemble(
        InvoiceKind.INVOICE,
        seller,
        first.customer,
        first.currency,
        first.payment_terms,
        terms_days[first.payment_terms],
        po_number,
        tuple(o.deal_id for o in orders),
        lines,
        exchange_rate,
        allowances=allowances,
        delivery_date=delivery_date,
        buyer_reference=po_number or first.customer.customer_id,
    )


def credit_note(invoice: Invoice, reason: str, quantities: Mapping[int, Decimal] | None = None) -> Invoice:
    """A draft credit note correcting an issued invoice: all of it, or `quantities` (invoice line
    number -> quantity to credit). Amounts are positive, as UBL and CII credit notes expect."""
    if invoice.status is not DocumentStatus.ISSUED or invoice.kind is not InvoiceKind.INVOICE:
        raise InvoiceError("only an issued invoice can be credited")
    by_no = {ln.line_no: ln for ln in invoice.lines}
    wanted = quantities if quantities is not None else {n: ln.quantity for n, ln in by_no.items()}
    lines: list[InvoiceLine] = []
    for line_no, quantity in sorted(wanted.items()):
        if line_no not in by_no:
            raise InvoiceError(f"invoice {invoice.number} has no line {line_no}")
        src = by_no[line_no]
        if not 0 <= quantity <= src.quantity:
            raise InvoiceError(f"line {line_no}: cannot credit {quantity} of {src.quantity}")
        if quantity:
            lines.append(
                make_line(
                    len(lines) + 1,
                    src.description,
                    quantity,
                    src.unit_price,
                    src.tax,
                    src.order_ref,
                    src.order_line,
                    src.note,
                    _credited_line_allowances(src, quantity),
                    product=src.product,
                    tax_category=src.tax_category,
                )
            )
    if not lines:
        raise InvoiceError("nothing to credit")
    note = f"Credit note for invoice {invoice.number}" + (f": {reason}" if reason else "")
    return _assemble(
        InvoiceKind.CREDIT_NOTE,
        invoice.seller,
        invoice.buyer,
        invoice.currency,
        invoice.payment_terms,
        invoice.payment_terms_days,
        invoice.po_number,
        invoice.order_refs,
        lines,
        invoice.exchange_rate,
        (note,),
        allowances=credited_allowances(invoice.allowances, invoice.lines, lines),
        corrects=invoice.number,
        corrects_issue_date=invoice.issue_date,
        delivery_date=invoice.delivery_date,
        buyer_reference=invoice.buyer_reference,
    )


def _credited_line_allowances(src: InvoiceLine, quantity: Decimal) -> tuple[LineAllowance, ...]:
    """A line's allowances for `quantity` of it: as they were for all of it; else a percentage
    taken of the credited quantity x price, an amount in the share credited (rounded to cents)."""
    if quantity == src.quantity:
        return src.allowances
    gross = round2(quantity * src.unit_price)
    out = []
    for a in src.allowances:
        if a.percentage is not None:
            amount, base = round2(gross * a.percentage / 100), gross
        else:
            amount, base = round2(a.amount * quantity / src.quantity), None
        if amount:
            out.append(LineAllowance(amount, base, a.percentage, a.reason, a.reason_code))
    return tuple(out)


def credit_quantities(
    invoice: Invoice, wanted: Mapping[int, Decimal] | None, credited: Sequence[Mapping[int, Decimal]] = ()
) -> dict[int, Decimal]:
    """The quantities to credit (invoice line number -> quantity) so that, with the credits
    already made or asked for (`credited`), no line is credited beyond what was invoiced.
    `wanted` None means everything still uncredited."""
    left = {ln.line_no: ln.quantity for ln in invoice.lines}
    for earlier in credited:
        for line_no, quantity in earlier.items():
            if line_no in left:
                left[line_no] -= quantity
    if wanted is None:
        wanted = {n: q for n, q in left.items() if q > 0}
        if not wanted:
            raise InvoiceError(f"invoice {invoice.number} is already fully credited")
    for line_no, quantity in wanted.items():
        if line_no not in left:
            raise InvoiceError(f"invoice {invoice.number} has no line {line_no}")
        if quantity < 0:
            raise InvoiceError(f"line {line_no}: negative quantity {quantity}")
        if quantity > left[line_no]:
            raise InvoiceError(
                f"invoice {invoice.number} line {line_no}: crediting {quantity} but only "
                f"{max(left[line_no], ZERO)} is left uncredited"
            )
    if not any(q > 0 for q in wanted.values()):
        raise InvoiceError("nothing to credit")
    return dict(wanted)


def amend(invoice: Invoice, **changes: Any) -> Invoice:
    """A draft with some fields changed (lines, notes, PO ...); breakdown and totals follow the
    lines. An issued or void invoice is never amended: credit it instead."""
    if invoice.status is not DocumentStatus.DRAFT:
        raise ImmutableInvoiceError(
            f"invoice {invoice.number} is {invoice.status.value}: issue a credit note to correct it"
        )
    for name in ("status", "number", "issue_date", "due_date", "payment_reference", "breakdown", "totals"):
        if name in changes:
            raise InvoiceError(f"{name} is not amended directly")
    lines = tuple(changes.pop("lines", invoice.lines))
    allowances = tuple(changes.pop("allowances", invoice.allowances))
    breakdown = compute_breakdown(lines, allowances)
    totals = compute_totals(lines, breakdown, invoice.totals.prepaid, allowances)
    draft = replace(invoice, lines=lines, allowances=allowances, breakdown=breakdown, totals=totals, **changes)
    return replace(draft, **_tax_currency_fields(draft.tax_currency, draft.exchange_rate, draft.totals.tax))


def void(invoice: Invoice) -> Invoice:
    """A discarded draft. An issued invoice cannot be voided, only credited."""
    if invoice.status is not DocumentStatus.DRAFT:
        raise ImmutableInvoiceError(f"invoice {invoice.number} is {invoice.status.value}: only a draft is voided")
    return replace(invoice, status=DocumentStatus.VOID)


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


def issue(invoice: Invoice, number: str, on: date, exchange_rate: Decimal | None = None) -> Invoice:
    """The issued invoice: numbered, dated, with its due date and payment reference. Immutable
    from here on; corrections are credit notes. An invoice in a currency other than the seller's
    needs the exchange rate for its VAT in accounting currency (BT-111) by now."""
    if invoice.status is not DocumentStatus.DRAFT:
        raise ImmutableInvoiceError(f"invoice {invoice.number} is {invoice.status.value}, only a draft can be issued")
    rate = exchange_rate if exchange_rate is not None else invoice.exchange_rate
    if invoice.tax_currency and rate is None:
        raise InvoiceError(
            f"invoice in {invoice.currency} from a {invoice.tax_currency} seller needs an "
            "exchange rate for the VAT in accounting currency (BT-111)"
        )
    # an RF creditor reference where the seller's bank takes one (`payment`), else the number itself
    rf = uses_creditor_reference(invoice.seller, invoice.currency)
    return replace(
        invoice,
        number=number,
        issue_date=on,
        due_date=on + timedelta(days=invoice.payment_terms_days),
        payment_reference=creditor_reference(number) if rf else number,
        status=DocumentStatus.ISSUED,
        **_tax_currency_fields(invoice.tax_currency, rate, invoice.totals.tax),
    )


def open_amount(gross: Decimal, paid: Decimal, credited: Decimal = ZERO) -> Decimal:
    """What the customer still owes on an invoice: gross - payments - credit applied to it (BT-115
    with the credits counted); below zero when the customer paid more than was left."""
    return gross - paid - credited


def payment_state(amount_due: Decimal, paid: Decimal, credited: Decimal = ZERO) -> PaymentState:
    """unpaid, partial (paid in part), or settled: `paid` by payments alone, `credited` when credit
    applied to it (`credited`) took part. Credit alone leaves an invoice `unpaid` until nothing is open."""
    if paid <= 0 and credited <= 0:
        return PaymentState.UNPAID
    if paid + credited < amount_due:
        return PaymentState.PARTIAL if paid > 0 else PaymentState.UNPAID
    return PaymentState.CREDITED if credited > 0 else PaymentState.PAID


def is_overdue(status: DocumentStatus, state: PaymentState, due: date | None, today: date) -> bool:
    return status is DocumentStatus.ISSUED and state in OPEN_STATES and due is not None and today > due


def invoice_from_json(doc: dict[str, Any]) -> Invoice:
    """The invoice that `kernel.encoding.to_jsonable` turned into `doc` (as stored)."""
    return load_json(Invoice, doc)
