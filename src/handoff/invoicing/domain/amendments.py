"""Amendments after invoicing: how a deal's new version differs from what its invoices bill.

A deal changed after it was invoiced keeps its invoice; finance reviews the change (the order's
`review_amendment` task) and bills the difference, credits it or dismisses it. `difference`
compares the new version, drafted as intake drafts it, with what is billed today:

- *billed* is the deal's lines on its issued invoices and on the invoice drafts made for earlier
  amendments (they are on their way to the customer), less what credit notes take back or are
  asked to take back (pending and approved requests; a rejected request or a voided credit note
  takes back nothing);
- a new line and a billed line are the same thing when their description (ignoring case and
  spacing), VAT category and rate, seller, buyer and currency agree, wherever the line stands in
  the deal; the same thing is compared unit price by unit price;
- more of a thing, or a new thing, is billed at the new price; a higher price on what is billed
  is billed as a price adjustment line (the quantity at the price difference, BT-127 saying so),
  which from then on counts as that quantity billed at the raised price;
- less of a thing, or a thing gone, is credited from the invoice lines that billed it, the newest
  first; a lower price is credited by taking the quantity back at its invoiced price and billing
  it again at the new one: a credit note takes back invoiced quantities at their invoiced price;
- a thing with a line discount (BG-27) that changed is credited as billed and billed again as the
  new version drafts it (its discount with it): a discount does not split into unit differences;
  likewise the whole deal when it carries a deal discount (BG-20) on either side, which spreads
  over all its lines (a credit note takes back its share of it);
- a credit that would take back a line of an invoice draft waits until that draft is issued.

Amounts are net: the VAT follows from the lines when a document is built. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from handoff.invoicing.domain.invoices import Invoice, InvoiceError, InvoiceLine, amend, compute_breakdown, make_line
from handoff.kernel.money import ZERO, round2

Billing = tuple[str, str, str]  # currency, selling entity, buyer: in what, by whom, to whom a line is billed


def billing_of(invoice: Invoice) -> Billing:
    return (invoice.currency, invoice.seller.code, invoice.buyer.customer_id)


@dataclass(frozen=True, slots=True)
class Billed:
    """One invoice line of the deal as far as it still bills: `quantity` and `net` are what no
    credit note takes back (nor is asked to)."""

    invoice_id: int
    number: str | None  # None: an invoice draft, not issued yet
    line_no: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    net: Decimal
    vat: tuple[str, Decimal]  # VAT category (BT-151) and rate (BT-152)
    billing: Billing
    raises: Decimal | None = None  # a price adjustment line: the unit price it raised
    line_discount: bool = False  # the line has an allowance (BG-27)
    deal_discount: bool = False  # its invoice has document-level allowances (BG-20)
    deal_share: Decimal = ZERO  # its standing share of those allowances (`deal_shares`)

    @property
    def after_discount(self) -> Decimal:
        return self.net - self.deal_share


def deal_shares(invoice: Invoice) -> dict[int, Decimal]:
    """Each line's share (by line number) of the invoice's document-level allowances: an allowance
    spread over the lines of its VAT category and rate (and deal), in proportion to their nets."""
    shares: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for a in invoice.allowances:
        mine = [
            ln
            for ln in invoice.lines
            if (ln.tax.category, ln.tax.rate) == (a.category, a.rate)
            and (not a.order_ref or ln.order_ref == a.order_ref)
        ]
        base = sum((ln.net_amount for ln in mine), ZERO)
        for ln in mine:
            if base:
                shares[ln.line_no] += a.amount * ln.net_amount / base
    return dict(shares)


def billed_lines(
    invoice_id: int,
    invoice: Invoice,
    deal_id: str,
    claimed: Mapping[int, Decimal],
    raises: Mapping[int, Decimal],
) -> list[Billed]:
    """The lines of `invoice` that bill deal `deal_id`, less the quantities credit notes claim
    (`claimed`: invoice line number -> quantity); `raises`: its price adjustment lines, by line
    number, with the unit price each raised."""
    found = []
    shares = deal_shares(invoice)
    for ln in invoice.lines:
        if ln.order_ref != deal_id:
            continue
        standing = ln.quantity - claimed.get(ln.line_no, ZERO)
        if standing <= 0:
            continue
        net = ln.net_amount if standing == ln.quantity else round2(ln.net_amount * standing / ln.quantity)
        share = round2(shares.get(ln.line_no, ZERO) * standing / ln.quantity)
        found.append(
            Billed(
                invoice_id,
                invoice.number,
                ln.line_no,
                ln.description,
                standing,
                ln.unit_price,
                net,
                (ln.tax.category.value, ln.tax.rate),
                billing_of(invoice),
                raises.get(ln.line_no),
                bool(ln.allowances),
                bool(invoice.allowances),
                share,
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class BillLine:
    """A line of the invoice for the difference."""

    position: int  # the new version's line it bills (1-based, as `InvoiceLine.order_line`)
    description: str
    quantity: Decimal
    unit_price: Decimal
    raises: Decimal | None = None  # a price adjustment: billed units go from this price up by unit_price
    drafted: Decimal | None = None  # the new version's line as drafted (discounts and all): its net after them

    @property
    def net(self) -> Decimal:
        return self.drafted if self.drafted is not None else round2(self.quantity * self.unit_price)

    @property
    def note(self) -> str:
        """The line note (BT-127) the customer reads on a price adjustment."""
        if self.raises is None:
            return ""
        return f"Price change from {self.raises} to {self.raises + self.unit_price} per unit"


@dataclass(frozen=True, slots=True)
class CreditLine:
    """A quantity of an issued invoice's line to take back by credit note."""

    invoice_id: int
    number: str
    line_no: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    net: Decimal  # what it takes back, after the line's discounts


