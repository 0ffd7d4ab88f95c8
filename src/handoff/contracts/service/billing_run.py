"""The billing run: every schedule item due on a day becomes part of an invoice draft, exactly once.

Due means `domain.schedule.due`: a planned item whose bill date is on or before the day (a period
in advance on its first day, in arrears on the day after it, a one-time fee on its day, a milestone
on the day it was accepted: `contracts.accept_milestone` gives it that bill date). Items of an order
migrated before contracts that intake has not invoiced yet are intake's (status `intake`), never
the run's.

Exactly once per (contract, line, period): the draft's `billed_items` rows are written in the
draft's own transaction under a unique key, so a run that raced another one past everything else
fails on the key, writes nothing, and redoes its chunk (finding the items billed). Contracts are
claimed a chunk at a time (`CHUNK`), on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several
workers share one run without waiting on each other; a chunk is loaded in a few queries and written
in bulk, with one audit entry per draft.

A contract whose terms say `consolidate` takes one invoice per customer, selling entity, currency
and payment terms per run with its like; others one invoice per contract. Invoices are built by
invoicing's domain (`invoicing.domain.contract_invoices`) with the VAT determination intake's drafts
get (`determination.complete`, the running total or a tax engine asked through
`invoicing.service.taxation` when it needs them). A draft is linked to the contract's order when
the contract came from a deal (contract id = deal id), whose `issue_invoice` finance task is
(re)opened; it is issued like any draft (`handoff invoice issue`, `issue_all_drafts`). A group whose
draft cannot be built (no configured entity or terms, VAT undetermined) is reported in `failures`
and its items stay planned for the next run.

Delivery items (`service.delivery`: a project's time, expenses and retainer top-ups) bill like the
rest, with the period worked (BG-26), their source as the line's note (BT-127) and the entries they
bill in the invoice's time and expense annex (`Invoice.annex`; the PDF prints it). Their entries
are read only for the items that have them (`ContractRepository.due_items`). A group netting below
zero through delivery adjustments ("time-adjust:2027-01:4": hours taken back after invoicing) becomes
a credit-note draft correcting the newest issued invoice that billed that month of the line.

The VAT is determined at billing, each invoice's tax point, so the treatment in force then applies
(a rate or a buyer's VAT id changed since the lock). A contract line's `tax` is the treatment agreed
at the quote lock (`quote.lock_tax`), kept as the record of what was agreed; the run does not bill by it.

Before billing, a run plans auto-renewing lines (renewing with no notice given: `lock` plans them
`HORIZON_MONTHS` ahead) on when their plan ends less than `PLAN_AHEAD_MONTHS` after the day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import orjson

from handoff.context import AppContext
from handoff.contracts.domain.model import ContractVersion, add_months
from handoff.contracts.domain.replanning import ADJUST_PREFIX
from handoff.contracts.domain.schedule import plan
from handoff.contracts.repository.contracts import (
    BILLED,
    DETAILED_TRIGGERS,
    AlreadyWritten,
    ContractHeader,
    ContractRepository,
    ItemRow,
)
from handoff.contracts.service.change_orders import _net_charge, credit_documents
from handoff.contracts.service.contracts import HORIZON_MONTHS, _item_row, buyer_of
from handoff.invoicing.domain.contract_invoices import ContractCharge, charges_total, draft_for_charges
from handoff.invoicing.domain.determination import TaxInputsNeeded, complete
from handoff.invoicing.domain.invoices import (
    DocumentStatus,
    Invoice,
    InvoiceError,
    InvoiceKind,
    PaymentState,
    annex_from_json,
)
from handoff.invoicing.domain.tax import TaxDecision, TaxError, TaxUndetermined
from handoff.invoicing.service import taxation
from handoff.kernel.encoding import to_json_bytes_sharing
from handoff.kernel.money import ZERO
from handoff.kernel.parties import Customer
from handoff.kernel.storage.unit_of_work import UnitOfWork

log = logging.getLogger("handoff.contracts.billing_run")

CHUNK = 500  # contracts per transaction
BULK_FROM = 2 * CHUNK  # the contracts a run with a full first chunk is taken to bill, at least
ACTOR = "automation:billing_run"
PLAN_AHEAD_MONTHS = 12  # an auto-renewing contract planned less far ahead than this is planned on
MAX_RETRIES = 5  # a chunk redone after losing a race on billed_items
TASK_NOTE = "contract billing run: invoice draft to review and issue"
DELIVERY_ADJUST = "-adjust:"  # a delivery adjustment's period key: "time-adjust:2027-01:4"

__all__ = ["ACTOR", "CHUNK", "BillingResult", "run_billing"]


@dataclass
class BillingResult:
    """What one run drafted."""

    on: date
    drafts: int = 0
    items: int = 0
    invoice_ids: list[int] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (contract ids, why)
    retried_chunks: int = 0
    planned: int = 0  # items of auto-renewing lines planned ahead by this run
    tax_memo: dict[tuple[object, ...], TaxDecision] = field(default_factory=dict, repr=False)  # per run


@dataclass
class _Draft:
    contracts: list[ContractHeader]
    items: list[ItemRow]
    invoice: Invoice
    document: bytes


def _charge(item: ItemRow) -> ContractCharge:
    # recurring periods are keyed by their ISO start date; delivery items bill the period worked
    periodic = item.period_key[:1].isdigit() or item.trigger in DETAILED_TRIGGERS or item.trigger == "usage"
    return ContractCharge(
        contract_id=item.contract_id,
        line_key=item.line_key,
        period_key=item.period_key,
        description=item.description,
        quantity=item.quantity,
        unit_price=item.unit_price,
        gross=item.gross,
        discount=item.discount,
        tax_category=item.tax_category,
        supply=item.supply,
        product=item.product,
        unit_code=item.unit_code,
        period_start=item.period_start if periodic else None,
        period_end=item.period_end if periodic else None,
        trigger=item.trigger,
        note=item.note,
        annex=annex_from_json(item.detail) if item.detail else (),
    )


def run_billing(
    ctx: AppContext, on: date, worker_id: str = "cli", *, chunk: int = CHUNK, actor: str = ACTOR
) -> BillingResult:
    """Draft every item due on `on` that no run has billed; safe to run again (it bills nothing
    twice) and from several workers at once."""
    result = BillingResult(on)
    _plan_ahead(ctx, on, chunk, actor, result)
    after = ""
    retries = 0
    with ExitStack() as bulk:
        large = False
        while True:
            try:
                with ctx.unit_of_work() as uow:
                    done, last, full = _chunk(uow, ctx, on, after, chunk, actor, worker_id, result)
                    uow.commit()
            except AlreadyWritten:
                # another run billed some of this chunk's items meanwhile: redo it, finding them billed
                retries += 1
                result.retried_chunks += 1
                if retries > MAX_RETRIES:
                    raise
                continue
            retries = 0
            if done:
                return result
            if full and not large:  # a large run: bulk work (the cycle collector paused, `runtime.gc_pause`)
                bulk.enter_context(ctx.runtime.bulk(BULK_FROM))
                large = True
            after = last


def _plan_ahead(ctx: AppContext, on: date, size: int, actor: str, result: BillingResult) -> None:
    """Auto-renewing lines planned less than `PLAN_AHEAD_MONTHS` beyond `on` are planned on, to
    `HORIZON_MONTHS` after it: a renewing subscription never runs out of items to bill."""
    before, through = add_months(on, PLAN_AHEAD_MONTHS), add_months(on, HORIZON_MONTHS)
    after = ""
    while True:
        with ctx.unit_of_work() as uow:
            repo = uow.repository(ContractRepository)
            found = repo.renewing(before, after, size)
            if not found:
                return
            now = ctx.clock()
            for contract_id, content in found:
                version = ContractVersion.from_json(content)
                items = [_item_row(version, item) for item in plan(version, through)]
                added = repo.plan_ahead(contract_id, items, through, now)
                result.planned += added
                uow.audit(
                    at=now,
                    actor=actor,
                    action="contract.planned_ahead",
                    entity_type="contract",
                    entity_id=contract_id,
                    reason=f"auto-renewing lines planned through {through.isoformat()}",
                    after={"planned_through": through, "items_added": added, "version": version.version},
                )
            uow.commit()
        after = found[-1][0]


def _chunk(
    uow: UnitOfWork,
    ctx: AppContext,
    on: date,
    after: str,
    size: int,
    actor: str,
    worker_id: str,
    result: BillingResult,
) -> tuple[bool, str, bool]:
    """Bill one chunk of contracts after `after`: (no more contracts, the chunk's last id, it was full)."""
    repo = uow.repository(ContractRepository)
    ids = repo.due_contracts(on, after, size)
    if not ids:
        return True, after, False
    full = len(ids) == size
    claimed = repo.claim(ids)  # on PostgreSQL: those another run holds are skipped
    if not claimed:
        return False, ids[-1], full
    by_contract: dict[str, list[ItemRow]] = {}
    for item in repo.due_items(list(claimed), on):
        by_contract.setdefault(item.contract_id, []).append(item)
    groups: dict[tuple[str, ...], list[str]] = {}
    for cid in ids:
        header = claimed.get(cid)
        if header is None or cid not in by_contract:
            continue
        key = (
            ("consolidated", header.customer_id, header.legal_entity, header.currency, header.payment_terms)
            if header.consolidate
            else ("contract", cid)
        )
        groups.setdefault(key, []).append(cid)
    now = ctx.clock()
    drafts: list[_Draft] = []
    buyers: dict[str, Customer] = {}
    unreachable: dict[str, TaxUndetermined] = {}
    memo = result.tax_memo
    for members in groups.values():
        headers = [claimed[cid] for cid in members]
        items = [item for cid in members for item in by_contract[cid]]
        try:
            invoice = _build(uow, ctx, headers, items, buyers, unreachable, memo)
        except (InvoiceError, TaxError, TaxUndetermined, ValueError) as exc:
            result.failures.append((", ".join(members), str(exc)))
            log.warning("billing run of %s: contract(s) %s not drafted: %s", on, ", ".join(members), exc)
            continue
        drafts.append(_Draft(headers, items, invoice, to_json_bytes_sharing(invoice, ("seller",))))
    if drafts:
        _write(uow, repo, drafts, now, actor, worker_id, on, result)
    return False, ids[-1], full


def _build(
    uow: UnitOfWork,
    ctx: AppContext,
    headers: Sequence[ContractHeader],
    items: Sequence[ItemRow],
    buyers: dict[str, Customer],
    unreachable: dict[str, TaxUndetermined],
    memo: dict[tuple[object, ...], TaxDecision],
) -> Invoice:
    first = headers[0]
    config = ctx.config
    seller = config.entities.get(first.legal_entity)
    if seller is None:
        raise InvoiceError(f"contract {first.contract_id}: legal_entity {first.legal_entity!r} is not configured")
    buyer = buyers.get(first.contract_id)
    if buyer is None:
        buyer = buyers[first.contract_id] = buyer_of(first)
    pos = {h.po_number for h in headers}

    def build(charges: list[ContractCharge]) -> Invoice:
        invoice = draft_for_charges(
            charges,
            buyer,
            seller,
            config.vat_rates,
            config.model.payment_terms,
            currency=first.currency,
            payment_terms=first.payment_terms,
            po_number=first.po_number if len(pos) == 1 else "",
            memo=memo,
        )
        try:
            return complete(invoice, config.vat_rates, config.tax_policy)
        except TaxInputsNeeded as needed:
            inputs = taxation.draft_inputs(uow, ctx, needed, unreachable)
            return complete(invoice, config.vat_rates, config.tax_policy, inputs)

    # an invoice (a change order's credits as negative-quantity lines), or, when the group nets
    # below zero, a credit note correcting the invoice that billed the credited periods
    charges = [_charge(item) for item in items]
    if charges_total(charges) < ZERO and _delivery_credits(items):
        return _delivery_credit_note(uow, items, charges, build)
    return credit_documents(uow, items, charges, build)


def _corrected_prefix(item: ItemRow) -> str:
    """The period keys a delivery adjustment corrects ("time-adjust:2027-01:4": the month's time
    items, "time:2027-01:"), or "" for any other item."""
    kind, adjust, rest = item.period_key.partition(DELIVERY_ADJUST)
    if not adjust or item.trigger not in DETAILED_TRIGGERS:
        return ""
    month = rest.rpartition(":")[0] or rest
    return f"{kind}:{month}:"


def _delivery_credits(items: Sequence[ItemRow]) -> list[tuple[str, str, str]]:
    """(contract, line, corrected period prefix) of the group's negative delivery adjustments, when
    no change-order adjustment credits anything in it (those are `credit_documents`' to correct)."""
    if any(item.period_key.startswith(ADJUST_PREFIX) and item.amount < ZERO for item in items):
        return []
    found = [(item.contract_id, item.line_key, _corrected_prefix(item)) for item in items if item.amount < ZERO]
    return list(dict.fromkeys(key for key in found if key[2]))


def _delivery_credit_note(
    uow: UnitOfWork,
    items: Sequence[ItemRow],
    charges: Sequence[ContractCharge],
    build: Callable[[list[ContractCharge]], Invoice],
) -> Invoice:
    """A group of delivery items netting below zero (hours taken back after invoicing, no new work
    to net them against): a credit-note draft of its lines, signs turned, correcting the newest
    issued invoice that billed the corrected month of the line (BT-25, BT-26). InvoiceError (the
    run reports it; the items stay planned) when that invoice is not issued yet or not found."""
    repo = uow.repository(ContractRepository)
    credited = _delivery_credits(items)
    found = [
        billed
        for contract_id, line_key, prefix in credited
        for billed in repo.billed_with_prefix(contract_id, line_key, prefix)
        if billed.kind == InvoiceKind.INVOICE.value
    ]
    issued = sorted(
        (b for b in found if b.status == DocumentStatus.ISSUED.value and b.number),
        key=lambda b: b.invoice_id,
        reverse=True,
    )
    if not issued:
        what = "not issued yet" if found else "not found"
        periods = ", ".join(f"{line} {prefix}*" for _, line, prefix in credited)
        raise InvoiceError(
            f"contract {items[0].contract_id}: a credit of {-charges_total(charges)} corrects the invoice that "
            f"billed {periods}, which is {what}: issue it first, the next run drafts the credit note"
        )
    target = issued[0]
    invoice = build([_net_charge(c, -1) for c in charges])
    return replace(
        invoice,
        kind=InvoiceKind.CREDIT_NOTE,
        corrects=target.number,
        corrects_issue_date=target.issue_date,
        notes=(*invoice.notes, f"Credit note for invoice {target.number}: delivery adjustment"),
    )


def _write(
    uow: UnitOfWork,
    repo: ContractRepository,
    drafts: Sequence[_Draft],
    now: datetime,
    actor: str,
    worker_id: str,
    on: date,
    result: BillingResult,
) -> None:
    ids = repo.invoice_ids(len(drafts))
    orders = repo.orders_of({h.contract_id for d in drafts for h in d.contracts})
    tasks = repo.invoice_tasks(orders.values())
    invoices: list[dict[str, Any]] = []
    links: list[dict[str, int]] = []
    billed: list[dict[str, Any]] = []
    item_updates: list[dict[str, Any]] = []
    reopened: dict[int, dict[str, Any]] = {}
    wanted_tasks: list[int] = []
    for invoice_id, draft in zip(ids, drafts, strict=True):
        inv, key = draft.invoice, f"billing:{invoice_id}"
        invoices.append(
            {
                "id": invoice_id,
                "draft_key": key,
                "kind": inv.kind.value,
                "status": DocumentStatus.DRAFT.value,
                "payment_state": PaymentState.UNPAID.value,
                "legal_entity": draft.contracts[0].legal_entity,
                "customer_id": inv.buyer.customer_id,
                "customer_name": inv.buyer.legal_name,
                "currency": inv.currency,
                "net_amount": inv.totals.tax_exclusive,
                "tax_amount": inv.totals.tax,
                "gross_amount": inv.totals.tax_inclusive,
                "paid_amount": ZERO,
                "document": orjson.Fragment(draft.document),  # written as is, not serialised again
                "created_at": now,
                "number": None,
                "issue_date": None,
                "due_date": None,
                "payment_reference": None,
                "issued_at": None,
            }
        )
        for header in draft.contracts:
            order_id = orders.get(header.contract_id)
            if order_id is None:
                continue
            links.append({"invoice_id": invoice_id, "order_id": order_id})
            task = tasks.get(order_id)
            if task is None:
                wanted_tasks.append(order_id)
                tasks[order_id] = (0, "open")  # once per order in the chunk
            elif task[1] != "open":
                reopened[task[0]] = {"_id": task[0], "status": "open", "done_at": None, "note": TASK_NOTE}
                tasks[order_id] = (task[0], "open")
        for item in draft.items:
            billed.append(
                {
                    "contract_id": item.contract_id,
                    "line_key": item.line_key,
                    "period_key": item.period_key,
                    "invoice_id": invoice_id,
                    "billed_at": now,
                }
            )
            item_updates.append({"_id": item.id, "status": BILLED, "invoice_id": invoice_id})
        uow.audit(
            at=now,
            actor=actor,
            action="contract.billed",
            entity_type="invoice",
            entity_id=key,
            reason=f"billing run of {on.isoformat()} ({worker_id}): {len(draft.items)} due item(s) drafted",
            after={
                "invoice_id": invoice_id,
                "contracts": [h.contract_id for h in draft.contracts],
                "items": [[i.contract_id, i.line_key, i.period_key] for i in draft.items],
                "currency": inv.currency,
                "net": inv.totals.tax_exclusive,
                "gross": inv.totals.tax_inclusive,
            },
        )
    new_tasks: list[dict[str, Any]] = []
    if wanted_tasks:
        task_ids = repo.task_ids(len(wanted_tasks))
        deals = {order_id: deal_id for deal_id, order_id in orders.items()}
        new_tasks = [
            {
                "id": task_id,
                "order_id": order_id,
                "deal_id": deal_id,
                "kind": "issue_invoice",
                "status": "open",
                "assignee": None,
                "note": TASK_NOTE,
                "created_at": now,
                "done_at": None,
            }
            for task_id, order_id, deal_id in zip(task_ids, wanted_tasks, [deals[o] for o in wanted_tasks], strict=True)
        ]
    repo.write_drafts(invoices, links, new_tasks, list(reopened.values()), billed, item_updates)
    result.drafts += len(drafts)
    result.items += len(billed)
    result.invoice_ids.extend(ids)
