"""The invoicing commands (`handoff invoice ...`): listing invoices, issuing drafts and writing e-invoice documents.

Mounted on the root app by `handoff.cli`, which passes in how a command gets its AppContext.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from handoff.kernel.cli_support import DbOption, fail, out

if TYPE_CHECKING:
    from handoff.context import AppContext


def register(app: typer.Typer, context: Callable[[str | None], AppContext]) -> None:
    invoice = typer.Typer(help="Invoices.", no_args_is_help=True)
    app.add_typer(invoice, name="invoice")

    @invoice.command("list")
    def invoice_list(db: DbOption = None, status: Optional[str] = None) -> None:
        """Invoices with their document status and payment state."""
        from handoff.invoicing.service.issuing import invoice_rows

        table = Table("number", "status", "payment", "customer", "amount", "paid", "due")
        for r in invoice_rows(context(db), status):
            table.add_row(
                r["number"] or f"(draft {r['id']})",
                r["status"],
                r["payment_state"],
                r["customer_name"],
                f"{r['gross_amount']:,.2f} {r['currency']}",
                f"{r['paid_amount']:,.2f}",
                str(r["due_date"] or ""),
            )
        out.print(table)

    @invoice.command("issue")
    def invoice_issue(
        db: DbOption = None,
        draft_id: Annotated[Optional[int], typer.Option("--id")] = None,
        all_drafts: Annotated[bool, typer.Option("--all")] = False,
        actor: str = "finance@cli",
    ) -> None:
        """Issue one draft (--id) or every draft (--all): numbered, dated, sent."""
        from handoff.invoicing.service.issuing import InvoicingError, issue_all_drafts, issue_draft

        ctx = context(db)
        try:
            if all_drafts:
                issued = issue_all_drafts(ctx, actor)
            elif draft_id is not None:
                issued = [issue_draft(ctx, draft_id, actor)]
            else:
                fail("give --id DRAFT or --all")
        except InvoicingError as exc:
            fail(str(exc))
        for inv in issued[:20]:
            out.print(
                f"{inv.number}: {inv.totals.payable:,.2f} {inv.currency} to {inv.buyer.legal_name}, due {inv.due_date}"
            )
        out.print(f"{len(issued)} invoices issued")

    @invoice.command("render")
    def invoice_render(
        number: str,
        db: DbOption = None,
        fmt: Annotated[str, typer.Option("--format", help="ubl, cii, pdf or facturx")] = "pdf",
        output: Annotated[Optional[Path], typer.Option("--output", "-o")] = None,
    ) -> None:
        """Write an issued invoice as a document: UBL (Peppol BIS 3), CII, PDF or Factur-X."""
        from handoff.invoicing.documents import FORMATS, DocumentError, render
        from handoff.invoicing.service.issuing import InvoicingError, load_invoice

        if fmt.lower() not in FORMATS:
            fail(f"--format must be one of {', '.join(FORMATS)}")
        try:
            data = render(load_invoice(context(db), number), fmt)
        except (InvoicingError, DocumentError) as exc:
            fail(str(exc))
        suffix = {"ubl": "xml", "cii": "cii.xml", "pdf": "pdf", "facturx": "facturx.pdf"}[fmt.lower()]
        target = output or Path(f"{number}.{suffix}")
        target.write_bytes(data)
        out.print(f"{number}: {fmt} written to {target} ({len(data):,} bytes)")