@dataclass(frozen=True, slots=True)
class Change:
    """One thing billed, as invoiced and as the new version has it: a row for people to read."""

    description: str
    vat: str  # "S 19%"
    old_quantity: Decimal
    old_amount: Decimal
    old_prices: tuple[Decimal, ...]
    new_quantity: Decimal
    new_amount: Decimal
    new_prices: tuple[Decimal, ...]

    @property
    def difference(self) -> Decimal:
        return self.new_amount - self.old_amount


@dataclass(frozen=True, slots=True)
class Difference:
    """What the new version bills differently: each thing old and new, what to bill (one invoice
    for the difference), what to credit (by invoice line), and credits that must wait."""

    changes: tuple[Change, ...]
    to_bill: tuple[BillLine, ...]
    to_credit: tuple[CreditLine, ...]
    waiting: tuple[str, ...] = ()  # why part of the credit cannot be asked for yet

    @property
    def bill_net(self) -> Decimal:
        return sum((b.net for b in self.to_bill), ZERO)

    @property
    def credit_net(self) -> Decimal:
        return sum((c.net for c in self.to_credit), ZERO)

    @property
    def nothing(self) -> bool:
        """Billing already follows the new version: nothing to bill, credit or wait for."""
        return not (self.to_bill or self.to_credit or self.waiting)

    def credits_by_invoice(self) -> dict[str, dict[int, Decimal]]:
        """The credit as credit-note requests take it: invoice number -> line number -> quantity."""
        found: dict[str, dict[int, Decimal]] = {}
        for c in self.to_credit:
            found.setdefault(c.number, {})[c.line_no] = c.quantity
        return found


@dataclass(slots=True)
class _Lot:
    """Units billed at one price: an invoice line's units, raised by the adjustments in `parts`."""

    price: Decimal
    quantity: Decimal
    parts: tuple[Billed, ...]  # the line that billed them first, then the adjustments raising them

    @property
    def waits(self) -> bool:
        """Part of it is on an invoice draft: it cannot be credited before that is issued."""
        return any(p.number is None for p in self.parts)

    @property
    def base(self) -> bool:
        return self.parts[0].raises is None

    @property
    def newest(self) -> int:
        return max(p.invoice_id for p in self.parts)


def _lots(lines: Sequence[Billed]) -> list[_Lot]:
    """The billed units of one thing by price: each line's units, then the price adjustments in
    the order they were billed, each raising that many units from its old price. An adjustment
    with no units left at its old price (they were credited) stands on its own."""
    lots = [_Lot(b.unit_price, b.quantity, (b,)) for b in lines if b.raises is None]
    for adj in (b for b in lines if b.raises is not None):
        left, raised = adj.quantity, []
        for lot in lots:
            take = min(left, lot.quantity) if lot.base and lot.price == adj.raises else ZERO
            if take > 0:
                raised.append(_Lot(lot.price + adj.unit_price, take, (*lot.parts, adj)))
                left -= take
            if lot.quantity > take:
                raised.append(_Lot(lot.price, lot.quantity - take, lot.parts))
        if left > 0:
            raised.append(_Lot(adj.unit_price, left, (adj,)))
        lots = raised
    return lots


def _key(billing: Billing, description: str, vat: tuple[str, Decimal]) -> tuple[object, ...]:
    return (*billing, " ".join(description.split()).casefold(), vat[0], vat[1])


