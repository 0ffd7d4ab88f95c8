"""Invoice and payment status written back to the deal in each CRM (`connectors.crm_writeback`).

`invoice_changed` runs inside the transaction of every change to what sales should see (an invoice
issued, a payment or credit applied, a reminder sent, a dispute set or cleared) and queues, for
each configured CRM and each of the invoice's deals that CRM knows, one outbox notice (channel =
the CRM, topic `crm_status`) with the whole status (`deals.domain.crm_status`): invoice number,
payment state (overdue included), open amount, days past due, dispute, reminder level. The open
amount is invoicing's ledger's (gross - paid - credited). A notice is queued only when the status
differs from the last one queued for that deal (`crm_status` table, row-locked meanwhile), so the
same state reached twice (a job run again, a dispute set twice) is sent once; its outbox key
carries the deal's notice number, so retries deliver it once. Which property or field each fact
goes to is each CRM's configuration (`status` in its mapping file), applied by its channel.

A deal is known to a CRM when it came from it (the order's source) or carries that CRM's id in its
data (`hubspot_deal_id`, `pipedrive_deal_id`, `salesforce_opportunity_id`, as the mappings set them).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from handoff.context import AppContext
from handoff.deals.domain.crm_status import invoice_status
from handoff.deals.repository.crm_status import BilledDeal, CrmStatusRepository
from handoff.invoicing.domain.invoices import DocumentStatus, InvoiceKind
from handoff.invoicing.service import ledger
from handoff.kernel.storage.unit_of_work import Notice, UnitOfWork

TOPIC = "crm_status"
# Where a deal from elsewhere (a file, the generic webhook) keeps its id in each CRM.
CRM_ID_FIELDS = {
    "hubspot": "hubspot_deal_id",
    "pipedrive": "pipedrive_deal_id",
    "salesforce": "salesforce_opportunity_id",
}


def crm_deal_id(target: str, deal: BilledDeal) -> str:
    """The deal's id in CRM `target`, "" when that CRM does not know it."""
    if deal.source == target:
        return deal.deal_id
    return str(deal.data.get(CRM_ID_FIELDS.get(target, f"{target}_deal_id")) or "").strip()


def _key(target: str, crm_id: str, version: int) -> str:
    key = f"{target}:status:{crm_id}:{version}"
    return key if len(key) <= 120 else f"{target}:status:{hashlib.sha256(key.encode()).hexdigest()}:{version}"


def invoice_changed(uow: UnitOfWork, ctx: AppContext, invoice: str | int, at: datetime) -> int:
    """Queue the status of `invoice` (number or id) for the CRMs of its deals where it changed;
    how many notices were queued. Credit notes and drafts have no status of their own here."""
    targets = ctx.config.model.connectors.crm_writeback
    if not targets:
        return 0
    invoice_id = ledger.invoice_id_by_number(uow, invoice) if isinstance(invoice, str) else invoice
    summary = ledger.invoice_summary(uow, invoice_id) if invoice_id is not None else None
    if summary is None or summary.kind is not InvoiceKind.INVOICE or summary.status is not DocumentStatus.ISSUED:
        return 0
    repo = uow.repository(CrmStatusRepository)
    deals = repo.billed_deals(summary.id)
    disputed, level = repo.dunning_facts(summary.id)
    status = invoice_status(
        number=summary.number or "",
        document_status=summary.status.value,
        payment_state=summary.payment_state.value,
        gross=summary.gross_amount,
        paid=summary.paid_amount,
        credited=summary.credited_amount,
        open_amount=summary.open_amount,
        currency=summary.currency,
        due_date=summary.due_date,
        today=at.date(),
        disputed=disputed,
        reminder_level=level,
    )
    digest, facts = status.digest(), status.facts()
    queued = 0
    for target in targets:
        for crm_id in sorted({crm_deal_id(target, d) for d in deals} - {""}):
            last = repo.last(target, crm_id, at)
            if last.digest == digest:
                continue
            version = last.version + 1
            repo.record(target, crm_id, version, digest, status.invoice_number, facts, at)
            payload = {"deal_id": crm_id, "as_of": at.isoformat(), "version": version, "facts": facts}
            uow.notify(Notice(_key(target, crm_id, version), target, TOPIC, payload), at)
            queued += 1
    return queued
