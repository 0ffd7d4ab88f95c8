"""The order flow: what a new version of a deal does to its order.

`decide` is the whole business decision, pure: given the stored order (or none) and an incoming
version, it returns the next state and what must happen (exception, finance task, invoice draft).
The app layer persists the decision, its audit entries and its notices in one transaction.

Ordering: versions are ordered by (occurred_at, event_id); a version not newer than the applied
one is stale and changes nothing, so duplicates and out-of-order deliveries converge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from handoff.deals.domain.orders import DealInput, OrderState, is_won
from handoff.deals.domain.readiness import Problem, RuleSet, check

INVOICED = frozenset({OrderState.SENT, OrderState.PAID})


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    deal_id: str
    state: OrderState
    version_at: datetime
    version_event: str
    deal: DealInput


@dataclass(frozen=True, slots=True)
class Decision:
    state: OrderState
    problems: tuple[Problem, ...] = ()
    stale: bool = False
    open_task: bool = False  # ensure the finance task to issue the invoice is open
    make_draft: bool = False  # build an invoice draft from this version
    discard_draft: bool = False  # a draft built from an older version must go
    amended_after_invoice: bool = False  # issued invoice stands; finance reviews the change
    # This version passed readiness, so its customer data may update the customer master; a
    # blocked, not-won or stale version never does (its data is unchecked or wrong).
    passed_readiness: bool = False
    reason: str = ""


def is_newer(current: OrderSnapshot, occurred_at: datetime, event_id: str) -> bool:
    return (occurred_at, event_id) > (current.version_at, current.version_event)


def decide(
    current: OrderSnapshot | None,
    deal: DealInput,
    occurred_at: datetime,
    event_id: str,
    ruleset: RuleSet,
    won_stages: frozenset[str],
    draft_on_ready: bool,
) -> Decision:
    if current is not None and not is_newer(current, occurred_at, event_id):
        return Decision(current.state, stale=True, reason="older or same version than the one applied")
    if current is not None and current.state in INVOICED:
        changed = current.deal.as_dict() != deal.as_dict()
        return Decision(
            current.state,
            amended_after_invoice=changed,
            # the amendment's billing data (a new billing e-mail, say) counts once it passes
            passed_readiness=changed and not check(deal, ruleset),
            reason="amended after invoicing: the issued invoice stands; bill, credit or dismiss the difference"
            if changed
            else "no change",
        )
    had_draft = current is not None and current.state is OrderState.DRAFTED
    changed = current is None or current.deal.as_dict() != deal.as_dict()
    if not is_won(deal, won_stages):
        return Decision(OrderState.PIPELINE, discard_draft=had_draft, reason=f"stage {deal.get('stage')!r} is not won")
    problems = tuple(check(deal, ruleset))
    if problems:
        fields = ", ".join(sorted({p.field for p in problems}))
        return Decision(OrderState.BLOCKED, problems, discard_draft=had_draft, reason=f"not ready: {fields}")
    if not draft_on_ready:
        return Decision(
            OrderState.READY,
            open_task=True,
            discard_draft=had_draft,
            passed_readiness=True,
            reason="billing data complete",
        )
    if had_draft and not changed:
        return Decision(OrderState.DRAFTED, open_task=True, passed_readiness=True, reason="no change")
    return Decision(
        OrderState.DRAFTED,
        open_task=True,
        make_draft=True,
        discard_draft=had_draft,
        passed_readiness=True,
        reason="billing data complete: invoice drafted for review",
    )
