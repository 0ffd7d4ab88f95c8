"""A discounted deal's invoice over HTTP: the API's invoice detail gives each line's discount, the
sum of the lines and the document discounts that take it to the net; the invoice page shows them."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.intake import ingest
from handoff.kernel.storage import schema
from handoff.users.service import Role
from tests.builders import deal_with_lines, line
from tests.e2e.conftest import T0, Site, login


def test_the_invoice_detail_and_page_show_the_discounts(site: Site) -> None:
    deal = deal_with_lines([line(discount="10%"), line(), line()], deal_id="D-9", discount="500.00", amount="11100.00")
    ingest(site.ctx, [DealEvent("crm", "disc-1", T0, deal)])
    i, io, o = schema.invoices, schema.invoice_orders, schema.orders
    with site.ctx.engine.connect() as conn:
        invoice_id = conn.execute(
            select(i.c.id)
            .join(io, io.c.invoice_id == i.c.id)
            .join(o, o.c.id == io.c.order_id)
            .where(o.c.deal_id == "D-9")
        ).scalar_one()
    with site.client(Role.FINANCE) as api:
        detail = api.get(f"/api/v1/invoices/{invoice_id}").json()
    assert [(ln["net_amount"], ln["discount_amount"]) for ln in detail["lines"]] == [
        ("3600.00", "400.00"),
        ("4000.00", "0"),
        ("4000.00", "0"),
    ]
    assert detail["line_total"] == "11600.00"
    assert [(d["reason"], d["vat_category"], d["amount"]) for d in detail["discounts"]] == [("Discount", "S", "500.00")]
    assert Decimal(detail["net_amount"]) == Decimal("11100.00")
    with login(site, Role.FINANCE) as browser:
        page = browser.get(f"/invoices/{invoice_id}").text
    assert "less discount 400.00" in page and "Sum of lines" in page and "-500.00" in page
