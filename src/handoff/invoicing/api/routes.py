"""API: finance tasks and invoices (issue, documents, the billing contact after issue)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from handoff.invoicing.api.schemas import BillingContactIn, DocumentFormat, InvoiceDetail, InvoicePage, TaskPage
from handoff.invoicing.documents import MEDIA_TYPES, DocumentError, render
from handoff.invoicing.service import contacts
from handoff.invoicing.service import queries as invoice_queries
from handoff.invoicing.service.contacts import ContactError
from handoff.invoicing.service.issuing import InvoicingError, issue_draft
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx, Filter, InvoiceId, Limit, Offset
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import page_out, plain

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
READERS = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
WRITERS = (Role.FINANCE, Role.ADMIN)
SUFFIX = {"ubl": "xml", "cii": "cii.xml", "pdf": "pdf", "facturx": "facturx.pdf"}


@router.get("/tasks", response_model=TaskPage, tags=["finance tasks"])
def list_tasks(
    ctx: Ctx,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Query(pattern="^(open|done|cancelled)$")] = "open",
    kind: Annotated[str | None, Query(pattern="^(issue_invoice|review_amendment)$")] = None,
    user: User = api_user(*READERS),
) -> Any:
    """Finance tasks (open by default), newest first, with the invoice draft to review."""
    return page_out(invoice_queries.list_tasks(ctx, status=status, kind=kind, limit=limit, offset=offset))


@router.get("/invoices", response_model=InvoicePage, tags=["invoices"])
def list_invoices(
    ctx: Ctx,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Query(pattern="^(draft|issued|void)$")] = None,
    payment_state: Annotated[str | None, Query(pattern="^(unpaid|partial|paid|credited)$")] = None,
    customer: Filter = None,
    overdue: bool | None = None,
    user: User = api_user(*READERS),
) -> Any:
    """Invoices, newest first: document status and payment state are separate (`credited`: nothing
    open, credit took part); `open_amount` is gross - paid - credited; `overdue` is derived."""
    return page_out(
        invoice_queries.list_invoices(
            ctx,
            status=status,
            payment_state=payment_state,
            customer=customer,
            overdue=overdue,
            limit=limit,
            offset=offset,
        )
    )


def _detail(ctx: Ctx, invoice_id: int) -> Any:
    detail = invoice_queries.invoice_detail(ctx, invoice_id)
    if detail is None:
        raise ApiError(404, "not_found", f"no invoice {invoice_id}", "invoice_id")
    return plain(detail)


@router.get("/invoices/{invoice_id}", response_model=InvoiceDetail, tags=["invoices"])
def get_invoice(ctx: Ctx, invoice_id: InvoiceId, user: User = api_user(*READERS)) -> Any:
    return _detail(ctx, invoice_id)


@router.post("/invoices/{invoice_id}/issue", response_model=InvoiceDetail, tags=["invoices"])
def issue_invoice(ctx: Ctx, invoice_id: InvoiceId, user: User = api_user(*WRITERS)) -> Any:
    """Issue a draft: gapless number, dates, payment reference; it is sent to the customer."""
    if invoice_queries.invoice_document(ctx, invoice_id) is None:
        raise ApiError(404, "not_found", f"no invoice {invoice_id}", "invoice_id")
    try:
        issue_draft(ctx, invoice_id, user.actor)
    except InvoicingError as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    return _detail(ctx, invoice_id)


@router.put("/invoices/{invoice_id}/billing-contact", response_model=InvoiceDetail, tags=["invoices"])
def change_billing_contact(
    ctx: Ctx, invoice_id: InvoiceId, body: BillingContactIn, user: User = api_user(*WRITERS)
) -> Any:
    """Change an issued invoice's billing contact, saying why (audited, before and after): its
    reminders, and the invoice sent again (`resend`), go to the new contact; the issued document
    stays as it was issued."""
    try:
        contacts.change_billing_contact(
            ctx,
            invoice_id,
            email=body.billing_email,
            name=body.billing_contact_name,
            reason=body.reason,
            actor=user.actor,
            resend=body.resend,
        )
    except ContactError as exc:
        status, code = {"not_found": (404, "not_found"), "invalid": (422, "invalid_request")}.get(
            exc.code, (409, "conflict")
        )
        raise ApiError(status, code, str(exc), "invoice_id" if exc.code == "not_found" else exc.field) from exc
    return _detail(ctx, invoice_id)


@router.get(
    "/invoices/{invoice_id}/document",
    tags=["invoices"],
    response_class=Response,
    responses={
        200: {
            "description": "the document",
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "application/xml": {"schema": {"type": "string"}},
            },
        }
    },
)
def invoice_document(
    ctx: Ctx,
    invoice_id: InvoiceId,
    format: DocumentFormat = "pdf",
    download: bool = False,
    user: User = api_user(*READERS),
) -> Response:
    """The invoice as UBL (Peppol BIS 3), CII, PDF or Factur-X. XML needs an issued invoice; the PDF
    of a draft is marked DRAFT (a preview)."""
    invoice = invoice_queries.invoice_document(ctx, invoice_id)
    if invoice is None:
        raise ApiError(404, "not_found", f"no invoice {invoice_id}", "invoice_id")
    try:
        data = render(invoice, format)
    except DocumentError as exc:
        raise ApiError(409, "conflict", str(exc), "format") from exc
    name = f"{invoice.number or f'draft-{invoice_id}'}.{SUFFIX[format]}"
    disposition = "attachment" if download or format in ("ubl", "cii") else "inline"
    return Response(
        data, media_type=MEDIA_TYPES[format], headers={"Content-Disposition": f'{disposition}; filename="{name}"'}
    )
