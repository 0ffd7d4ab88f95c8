"""Tax determination of a whole invoice: what `tax.determine` decides line by line, completed by
what depends on more than one line or on the outside world.

- **EU distance sales** (`distance_sales`): whether an invoice's goods and digital-service lines
  to a consumer in another member state are taxed at origin or destination depends on the seller's
  running total of such sales (this year and last), in EUR. The invoice's sale is decided as one.
- **US sales tax** (`sales_tax`): a US seller's lines to a US customer are taxed by a tax engine
  from the ship-to state, ZIP code and city, per line with its jurisdictions.

`complete` does both for a draft. What it needs from outside (the running total, an answer from
an engine other than the rate table) it asks for by raising `TaxInputsNeeded`; the use case
(`invoicing.service.taxation`) gathers it and calls again with `TaxInputs`. What cannot be
determined raises `TaxUndetermined`: the deal waits in the exception queue, never taxed at 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from handoff.invoicing.domain.allowances import DocumentAllowance, allocate
from handoff.invoicing.domain.distance_sales import DistancePosition, PlaceDecision, decide, to_eur
from handoff.invoicing.domain.invoices import Invoice, InvoiceLine, amend, compute_breakdown
from handoff.invoicing.domain.sales_tax import (
    DEFAULT_PRODUCT_TAX_CODES,
    RATE_TABLE,
    LineTax,
    SalesTaxLine,
    SalesTaxRates,
    SalesTaxRequest,
    SalesTaxResult,
    ShipTo,
)
from handoff.invoicing.domain.tax import (
    DIGITAL,
    EXEMPTIONS,
    GOODS,
    RATED_CATEGORIES,
    ZERO_CATEGORY,
    TaxDecision,
    TaxError,
    TaxUndetermined,
    VatCategory,
    VatRates,
    determine,
)
from handoff.kernel.money import ZERO

US = "US"


@dataclass(frozen=True)
class TaxPolicy:
    """The business's tax settings that drafting needs (`tax` in handoff.yaml, and the rate table)."""

    destination_entities: frozenset[str] = frozenset()  # EU entities taxing distance sales at destination
    earlier_sales_eur: Mapping[str, Mapping[int, Decimal]] = field(default_factory=dict)  # before handoff
    sales_tax_engines: Mapping[str, str] = field(default_factory=dict)  # US entity -> engine
    product_tax_codes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PRODUCT_TAX_CODES))
    rate_table: SalesTaxRates | None = None
    eur_rates: Mapping[str, Decimal] = field(default_factory=dict)  # EUR per unit of a currency

    def engine(self, entity: str) -> str:
        return self.sales_tax_engines.get(entity, RATE_TABLE)

    def earlier(self, entity: str, year: int) -> Decimal:
        return self.earlier_sales_eur.get(entity, {}).get(year, ZERO)

    def eur_rate(self, currency: str) -> Decimal:
        if currency == "EUR":
            return Decimal(1)
        rate = self.eur_rates.get(currency)
        if rate is None:
            raise TaxUndetermined(
                "no_exchange_rate",
                "tax.exchange_rate",
                f"no exchange rate from {currency} to EUR: distance sales are counted in EUR against the "
                f"EUR 10,000 threshold; configure exchange_rates.EUR.{currency}",
            )
        return rate


@dataclass(frozen=True)
class TaxInputs:
    """What the outside world contributed: the seller's distance-sales position, an engine's answer."""

    distance: DistancePosition | None = None
    sales_tax: SalesTaxResult | None = None


class TaxInputsNeeded(Exception):
    """`complete` needs the running total (`distance`) or an engine's answer (`request` to `engine`)."""

    def __init__(self, entity: str, distance: bool, request: SalesTaxRequest | None, engine: str) -> None:
        super().__init__(f"tax inputs needed for {entity}: distance={distance}, engine={engine if request else '-'}")
        self.entity, self.distance, self.request, self.engine = entity, distance, request, engine


def complete(invoice: Invoice, rates: VatRates, policy: TaxPolicy, inputs: TaxInputs | None = None) -> Invoice:
    """The draft with its distance-sale and US sales tax lines determined."""
    inputs = inputs or TaxInputs()
    needs_distance = bool(distance_line_nos(invoice)) and inputs.distance is None
    request = sales_tax_request(invoice, policy)
    engine = policy.engine(invoice.seller.code)
    result = inputs.sales_tax
    if request is not None and result is None and request.lines:
        if engine == RATE_TABLE and policy.rate_table is not None:
            result = policy.rate_table.calculate(request)
        elif engine == RATE_TABLE:
            raise TaxUndetermined("no_rate_table", "tax.engine", "no US sales tax rate table is configured")
    needs_engine = request is not None and result is None and bool(request.lines)
    if needs_distance or needs_engine:
        raise TaxInputsNeeded(invoice.seller.code, needs_distance, request if needs_engine else None, engine)
    if inputs.distance is not None:
        invoice, _ = settle_distance_sales(invoice, inputs.distance, rates, policy)
    if request is not None:
        invoice = apply_sales_tax(invoice, request, result)
    return invoice


