"""Issuing (gapless numbers per entity) and applying payments (partial, full, re-import, bad rows)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from handoff.cash.formats.payment_file import PaymentFileError, read_payment_file
from handoff.cash.service.payments import apply_payments
from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.invoicing.service.issuing import InvoicingError, issue_all_drafts, issue_draft
from handoff.kernel.storage import schema
from handoff.reporting.service.digest import build, render_html, render_text
from tests.builders import OREGON, event, issued_invoices, owner_user
from tests.conftest import Clock

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def seed(ctx: AppContext, n_de: int = 3, n_us: int = 2) -> list:  # type: ignore[type-arg]
    events = [event(f"de{i}", T0, deal_id=f"DE-{i}") for i in range(n_de)]
    events += [
        event(
            f"us{i}", T0, deal_id=f"US-{i}", country="US", vat_id="", legal_entity="ACME-US", currency="USD", **OREGON
        )
        for i in range(n_us)
    ]
    return issued_invoices(ctx, events, on=date(2026, 11, 2))


def test_numbers_are_gapless_per_entity(ctx: AppContext) -> None:
    issued = seed(ctx)
    assert sorted(i.number for i in issued) == [
        "INV-DE-2026-000001",
        "INV-DE-2026-000002",
        "INV-DE-2026-000003",
        "INV-US-2026-000001",
        "INV-US-2026-000002",
    ]
    de = next(i for i in issued if i.number == "INV-DE-2026-000001")
    assert de.due_date == date(2026, 12, 2) and de.payment_reference.startswith("RF")
    assert de.totals.payable == Decimal("14280.00")
    with ctx.engine.connect() as conn:
        draft_id = conn.execute(select(schema.invoices.c.id).limit(1)).scalar_one()
    with pytest.raises(InvoicingError, match="only a draft can be issued"):
        issue_draft(ctx, draft_id, "finance@test")


def write(tmp: Path, rows: list[str]) -> Path:
    path = tmp / "payments.csv"
    path.write_text("invoice_number,amount,date\n" + "\n".join(rows) + "\n")
    return path


def test_partial_then_full_payment_and_reimport_is_a_no_op(ctx: AppContext, tmp_path: Path) -> None:
    seed(ctx, 1, 0)
    n = "INV-DE-2026-000001"
    first = write(tmp_path, [f"{n},4000.00,2026-11-10"])
    report = apply_payments(ctx, read_payment_file(first), "bank", "import")
    assert report.states == {n: "partial"}
    again = apply_payments(ctx, read_payment_file(first), "bank", "import")
    assert (again.applied, again.duplicates) == (0, 1)
    rest = tmp_path / "rest.csv"
    rest.write_text(f"invoice_number,amount,date\n{n},10280.00,2026-11-20\n")
    assert apply_payments(ctx, read_payment_file(rest), "bank", "import").states == {n: "paid"}
    with ctx.engine.connect() as conn:
        inv = conn.execute(select(schema.invoices)).one()
        order_state = conn.execute(select(schema.orders.c.state)).scalar_one()
    assert (inv.paid_amount, inv.payment_state, order_state) == (Decimal("14280.00"), "paid", "paid")


def test_bad_payment_file_names_lines_and_writes_nothing(ctx: AppContext, tmp_path: Path) -> None:
    seed(ctx, 1, 0)
    bad = write(tmp_path, ["INV-DE-2026-000001,abc,2026-11-10", "INV-DE-2026-000001,10,11/10/2026"])
    with pytest.raises(PaymentFileError) as exc:
        read_payment_file(bad)
    assert "line 2: amount 'abc'" in str(exc.value) and "line 3: date '11/10/2026'" in str(exc.value)
    unknown = write(tmp_path, ["INV-DE-2026-000001,10.00,2026-11-10", "INV-XX-1,5.00,2026-11-10"])
    with pytest.raises(PaymentFileError, match="line 3: invoice_number 'INV-XX-1' is not an issued invoice"):
        apply_payments(ctx, read_payment_file(unknown), "bank", "import")
    with ctx.engine.connect() as conn:
        assert conn.execute(select(schema.payments)).all() == []


def test_digest_shows_exceptions_by_owner_and_overdue(ctx: AppContext, clock: Clock) -> None:
    seed(ctx, 2, 0)
    owner_user(ctx, "ben@acme.example")
    owner_user(ctx, "cleo@acme.example")
    ingest(
        ctx,
        [
            event("b1", T0, deal_id="B-1", po_number="", owner_email="ben@acme.example"),
            event("b2", T0, deal_id="B-2", billing_email="", owner_email="ben@acme.example"),
            event("c1", T0, deal_id="C-1", vat_id="", owner_email="cleo@acme.example"),
        ],
    )
    clock.advance(days=40)
    d = build(ctx)
    assert [(o.owner, len(o.items)) for o in d.by_owner] == [("ben@acme.example", 2), ("cleo@acme.example", 1)]
    assert d.ages["over 30 days"] == 3
    assert d.states == {"blocked": 3, "sent": 2}
    assert len(d.overdue) == 2 and d.overdue_total == {"EUR": Decimal("28560.00")}
    text = render_text(d)
    assert "ben@acme.example — 2 open" in text and "po_number is missing" in text
    assert "28,560.00 EUR" in text
    html = render_html(d)
    assert "<h3>ben@acme.example" in html and "INV-DE-2026-000001" in html


def test_foreign_currency_invoice_states_vat_in_seller_currency(ctx: AppContext) -> None:
    ingest(ctx, [event("fx", T0, deal_id="FX-1", currency="USD", amount="1000.00")])
    [issued] = issue_all_drafts(ctx, "finance@test", on=date(2026, 11, 2))
    assert issued.currency == "USD" and issued.totals.tax == Decimal("190.00")
    assert (issued.tax_currency, issued.exchange_rate, issued.tax_in_tax_currency) == (
        "EUR",
        Decimal("0.86"),
        Decimal("163.40"),
    )


def test_a_draft_that_cannot_be_issued_stays_a_draft_and_others_go_out(ctx: AppContext) -> None:
    ingest(ctx, [event("ok", T0, deal_id="OK-1"), event("jpy", T0, deal_id="JPY-1", currency="JPY")])
    failures: list[tuple[int, str]] = []
    issued = issue_all_drafts(ctx, "finance@test", failures=failures)
    assert [i.order_refs for i in issued] == [("OK-1",)]
    assert len(failures) == 1 and "configure exchange_rates.EUR.JPY" in failures[0][1]
    with ctx.engine.connect() as conn:
        assert (
            conn.execute(select(schema.invoices.c.status).where(schema.invoices.c.id == failures[0][0])).scalar_one()
            == "draft"
        )
