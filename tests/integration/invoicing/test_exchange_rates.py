"""ECB reference rates stored by day (SQLite and PostgreSQL): import, the same file again changes
nothing, a conflicting rate is refused with nothing written (or replaced on request, audited), and
issuing an invoice in another currency than its seller's takes the stored rate of its issue date."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.invoicing.formats.ecb import EcbFileError
from handoff.invoicing.service.exchange_rates import (
    RateConflict,
    fetch_rates,
    import_rates,
    rate_for,
    rates_in_force,
)
from handoff.invoicing.service.issuing import InvoicingError, issue_all_drafts
from handoff.kernel.delivery import DeliveryError
from handoff.kernel.storage import schema
from tests.builders import event, issued_invoices

FIXTURES = Path(__file__).parents[2] / "unit" / "invoicing" / "fixtures"
DAILY = FIXTURES / "eurofxref-daily.xml"
HIST = FIXTURES / "eurofxref-hist-3d.xml"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def counts(ctx: AppContext) -> tuple[int, int]:
    """(stored rates, audit entries)."""
    with ctx.engine.connect() as conn:
        rates = conn.execute(select(func.count()).select_from(schema.exchange_rates)).scalar_one()
        audits = conn.execute(select(func.count()).select_from(schema.audit_log)).scalar_one()
    return rates, audits


def stored(ctx: AppContext, currency: str, day: date) -> Decimal:
    x = schema.exchange_rates
    with ctx.engine.connect() as conn:
        return conn.execute(select(x.c.rate).where(x.c.currency == currency, x.c.rate_date == day)).scalar_one()


def test_import_then_the_same_files_again_change_nothing(ctx: AppContext) -> None:
    hist = import_rates(ctx, HIST, "finance@test")
    assert (hist.days, hist.first_day, hist.last_day, hist.added, hist.unchanged) == (
        3,
        date(2026, 10, 29),
        date(2026, 11, 2),
        15,
        0,
    )
    daily = import_rates(ctx, DAILY.read_bytes(), "finance@test", name="eurofxref-daily.xml")
    assert (daily.added, daily.replaced) == (30, 0)
    assert counts(ctx)[0] == 45
    assert stored(ctx, "GBP", date(2026, 11, 3)) == Decimal("0.87805")
    assert str(stored(ctx, "IDR", date(2026, 11, 3))) == "19281.64"  # exact on both engines
    before = counts(ctx)
    again = import_rates(ctx, HIST, "finance@test")
    assert (again.added, again.replaced, again.unchanged) == (0, 0, 15)
    assert import_rates(ctx, DAILY, "finance@test").unchanged == 30
    assert counts(ctx) == before  # no row and no audit entry more
    with ctx.engine.connect() as conn:
        entry = conn.execute(
            select(schema.audit_log.c.action, schema.audit_log.c.actor, schema.audit_log.c.entity_id).order_by(
                schema.audit_log.c.seq
            )
        ).first()
    assert entry is not None and tuple(entry) == (
        "exchange_rates.imported",
        "finance@test",
        "EUR:2026-10-29/2026-11-02",
    )


def test_rates_in_force_cross_through_eur_and_look_back_over_the_weekend(ctx: AppContext) -> None:
    import_rates(ctx, HIST, "finance@test")
    sunday = rate_for(ctx, "USD", "EUR", date(2026, 11, 1))
    assert sunday is not None and (sunday.rate_date, sunday.rate) == (date(2026, 10, 30), Decimal("0.8653513326"))
    gbp = rate_for(ctx, "USD", "GBP", date(2026, 11, 2))
    assert gbp is not None and gbp.rate == Decimal("0.7579296673")
    assert rate_for(ctx, "EUR", "USD", date(2026, 10, 28)) is None
    assert rate_for(ctx, "EUR", "USD", date(2026, 11, 10)) is None  # more than a week after the last day
    assert rate_for(ctx, "EUR", "CAD", date(2026, 11, 2)) is None  # not in the file
    shown = rates_in_force(ctx, date(2026, 11, 1))
    assert shown is not None and shown.day == date(2026, 10, 30) and shown.in_force
    assert [r.currency for r in shown.rates] == ["CHF", "GBP", "JPY", "SEK", "USD"]
    stale = rates_in_force(ctx, date(2026, 12, 1))
    assert stale is not None and stale.day == date(2026, 11, 2) and not stale.in_force


def changed_file(tmp_path: Path) -> Path:
    """The history file with another USD rate for 2026-11-02, and a new day 2026-11-03."""
    text = HIST.read_text().replace('rate="1.1602"', 'rate="1.1702"')
    text = text.replace(
        "<Cube>\n\t\t<Cube time=",
        '<Cube>\n\t\t<Cube time="2026-11-03"><Cube currency="USD" rate="1.1585"/></Cube>\n\t\t<Cube time=',
        1,
    )
    path = tmp_path / "eurofxref-hist-90d.xml"
    path.write_text(text)
    return path


def test_a_conflicting_rate_is_refused_with_nothing_written_unless_replacing(ctx: AppContext, tmp_path: Path) -> None:
    import_rates(ctx, HIST, "finance@test")
    before = counts(ctx)
    path = changed_file(tmp_path)
    with pytest.raises(RateConflict) as refused:
        import_rates(ctx, path, "finance@test")
    assert "USD on 2026-11-02: stored 1.1602, file 1.1702" in refused.value.message
    assert "--replace" in refused.value.message
    assert counts(ctx) == before  # not even the new day
    assert stored(ctx, "USD", date(2026, 11, 2)) == Decimal("1.1602")

    done = import_rates(ctx, path, "finance@test", replace=True)
    assert (done.added, done.replaced, done.unchanged) == (1, 1, 14)
    assert stored(ctx, "USD", date(2026, 11, 2)) == Decimal("1.1702")
    assert stored(ctx, "USD", date(2026, 11, 3)) == Decimal("1.1585")
    with ctx.engine.connect() as conn:
        audit = conn.execute(
            select(schema.audit_log.c.before, schema.audit_log.c.after).order_by(schema.audit_log.c.seq.desc())
        ).first()
    assert audit is not None and audit.before == {"USD 2026-11-02": "1.1602"}
    assert audit.after["replaced"] == {"USD 2026-11-02": "1.1702"}


def test_a_bad_file_stores_nothing(ctx: AppContext, tmp_path: Path) -> None:
    path = tmp_path / "eurofxref-hist.xml"
    path.write_text(HIST.read_text().replace('rate="176.90"', 'rate="17 6.90"'))
    with pytest.raises(EcbFileError, match=r"eurofxref-hist.xml: line \d+: <Cube> of 2026-10-29 for JPY: rate"):
        import_rates(ctx, path, "finance@test")
    assert counts(ctx) == (0, 0)


def test_issuing_a_usd_invoice_of_an_eur_seller_uses_the_stored_rate_of_its_issue_date(ctx: AppContext) -> None:
    import_rates(ctx, HIST, "finance@test")
    [monday] = issued_invoices(
        ctx, [event("fx1", T0, deal_id="FX-1", currency="USD", amount="1000.00")], on=date(2026, 11, 2)
    )
    assert (monday.currency, monday.totals.tax, monday.tax_currency) == ("USD", Decimal("190.00"), "EUR")
    # the ECB rate of 2026-11-02 (1 EUR = 1.1602 USD), not the configured 0.86
    assert (monday.exchange_rate, monday.tax_in_tax_currency) == (Decimal("0.8619203586"), Decimal("163.76"))
    [sunday] = issued_invoices(
        ctx, [event("fx2", T0, deal_id="FX-2", currency="USD", amount="1000.00")], on=date(2026, 11, 1)
    )
    assert (sunday.exchange_rate, sunday.tax_in_tax_currency) == (Decimal("0.8653513326"), Decimal("164.42"))


def test_without_an_ecb_rate_the_configured_one_serves_and_without_either_issuing_is_refused(
    ctx: AppContext,
) -> None:
    import_rates(ctx, HIST, "finance@test")
    # a month after the last ECB day: the configured USD rate, as before
    [usd] = issued_invoices(ctx, [event("u", T0, deal_id="U-1", currency="USD")], on=date(2026, 12, 2))
    assert usd.exchange_rate == Decimal("0.86")
    # JPY is configured nowhere; the ECB's rate of the day serves
    [jpy] = issued_invoices(ctx, [event("j", T0, deal_id="J-1", currency="JPY")], on=date(2026, 11, 2))
    assert jpy.exchange_rate == Decimal("0.005610098177")
    failures: list[tuple[int, str]] = []
    issued = issued_invoices(ctx, [event("j2", T0, deal_id="J-2", currency="JPY")], on=date(2026, 12, 2))
    assert issued == []
    issue_all_drafts(ctx, "finance@test", on=date(2026, 12, 2), failures=failures)
    [(draft_id, message)] = failures
    assert f"invoice {draft_id} is in JPY from a EUR seller" in message
    assert "no ECB rate JPY->EUR" in message and "handoff fx import" in message
    assert "configure exchange_rates.EUR.JPY" in message
    with pytest.raises(InvoicingError, match="handoff fx import"):
        from handoff.invoicing.service.issuing import issue_draft

        issue_draft(ctx, draft_id, "finance@test", on=date(2026, 12, 2))


@pytest.fixture
def ecb_server() -> Iterator[str]:
    """A real HTTP server on loopback standing in for the ECB: the daily file, 404 for anything else."""
    body = DAILY.read_bytes()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Accept", ""))
            found = self.path == "/stats/eurofxref/eurofxref-daily.xml"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/xml" if found else "text/plain")
            payload = body if found else b"not found"
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert all("xml" in accept for accept in seen)


def test_fetching_the_daily_file_over_http_imports_it_once(ctx: AppContext, ecb_server: str) -> None:
    url = f"{ecb_server}/stats/eurofxref/eurofxref-daily.xml"
    done = fetch_rates(ctx, "automation:ecb", url)
    assert (done.source, done.first_day, done.added) == ("eurofxref-daily.xml", date(2026, 11, 3), 30)
    assert fetch_rates(ctx, "automation:ecb", url).unchanged == 30
    assert counts(ctx) == (30, 1)
    x = schema.exchange_rates
    with ctx.engine.connect() as conn:
        assert set(conn.execute(select(x.c.source).distinct()).scalars()) == {"ecb:eurofxref-daily.xml"}


def test_a_file_that_cannot_be_fetched_stores_nothing(ctx: AppContext, ecb_server: str) -> None:
    with pytest.raises(DeliveryError, match="HTTP 404") as refused:
        fetch_rates(ctx, "automation:ecb", f"{ecb_server}/stats/eurofxref/missing.xml")
    assert refused.value.permanent
    assert counts(ctx) == (0, 0)
