"""The deal desk: a contract locked with non-standard terms is routed to a finance approval and not
billed until someone other than its deal owner approves them.

`review_on_lock` runs in the lock's transaction: it reviews the version against the configured
policy (`contracts.terms_review`, read by `domain.review.policy_from_mapping`: discount, payment
terms, days from close to billing start, prices off the price list, a manual tax treatment). No
findings: the contract stays `approved` (`contracts.review_state`). Findings: the contract is
`pending` and a `contract_terms` approval carrying the findings is asked for through the approvals
package (`approvals.service.ask_for_terms_review`), which finance decides in its usual surfaces
(UI, API, Slack, `handoff approvals approve ID`); approving sets `approved` (billed from the next
run), rejecting `rejected`. The deal owner (`terms.owner_email`) and the requester cannot approve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from handoff.approvals import service as approvals
from handoff.context import AppContext
from handoff.contracts.domain import catalog as catalog_domain
from handoff.contracts.domain.model import ContractError, ContractVersion, add_months
from handoff.contracts.domain.review import Finding, ListPrice, review
from handoff.contracts.domain.schedule import contract_value
from handoff.contracts.repository.catalog import CatalogRepository
from handoff.contracts.repository.change_orders import ChangeOrderRepository
from handoff.kernel.storage.unit_of_work import UnitOfWork

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
# the value shown to approvers: auto-renewing lines counted this far ahead (as `contracts.lock`
# plans them; not imported from there, so that `lock` can import this module)
VALUE_MONTHS = 24

__all__ = ["APPROVED", "PENDING", "REJECTED", "TermsReview", "review_on_lock", "review_state"]


@dataclass(frozen=True, slots=True)
class TermsReview:
    """What `review_on_lock` found: the findings, and the approval asked for (None: none needed)."""

    contract_id: str
    findings: tuple[Finding, ...]
    approval_id: int | None

    @property
    def state(self) -> str:
        return PENDING if self.approval_id is not None else APPROVED


def _list_prices(repo: CatalogRepository) -> ListPrice:
    cache: dict[tuple[str, str], list[catalog_domain.PriceListEntry]] = {}

    def price(sku: str, currency: str, day: date) -> Decimal | None:
        key = (sku, currency.upper())
        if key not in cache:
            cache[key] = repo.prices(sku, key[1])
        try:
            return catalog_domain.price_for(cache[key], sku, currency, day).unit_price
        except catalog_domain.CatalogError:
            return None

    return price


def review_on_lock(
    uow: UnitOfWork,
    ctx: AppContext,
    version: ContractVersion,
    *,
    actor: str,
    now: datetime,
    close_date: date | None = None,
    manual_tax: bool = False,
    list_price: Callable[[str, str, date], Decimal | None] | None = None,
) -> TermsReview:
    """Review the version just locked in `uow` (its contract row written, not committed) against
    the configured policy. Findings: the contract is `pending` and a `contract_terms` approval with
    the findings is asked for, requested by `actor`; none: nothing is written. `close_date`: the
    deal's close (None: unknown, see `review`); `manual_tax`: the tax treatment was set by hand;
    `list_price`: the price list (the catalog's by default)."""
    cid = version.contract_id
    prices = list_price or _list_prices(uow.repository(CatalogRepository))
    findings = tuple(review(version, ctx.config.terms_policy, close_date, prices, manual_tax))
    if not findings:
        return TermsReview(cid, (), None)
    repo = uow.repository(ChangeOrderRepository)
    if repo.review_state(cid) is None:
        raise ContractError.at(cid, "contract_id", "is not stored: review_on_lock runs after the lock writes it")
    repo.set_review_state(cid, PENDING, now)
    value = contract_value(version, add_months(max(version.terms.billing_start, now.date()), VALUE_MONTHS))
    approval_id = approvals.ask_for_terms_review(
        uow,
        ctx,
        now,
        cid,
        [f.as_dict() for f in findings],
        actor=actor,
        owner=version.terms.owner_email,
        version=version.version,
        value=value,
        currency=version.terms.currency,
    )
    return TermsReview(cid, findings, approval_id)


def review_state(ctx: AppContext, contract_id: str) -> str:
    """pending | approved | rejected; ContractError for an unknown contract."""
    state = ChangeOrderRepository(ctx.engine).review_state(contract_id)
    if state is None:
        raise ContractError.at(contract_id, "contract_id", "does not exist")
    return state
