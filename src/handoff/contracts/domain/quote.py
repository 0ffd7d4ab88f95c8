"""Quote lock: a closed-won deal's agreed quote becomes version 1 of its contract.

`contract_from_deal` maps a deal that passed readiness (`deals.domain.readiness`, which judges
the same billing terms, `deals.domain.billing_terms`) to a `ContractVersion`: the contract id is
the deal id, lines are keyed `L1..Ln` in the deal's order (a deal without lines is one one-time
line of its amount, its discount on it), each with the `BillingRule` its billing terms give; the
terms are the deal's customer, selling entity, currency, payment terms, PO number and owner; the
billing start is the deal's `billing_start`, else the day it closed; the signed order form
(`signed_document_url` + `signed_document_sha256`) is kept as the version's document. The result
is validated (`model.validate`), so a contract that could not be billed raises `ContractError`
naming the deal and field instead of being stored.

Given the selling entity and the VAT rates, each line also gets the VAT treatment agreed at the
lock (`lock_tax`): decided as drafting decides it (`invoicing.domain.tax.determine` with the
buyer of `deals.domain.orders.tax_buyer`), kept on the line with its evidence. The billing run
still determines VAT on each invoice at its tax point; the locked treatment is the agreed one.

`is_contract_deal` says which deals are locked as contracts instead of invoiced once on closing:
a line billed other than once, or a billing start after the close date.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractError,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Milestone,
    SignedDocument,
    add_months,
    validate,
)
from handoff.deals.domain.billing_terms import LineTerms, TermsError, is_contract_deal, line_terms
from handoff.deals.domain.orders import DealInput, LineInput, line_supply, line_tax_category, tax_buyer
from handoff.invoicing.domain.determination import is_distance_line
from handoff.invoicing.domain.tax import RATED_CATEGORIES, TaxDecision, TaxError, VatRates, determine
from handoff.kernel.money import D, MoneyError
from handoff.kernel.parties import Customer, LegalEntity

__all__ = ["contract_from_deal", "is_contract_deal", "lock_tax"]

US = "US"


def contract_from_deal(
    deal: DealInput,
    closed_on: date,
    *,
    default_payment_terms: str = "",
    seller: LegalEntity | None = None,
    rates: VatRates | None = None,
) -> ContractVersion:
    """Version 1 of the contract the deal's won quote makes (see the module docstring); raises
    ContractError naming the deal (the contract id), the line and the field of what cannot be read.
    With `seller` (the deal's selling entity) and `rates`, each line carries its locked VAT
    treatment (`lock_tax`); without them, none."""
    cid = deal.deal_id
    billing_start = _billing_start(deal, closed_on)
    terms = ContractTerms(
        customer_id=deal.get("customer_id") or cid,
        legal_entity=deal.get("legal_entity"),
        currency=deal.get("currency").strip().upper(),
        payment_terms=deal.get("payment_terms") or default_payment_terms,
        billing_start=billing_start,
        po_number=deal.get("po_number"),
        owner_email=deal.get("owner_email"),
    )
    if deal.lines:
        if deal.get("discount"):
            raise ContractError.at(
                cid, "discount", "on the deal cannot be carried to a contract: give each line its discount"
            )
        lines = tuple(_line(cid, f"L{n}", ln, deal, billing_start) for n, ln in enumerate(deal.lines, start=1))
    else:
        lines = (
            ContractLine(
                key="L1",
                product="",
                description=deal.get("deal_name") or f"Deal {cid}",
                quantity=D("1"),
                unit_price=_money(cid, "L1", "amount", deal.get("amount")),
                rule=BillingRule(BillingKind.ONE_TIME),
                discount=deal.get("discount"),
            ),
        )
    url, digest = deal.get("signed_document_url"), deal.get("signed_document_sha256")
    documents = (SignedDocument(url, digest.lower()),) if url or digest else ()
    if seller is not None and rates is not None:
        lines = lock_tax(lines, seller, tax_buyer(deal), rates)
    version = ContractVersion(
        contract_id=cid,
        version=1,
        effective=billing_start,
        terms=terms,
        lines=_unique_milestones(lines),
        documents=documents,
    )
    validate(version)
    return version


def lock_tax(
    lines: tuple[ContractLine, ...], seller: LegalEntity, buyer: Customer, rates: VatRates
) -> tuple[ContractLine, ...]:
    """The lines with the VAT treatment agreed at the lock (`ContractLine.tax`), decided by
    `tax.determine` from the seller, the buyer and the line's supply and tax category, as drafting
    decides it line by line. Left None where the line's tax is not the line's alone: a distance
    sale (goods or digital services to an EU consumer abroad, taxed at origin or destination by the
    seller's running total: `determination.settle_distance_sales`), a US seller's taxable sale to a
    US customer (sales tax from an engine: `determination.apply_sales_tax`), or a line
    `determine` cannot decide (readiness holds such a deal back; the billing run would refuse it).
    The billing run decides those at billing, as it decides every line's tax in force then."""
    memo: dict[tuple[str, str], TaxDecision | None] = {}
    out: list[ContractLine] = []
    for line in lines:
        key = (line.supply, line.tax_category)
        if key not in memo:
            memo[key] = _agreed_tax(seller, buyer, line.supply, line.tax_category, rates)
        out.append(replace(line, tax=memo[key]))
    return tuple(out)


def _agreed_tax(
    seller: LegalEntity, buyer: Customer, supply: str, category: str, rates: VatRates
) -> TaxDecision | None:
    if seller.country == US and buyer.country == US and category in RATED_CATEGORIES:
        return None  # US sales tax: a tax engine (or the rate table) answers at billing
    try:
        decision = determine(seller, buyer, supply, category, rates)
    except TaxError:
        return None
    return None if is_distance_line(decision) else decision


def _billing_start(deal: DealInput, closed_on: date) -> date:
    text = deal.get("billing_start")
    if not text:
        return closed_on
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ContractError.at(deal.deal_id, "billing_start", f"{text!r} is not an ISO date") from None


def _money(cid: str, key: str, field: str, text: str) -> Decimal:
    try:
        return D(text)
    except MoneyError:
        raise ContractError.at(cid, field, f"{text!r} is not a number", line=key) from None


def _line(cid: str, key: str, ln: LineInput, deal: DealInput, billing_start: date) -> ContractLine:
    try:
        terms = line_terms(ln)
    except TermsError as exc:
        raise ContractError(f"contract {cid} line {key}: {exc}", contract_id=cid, line_key=key) from None
    return ContractLine(
        key=key,
        product=ln.product.strip(),
        description=ln.description or deal.get("deal_name") or f"Deal {cid}",
        quantity=_money(cid, key, "quantity", ln.quantity.strip() or "1"),
        unit_price=_money(cid, key, "unit_price", ln.unit_price),
        rule=_rule(terms, billing_start),
        discount=ln.discount.strip(),
        unit_code=terms.unit_code,
        tax_category=line_tax_category(ln),
        supply=line_supply(ln),
    )


def _rule(terms: LineTerms, billing_start: date) -> BillingRule:
    if terms.kind is BillingKind.MILESTONE:
        return BillingRule(terms.kind, milestones=terms.milestones)
    if terms.kind is BillingKind.ONE_TIME:
        return BillingRule(terms.kind, bill_on=terms.start.resolve(billing_start) if terms.start is not None else None)
    if terms.kind is not BillingKind.RECURRING:
        return BillingRule(terms.kind)
    start = terms.start.resolve(billing_start) if terms.start is not None else None
    first = start or billing_start
    end = terms.end
    if end is None and terms.term_months is not None:
        end = add_months(first, terms.term_months)
    if end is None and terms.periods is not None and terms.frequency is not None:
        end = add_months(first, terms.periods * terms.frequency.months)
    return BillingRule(
        terms.kind,
        frequency=terms.frequency,
        timing=terms.timing,
        start=start,
        end=end,
        ramp=terms.ramp,
        auto_renew=terms.auto_renew,
        notice_days=terms.notice_days,
    )


def _unique_milestones(lines: tuple[ContractLine, ...]) -> tuple[ContractLine, ...]:
    """Milestones are accepted by key across the contract: a name used on two lines is keyed by
    its line too on the second (`L3-go-live`)."""
    seen: set[str] = set()
    out: list[ContractLine] = []
    for line in lines:
        if not line.rule.milestones:
            out.append(line)
            continue
        renamed: list[Milestone] = []
        for m in line.rule.milestones:
            key = m.key if m.key not in seen else f"{line.key}-{m.key}"
            seen.add(key)
            renamed.append(replace(m, key=key))
        out.append(replace(line, rule=replace(line.rule, milestones=tuple(renamed))))
    return tuple(out)