def difference(billed: Sequence[Billed], new: Invoice) -> Difference:
    """What `new` (the new version, drafted as intake drafts a deal) bills differently from
    `billed` (the deal's invoice lines as far as they still bill)."""
    groups: dict[tuple[object, ...], tuple[list[Billed], list[InvoiceLine]]] = {}
    for ln in new.lines:
        key = _key(billing_of(new), ln.description, (ln.tax.category.value, ln.tax.rate))
        groups.setdefault(key, ([], []))[1].append(ln)
    for b in sorted(billed, key=lambda b: (b.invoice_id, b.line_no)):
        groups.setdefault(_key(b.billing, b.description, b.vat), ([], []))[0].append(b)
    lots = {key: _lots(old) for key, (old, _) in groups.items()}
    new_shares = {n: round2(share) for n, share in deal_shares(new).items()}
    changed = {key for key, (old, want) in groups.items() if not _same(old, lots[key], want, new_shares)}
    deal_discount = bool(new.allowances) or any(b.deal_discount for b in billed)
    matched = {key: _match(old, want, new_shares) for key, (old, want) in groups.items()}
    # a deal discount spreads over every line: billed again, it is billed with the whole new version
    whole = deal_discount and bool(changed) and any(len(unbilled) for _, unbilled in matched.values())
    changes, bills, credits, waiting = [], [], [], []
    for key, (old, want) in groups.items():
        description = want[0].description if want else old[0].description
        taken: list[tuple[Billed, Decimal]] = []
        if whole or (key in changed and (deal_discount or _discounted(old, want))):
            kept, unbilled = ([], list(want)) if whole else matched[key]
            taken = [(b, b.quantity) for b in old if b not in kept]  # credited as billed
            bills += [_drafted(ln, new_shares) for ln in unbilled]  # billed again as drafted
        elif key in changed:
            more, rest = _settle(description, lots[key], want)
            bills += more
            taken = [(p, lot.quantity) for lot in rest for p in lot.parts if not lot.waits]
            waiting += [_waits(description, lot.parts, lot.quantity, lot.price) for lot in rest if lot.waits]
        for b, quantity in taken:
            if b.number is None:
                waiting.append(_waits(description, (b,), quantity, b.unit_price))
            else:
                credits.append((b, quantity))
        category, rate = key[4], key[5]
        changes.append(
            Change(
                description,
                f"{category} {rate.normalize():f}%" if isinstance(rate, Decimal) else str(category),
                sum((b.quantity for b in old if b.raises is None), ZERO),
                sum((b.after_discount for b in old), ZERO),
                tuple(sorted({lot.price for lot in lots[key]})),
                sum((ln.quantity for ln in want), ZERO),
                _after_discount(want, new_shares),
                tuple(sorted({ln.unit_price for ln in want})),
            )
        )
    return Difference(tuple(changes), tuple(bills), _credit_lines(credits), tuple(waiting))


def _discounted(old: Sequence[Billed], want: Sequence[InvoiceLine]) -> bool:
    return any(b.line_discount for b in old) or any(ln.allowances for ln in want)


def _match(
    old: Sequence[Billed], want: Sequence[InvoiceLine], shares: Mapping[int, Decimal]
) -> tuple[list[Billed], list[InvoiceLine]]:
    """For things billed line for line (discounted): the billed lines that bill a new line exactly
    (its quantity, price and net after discounts), the newest first (a line billed again is kept, the
    one it replaces credited), and the new lines no billed line bills."""
    free = sorted((b for b in old if b.raises is None), key=lambda b: (-b.invoice_id, b.line_no))
    kept: list[Billed] = []
    unbilled: list[InvoiceLine] = []
    for ln in want:
        net = ln.net_amount - shares.get(ln.line_no, ZERO)
        same = next(
            (b for b in free if (b.quantity, b.unit_price, b.after_discount) == (ln.quantity, ln.unit_price, net)),
            None,
        )
        if same is None:
            unbilled.append(ln)
        else:
            free.remove(same)
            kept.append(same)
    return kept, unbilled


def _drafted(ln: InvoiceLine, shares: Mapping[int, Decimal]) -> BillLine:
    net = ln.net_amount - shares.get(ln.line_no, ZERO)
    return BillLine(ln.order_line, ln.description, ln.quantity, ln.unit_price, drafted=net)


def _waits(description: str, parts: Sequence[Billed], quantity: Decimal, price: Decimal) -> str:
    drafts = ", ".join(str(p.invoice_id) for p in parts if p.number is None)
    return f"{description}: {quantity} at {price} is on invoice draft {drafts}; issue it, then credit"


def _after_discount(lines: Sequence[InvoiceLine], shares: Mapping[int, Decimal]) -> Decimal:
    return sum((ln.net_amount - shares.get(ln.line_no, ZERO) for ln in lines), ZERO)


