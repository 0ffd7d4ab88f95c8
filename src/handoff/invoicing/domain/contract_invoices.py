"""Invoice drafts for contract charges: what a contract's billing run bills, as an invoice.

A `ContractCharge` is one due schedule item of a contract line (a one-time fee, a period of a
subscription, an accepted milestone): its quantity, price, gross and line allowance were fixed when
the contract was planned. `draft_for_charges` builds one draft from the charges of one or more
contracts of the same buyer, selling entity, currency and payment terms (a consolidated invoice),
with the same VAT determination, totals and rounding (EN 16931 BR-CO rules) as a deal's draft
(`invoices.draft_invoice`). Each line keeps the contract it bills (`order_ref`), the contract line
(`contract_line`), the period billed (BG-26: BT-134 first day, BT-135 last day, for periods only)
and what made it due (`trigger`). A delivery item's charge (`contracts.service.delivery`) carries its
source as the line's note (BT-127) and the entries it bills, which make up the invoice's time and
expense annex (`Invoice.annex`, in charge order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from handoff.invoicing.domain.allowances import LineAllowance
from handoff.invoicing.domain.invoices import AnnexRow, Invoice, InvoiceError, InvoiceKind, InvoiceLine, _assemble
from handoff.invoicing.domain.tax import TaxDecision, VatRates, determine
from handoff.kernel.money import ZERO, round2
from handoff.kernel.parties import Customer, LegalEntity

DAY = timedelta(days=1)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class ContractCharge:
    """One due schedule item of a contract line, as it is billed."""

    contract_id: str
    line_key: str
    period_key: str
    description: str
    quantity: Decimal
    unit_price: Decimal  # the period's price per unit (ramp applied)
    gross: Decimal  # quantity x unit_price (prorated), in cents
    discount: Decimal  # the line allowance taken off gross (BT-136)
    tax_category: str
    supply: str
    product: str = ""
    unit_code: str = "C62"
    period_start: date | None = None  # a period's first day ...
    period_end: date | None = None  # ... and the first day after it (exclusive); None: not a period
    trigger: str = "date"
    note: str = ""  # the line's note (BT-127): a delivery item's source
    annex: tuple[AnnexRow, ...] = ()  # a delivery item's entries, for the invoice's annex


def charge_line(
    line_no: int,
    charge: ContractCharge,
    seller: LegalEntity,
    buyer: Customer,
    rates: VatRates,
    over_distance_threshold: bool = False,
    memo: dict[tuple[object, ...], TaxDecision] | None = None,
) -> InvoiceLine:
    """The invoice line billing `charge`. A prorated period whose gross is not quantity x price
    is billed as quantity 1 at that gross (its description says the days billed)."""
    quantity, price = charge.quantity, charge.unit_price
    if round2(quantity * price) != charge.gross:
        quantity, price = ONE, charge.gross
    # `determine` decides on these alone (its evidence names the buyer's VAT id): kept across a run
    key = (
        seller.code,
        seller.country,
        buyer.country,
        buyer.is_business,
        buyer.vat_id,
        charge.supply,
        charge.tax_category,
        over_distance_threshold,
    )
    decision = None if memo is None else memo.get(key)
    if decision is None:
        decision = determine(seller, buyer, charge.supply, charge.tax_category, rates, over_distance_threshold)
        if memo is not None:
            memo[key] = decision
    gross = round2(quantity * price)  # BR-LIN-04: quantity x price rounded, less the line's allowance
    if charge.discount and charge.discount > gross:  # a credit adjustment's negative line has none
        raise InvoiceError(f"line {line_no}: a discount of {charge.discount} is above the line's amount {gross}")
    return InvoiceLine(
        line_no,
        charge.description,
        quantity,
        price,
        gross - charge.discount,
        decision,
        order_ref=charge.contract_id,
        unit_code=charge.unit_code,
        allowances=(LineAllowance(charge.discount),) if charge.discount else (),
        product=charge.product,
        tax_category=charge.tax_category,
        contract_line=charge.line_key,
        period_start=charge.period_start,
        period_end=None if charge.period_end is None else charge.period_end - DAY,
        trigger=charge.trigger,
        note=charge.note,
    )


def draft_for_charges(
    charges: Sequence[ContractCharge],
    buyer: Customer,
    seller: LegalEntity,
    rates: VatRates,
    terms_days: Mapping[str, int],
    *,
    currency: str,
    payment_terms: str,
    po_number: str = "",
    exchange_rate: Decimal | None = None,
    over_distance_threshold: bool = False,
    memo: dict[tuple[object, ...], TaxDecision] | None = None,
) -> Invoice:
    """One invoice draft billing `charges` (of one buyer, entity, currency and terms), in the order
    given; its order references (`order_refs`: the contracts billed) in first-seen order. It has
    no number and no dates until it is issued. `memo`: tax decisions kept across drafts of one
    configuration (a billing run), keyed by what `determine` decides on."""
    if not charges:
        raise InvoiceError("an invoice needs at least one line (BG-25)")
    if payment_terms not in terms_days:
        raise InvoiceError(f"contract {charges[0].contract_id}: payment terms {payment_terms!r} are not configured")
    lines = [
        charge_line(n, charge, seller, buyer, rates, over_distance_threshold, memo)
        for n, charge in enumerate(charges, start=1)
    ]
    refs = tuple(dict.fromkeys(c.contract_id for c in charges))
    notes = (f"Contract {refs[0]}",) if len(refs) == 1 else (f"Contracts {', '.join(refs)}",)
    annex = tuple(row for charge in charges for row in charge.annex)
    return _assemble(
        InvoiceKind.INVOICE,
        seller,
        buyer,
        currency,
        payment_terms,
        terms_days[payment_terms],
        po_number,
        refs,
        lines,
        exchange_rate,
        notes,
        buyer_reference=po_number or buyer.customer_id,
        annex=annex,
    )


def charges_total(charges: Sequence[ContractCharge]) -> Decimal:
    """The net the charges bill (their gross less their allowances)."""
    return sum((c.gross - c.discount for c in charges), ZERO)