def retax(invoice: Invoice, decisions: Mapping[int, TaxDecision]) -> Invoice:
    """The draft with some lines' tax decisions replaced (by line number); the document's
    allowances (a deal's discount, one per VAT category and rate) move with their lines, and the
    breakdown, totals and the breakdowns' notes follow."""
    lines = tuple(replace(ln, tax=decisions.get(ln.line_no, ln.tax)) for ln in invoice.lines)
    allowances = _regrouped(invoice.lines, lines, invoice.allowances)
    old = {b.note for b in invoice.breakdown if b.note}
    new = tuple(sorted({b.note for b in compute_breakdown(lines, allowances) if b.note}))
    notes = new + tuple(n for n in invoice.notes if n not in old)
    return amend(invoice, lines=lines, allowances=allowances, notes=notes)


def _regrouped(
    before: Sequence[InvoiceLine], after: Sequence[InvoiceLine], allowances: Sequence[DocumentAllowance]
) -> tuple[DocumentAllowance, ...]:
    """Each document allowance in the VAT category and rate its lines have now; one whose lines
    went to several is split over them in proportion to their nets (shares rounded to cents, adding
    up to it exactly, as the discount was split in the first place)."""
    now = {ln.line_no: ln.tax for ln in after}
    result: list[DocumentAllowance] = []
    for a in allowances:
        groups: dict[tuple[VatCategory, Decimal], Decimal] = {}
        for ln in before:
            if (ln.tax.category, ln.tax.rate) == (a.category, a.rate) and (
                ln.order_ref == a.order_ref or not a.order_ref
            ):
                key = (now[ln.line_no].category, now[ln.line_no].rate)
                groups[key] = groups.get(key, ZERO) + ln.net_amount
        groups = {key: net for key, net in sorted(groups.items()) if net > 0}
        if len(groups) <= 1:
            category, rate = next(iter(groups), (a.category, a.rate))
            result.append(replace(a, category=category, rate=rate))
            continue
        for ((category, rate), net), share in zip(
            groups.items(), allocate(a.amount, list(groups.values())), strict=True
        ):
            if share:
                base = net if a.percentage is not None else None
                result.append(replace(a, amount=share, category=category, rate=rate, base_amount=base))
    return tuple(result)


def taxable_bases(invoice: Invoice) -> dict[int, Decimal]:
    """Each line's net less its share of the document's allowances (a deal's discount), by line
    number: what its tax is computed on. Shares are in proportion to the nets of the lines an
    allowance covers, rounded to cents and adding up to it exactly."""
    bases = {ln.line_no: ln.net_amount for ln in invoice.lines}
    for a in invoice.allowances:
        covered = [
            ln
            for ln in invoice.lines
            if (ln.tax.category, ln.tax.rate) == (a.category, a.rate)
            and (ln.order_ref == a.order_ref or not a.order_ref)
            and ln.net_amount > 0
        ]
        if covered:
            for ln, share in zip(covered, allocate(a.amount, [ln.net_amount for ln in covered]), strict=True):
                bases[ln.line_no] -= share
    return bases


# -- EU distance sales ----------------------------------------------------------------------------


def is_distance_line(decision: TaxDecision) -> bool:
    """A line decided by the distance-sales rules (goods or digital services to an EU consumer
    abroad); also for documents stored before the evidence said so."""
    evidence = decision.evidence
    if evidence.get("distance_sale") == "true":
        return True
    return decision.rule.startswith("eu_b2c_") and evidence.get("supply") in (GOODS, DIGITAL)


def distance_line_nos(invoice: Invoice) -> list[int]:
    return [ln.line_no for ln in invoice.lines if is_distance_line(ln.tax)]


def settle_distance_sales(
    invoice: Invoice, position: DistancePosition, rates: VatRates, policy: TaxPolicy
) -> tuple[Invoice, PlaceDecision | None]:
    """The draft's distance-sale lines taxed where `position` puts the sale, with the decision."""
    nos = set(distance_line_nos(invoice))
    if not nos:
        return invoice, None
    eur_rate = policy.eur_rate(invoice.currency)
    bases = taxable_bases(invoice)
    net = sum((bases[no] for no in nos), ZERO)  # the value of the supply, without VAT, after discounts
    place = decide(position, to_eur(net, eur_rate), eur_rate)
    decisions: dict[int, TaxDecision] = {}
    for line in invoice.lines:
        if line.line_no not in nos:
            continue
        evidence = line.tax.evidence
        try:
            decisions[line.line_no] = determine(
                invoice.seller,
                invoice.buyer,
                evidence["supply"],
                evidence["tax_category"],
                rates,
                over_distance_threshold=place.destination,
                extra_evidence=place.evidence(),
            )
        except TaxError as exc:
            raise TaxUndetermined(
                "no_rate",
                "tax.rate",
                f"{exc}: line {line.line_no} is a distance sale taxed in {invoice.buyer.country} "
                f"({place.basis.value}); add the rate",
            ) from exc
    return retax(invoice, decisions), place