def _same(
    old: Sequence[Billed], lots: Sequence[_Lot], want: Sequence[InvoiceLine], shares: Mapping[int, Decimal]
) -> bool:
    """One thing billed as the new version has it: the same units at the same prices, and the same
    net after discounts (a discount may change alone)."""
    billed: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    wanted: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for lot in lots:
        billed[lot.price] += lot.quantity
    for ln in want:
        wanted[ln.unit_price] += ln.quantity
    net = sum((b.after_discount for b in old), ZERO) == _after_discount(want, shares)
    return net and {p: q for p, q in billed.items() if q} == {p: q for p, q in wanted.items() if q}


def _settle(description: str, lots: list[_Lot], want: Sequence[InvoiceLine]) -> tuple[list[BillLine], list[_Lot]]:
    """Match one thing's billed lots with its new quantities by price: what matches stays (lots
    on drafts first, then the oldest, so the newest billing is credited first), a lower-priced
    lot is raised to a wanted higher price, wanted units left are billed; the lots left over are
    returned to be credited."""
    left: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    position: dict[Decimal, int] = {}
    for ln in want:
        left[ln.unit_price] += ln.quantity
        position.setdefault(ln.unit_price, ln.order_line)
    rest: list[_Lot] = []
    for lot in sorted(lots, key=lambda x: (not x.waits, x.newest)):
        kept = min(lot.quantity, left[lot.price]) if lot.price in left else ZERO
        if kept > 0:
            left[lot.price] -= kept
        if lot.quantity > kept:
            rest.append(_Lot(lot.price, lot.quantity - kept, lot.parts))
    bills: list[BillLine] = []
    for price in sorted((p for p, q in left.items() if q > 0), reverse=True):
        for lot in sorted((x for x in rest if x.base and x.price < price), key=lambda x: (-x.price, x.newest)):
            take = min(left[price], lot.quantity)
            if take > 0:
                bills.append(BillLine(position[price], description, take, price - lot.price, lot.price))
                lot.quantity -= take
                left[price] -= take
    bills += [BillLine(position[p], description, q, p) for p, q in sorted(left.items()) if q > 0]
    merged: dict[tuple[int, Decimal, Decimal | None], Decimal] = {}  # lots raised alike: one line
    for b in bills:
        merged[(b.position, b.unit_price, b.raises)] = (
            merged.get((b.position, b.unit_price, b.raises), ZERO) + b.quantity
        )
    lines = [BillLine(pos, description, q, price, raises) for (pos, price, raises), q in merged.items()]
    return lines, [lot for lot in rest if lot.quantity > 0]


def _credit_lines(credits: list[tuple[Billed, Decimal]]) -> tuple[CreditLine, ...]:
    total: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    line: dict[tuple[int, int], Billed] = {}
    for part, quantity in credits:
        total[(part.invoice_id, part.line_no)] += quantity
        line[(part.invoice_id, part.line_no)] = part
    return tuple(
        CreditLine(b.invoice_id, b.number or "", b.line_no, b.description, total[k], b.unit_price, _taken(b, total[k]))
        for k, b in sorted(line.items())
    )


def _taken(line: Billed, quantity: Decimal) -> Decimal:
    """The net a credit of `quantity` of `line` takes back: at its price, or its discounted share."""
    if not (line.line_discount or line.deal_discount):
        return round2(quantity * line.unit_price)
    return round2(line.after_discount * quantity / line.quantity)


def difference_invoice(new: Invoice, lines: Sequence[BillLine], note: str) -> Invoice:
    """The invoice draft for the difference only: the new version's draft (its parties, terms and
    each line's VAT decision) with `lines` in place of its own, and `note` (BT-22) saying what it
    adds to. With a deal discount (BG-20) only the whole new version can be billed again, so that
    is the draft then. Refused when the new version's draft does not carry over to `lines`."""
    if not lines:
        raise InvoiceError("nothing to bill: the new version bills no more than is invoiced")
    by_position = {ln.order_line: ln for ln in new.lines}
    if new.allowances:
        if {b.position for b in lines if b.drafted is not None} != set(by_position) or len(lines) != len(by_position):
            raise InvoiceError("a deal discount is billed again only with the whole new version")
        return amend(new, notes=(*new.notes, note))
    cut = [
        replace(by_position[b.position], line_no=n)
        if b.drafted is not None
        else make_line(
            n,
            b.description,
            b.quantity,
            b.unit_price,
            by_position[b.position].tax,
            new.order_refs[0],
            b.position,
            b.note,
        )
        for n, b in enumerate(lines, start=1)
    ]
    vat_notes = tuple(sorted({x.note for x in compute_breakdown(cut) if x.note}))
    invoice = amend(new, lines=tuple(cut), notes=(*vat_notes, note))
    if invoice.totals.tax_exclusive != sum((ln.net_amount for ln in cut), ZERO):
        raise InvoiceError("the new version's document-level amounts do not carry over to a difference")
    return invoice
