"""Tax determination's steps that need the database or the outside world, for the use cases that
draft (`deals.service.intake`) and issue (`invoicing.service.issuing`) invoices, inside their unit
of work. The decisions themselves are the domain's (`invoicing.domain.determination`).

- **Drafting** (`draft_inputs`): the selling entity's EU distance-sales position (this year's and
  last year's totals, read without a lock) and an outside engine's answer (Stripe Tax). An engine
  that did not answer is remembered for the rest of the caller's batch (`unreachable`), so one
  outage costs one timeout, not one per deal.
- **Issuing** (`settle_on_issue`): the running total is what decides, so the distance-sale lines of
  an invoice are decided again under the total's row lock, with the total as it is now, and its
  sale is added to it in the same transaction; a credit note takes its lines' sale off the total of
  the year they counted in. Two invoices issued at the same time thus never both see a total below
  the threshold that their sales together cross. The evidence of each line records the total it saw.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from handoff.context import AppContext
from handoff.invoicing.domain.determination import (
    TaxInputs,
    TaxInputsNeeded,
    distance_line_nos,
    settle_distance_sales,
    taxable_bases,
)
from handoff.invoicing.domain.distance_sales import DistancePosition, to_eur
from handoff.invoicing.domain.invoices import Invoice, InvoiceKind
from handoff.invoicing.domain.sales_tax import SalesTaxRequest, SalesTaxResult
from handoff.invoicing.domain.tax import TaxUndetermined
from handoff.invoicing.repository.distance_sales import DistanceSalesRepository
from handoff.kernel.money import ZERO
from handoff.kernel.storage.unit_of_work import UnitOfWork


def draft_inputs(
    uow: UnitOfWork,
    ctx: AppContext,
    needed: TaxInputsNeeded,
    unreachable: dict[str, TaxUndetermined] | None = None,
) -> TaxInputs:
    """What a draft's tax determination asked for. Raises `TaxUndetermined` when an engine is not
    configured, refuses or cannot be reached."""
    distance = position(uow, ctx, needed.entity, ctx.clock().date().year) if needed.distance else None
    result = None if needed.request is None else calculate(ctx, needed.engine, needed.request, unreachable)
    return TaxInputs(distance, result)


def calculate(
    ctx: AppContext, engine: str, request: SalesTaxRequest, unreachable: dict[str, TaxUndetermined] | None = None
) -> SalesTaxResult:
    """The answer of the configured sales tax `engine` (an outside one: the rate table answers in
    the domain)."""
    if unreachable is not None and engine in unreachable:
        raise unreachable[engine]
    found = ctx.tax_engines.get(engine)
    if found is None:
        raise TaxUndetermined(
            "engine_not_configured",
            "tax.engine",
            f"the sales tax engine {engine} is not configured (Stripe Tax: set HANDOFF_STRIPE_API_KEY)",
        )
    try:
        return found.calculate(request)
    except TaxUndetermined as exc:
        if exc.transient and unreachable is not None:
            unreachable[engine] = exc
        raise


def position(
    uow: UnitOfWork, ctx: AppContext, entity: str, year: int, *, lock: bool = False, now: datetime | None = None
) -> DistancePosition:
    """The entity's distance sales as a sale in `year` sees them (`lock`: the rows stay locked until
    the transaction ends), with the sales made before handoff that the configuration states."""
    repo = uow.repository(DistanceSalesRepository)
    years = (year - 1, year)
    totals = repo.lock(entity, years, now or ctx.clock()) if lock else repo.totals(entity, years)
    policy = ctx.config.tax_policy
    return DistancePosition(
        entity,
        year,
        totals.get(year, ZERO) + policy.earlier(entity, year),
        totals.get(year - 1, ZERO) + policy.earlier(entity, year - 1),
        entity in policy.destination_entities,
    )


def settle_on_issue(
    uow: UnitOfWork, ctx: AppContext, draft: Invoice, entity: str, number: str, on: date, actor: str, now: datetime
) -> Invoice:
    """The draft as it is issued on `on`: its distance-sale lines decided against the running total
    (locked), which takes its sale; a credit note's sale comes off again. Raises `TaxUndetermined`
    when a rate the decision needs is missing."""
    if not distance_line_nos(draft):
        return draft
    repo = uow.repository(DistanceSalesRepository)
    if draft.kind is InvoiceKind.CREDIT_NOTE:
        for year, amount in sorted(_credited(ctx, draft, on).items()):
            repo.lock(entity, (year,), now)
            _counted(uow, repo, entity, year, -amount, draft, number, actor, now)
        return draft
    seen = position(uow, ctx, entity, on.year, lock=True, now=now)
    issued, place = settle_distance_sales(draft, seen, ctx.config.vat_rates, ctx.config.tax_policy)
    assert place is not None
    before = sorted({ln.tax.rule for ln in draft.lines})
    after = sorted({ln.tax.rule for ln in issued.lines})
    if before != after:
        for deal_id in draft.order_refs:
            uow.audit(
                at=now,
                actor=actor,
                action="invoice.tax_redetermined",
                entity_type="order",
                entity_id=deal_id,
                reason=f"invoice {number}: distance sales decided at issue ({place.basis.value})",
                before={"tax_rules": before, "tax": draft.totals.tax},
                after={"tax_rules": after, "tax": issued.totals.tax, "total_eur_seen": seen.total_eur},
            )
    _counted(uow, repo, entity, on.year, place.sale_eur, issued, number, actor, now)
    return issued


def _credited(ctx: AppContext, credit: Invoice, on: date) -> dict[int, Decimal]:
    """EUR a credit note takes off, by the year its lines counted in, at the rate they counted at."""
    by_year: dict[int, Decimal] = defaultdict(lambda: ZERO)
    nos = set(distance_line_nos(credit))
    bases = taxable_bases(credit)
    net_by_key: dict[tuple[int, Decimal], Decimal] = defaultdict(lambda: ZERO)
    fallback_year = credit.corrects_issue_date.year if credit.corrects_issue_date else on.year
    for line in credit.lines:
        if line.line_no not in nos:
            continue
        evidence = line.tax.evidence
        year = int(evidence.get("distance_sales_year") or fallback_year)
        rate = evidence.get("eur_rate")
        eur_rate = Decimal(rate) if rate else ctx.config.tax_policy.eur_rate(credit.currency)
        net_by_key[(year, eur_rate)] += bases[line.line_no]
    for (year, eur_rate), net in net_by_key.items():
        by_year[year] += to_eur(net, eur_rate)
    return dict(by_year)


def _counted(
    uow: UnitOfWork,
    repo: DistanceSalesRepository,
    entity: str,
    year: int,
    amount: Decimal,
    invoice: Invoice,
    number: str,
    actor: str,
    now: datetime,
) -> None:
    total = repo.add(entity, year, amount, now)
    uow.audit(
        at=now,
        actor=actor,
        action="distance_sales.counted",
        entity_type="legal_entity",
        entity_id=entity,
        reason=f"{invoice.kind.value.replace('_', ' ')} {number} ({', '.join(invoice.order_refs)})",
        before={"year": year, "total_eur": total - amount},
        after={"year": year, "total_eur": total, "amount_eur": amount},
    )