# -- US sales tax ----------------------------------------------------------------------------------


def sales_tax_request(invoice: Invoice, policy: TaxPolicy) -> SalesTaxRequest | None:
    """What a tax engine is asked for a US seller's sale to a US customer (its taxable lines), or
    None for any other sale. The ship-to state and ZIP code must be known."""
    seller, buyer = invoice.seller, invoice.buyer
    if seller.country != US or buyer.country != US:
        return None
    address = buyer.address
    if not address.region:
        raise TaxUndetermined(
            "no_ship_to", "billing_state", "US sales tax needs the customer's state (billing_state is missing)"
        )
    if not address.postal_code.strip():
        raise TaxUndetermined(
            "no_ship_to", "billing_postal_code", "US sales tax needs the customer's ZIP code (billing_postal_code)"
        )
    bases = taxable_bases(invoice)
    lines = tuple(
        SalesTaxLine(
            str(ln.line_no),
            bases[ln.line_no],
            policy.product_tax_codes.get(ln.tax.evidence.get("supply", ""), ""),
            ln.tax.evidence.get("supply", ""),
            ln.quantity,
        )
        for ln in invoice.lines
        if ln.tax.evidence.get("tax_category") in RATED_CATEGORIES
    )
    ship_to = ShipTo(address.region, address.postal_code.strip(), address.city.strip(), address.street)
    return SalesTaxRequest(seller, ship_to, invoice.currency, lines)


def apply_sales_tax(invoice: Invoice, request: SalesTaxRequest, result: SalesTaxResult | None) -> Invoice:
    """The draft's lines taxed by the engine's answer; exempt and zero product categories stay
    untaxed by their own rule, without asking an engine."""
    decisions = {}
    for line in invoice.lines:
        base = _us_evidence(line.tax, request)
        category = base["tax_category"]
        place = f"US-{request.ship_to.state}"
        if category in EXEMPTIONS or category == ZERO_CATEGORY:
            rule = "us_exempt" if category in EXEMPTIONS else "us_zero"
            decisions[line.line_no] = _untaxed(
                rule, "exempt product" if rule == "us_exempt" else "zero-rated", base, place
            )
            continue
        answer = result.line(str(line.line_no)) if result is not None else None
        if result is None or answer is None:
            raise TaxUndetermined(
                "engine_refused",
                "tax.engine_refused",
                f"the sales tax engine gave no answer for line {line.line_no}",
            )
        decisions[line.line_no] = _decision(answer, result, base, place)
    return retax(invoice, decisions)


def _us_evidence(decision: TaxDecision, request: SalesTaxRequest) -> dict[str, str]:
    e = decision.evidence
    ship_to = request.ship_to
    return {
        "seller_country": e.get("seller_country", US),
        "buyer_country": e.get("buyer_country", US),
        "buyer_is_business": e.get("buyer_is_business", ""),
        "supply": e.get("supply", ""),
        "tax_category": e.get("tax_category", ""),
        "ship_to_state": ship_to.state,
        "ship_to_postal_code": ship_to.postal_code,
        "ship_to_city": ship_to.city,
    }


def _decision(answer: LineTax, result: SalesTaxResult, base: dict[str, str], place: str) -> TaxDecision:
    evidence = {
        **base,
        "engine": result.engine,
        "source": result.source,
        "taxability": answer.taxability,
        "engine_tax_amount": str(answer.amount),
        "jurisdictions": "; ".join(f"{j.level} {j.name} {j.rate}%" for j in answer.jurisdictions),
    }
    if result.reference:
        evidence["calculation"] = result.reference
    if answer.rate > 0:
        rule = "us_sales_tax"
        return TaxDecision(
            VatCategory.STANDARD,
            answer.rate,
            rule,
            evidence={**evidence, "rule": rule},
            place_of_supply=place,
            jurisdictions=answer.jurisdictions,
        )
    return _untaxed(f"us_{answer.taxability}", answer.note or answer.taxability.replace("_", " "), evidence, place)


def _untaxed(rule: str, why: str, evidence: dict[str, str], place: str) -> TaxDecision:
    """A US line without sales tax, by `rule`. In EN 16931 terms a US sale is outside the scope of
    (EU) VAT, category O, which also keeps such an invoice a valid e-invoice; the note says why."""
    note = f"No US sales tax: {why}"
    return TaxDecision(VatCategory.OUTSIDE_SCOPE, ZERO, rule, note, "VATEX-EU-O", {**evidence, "rule": rule}, place)
