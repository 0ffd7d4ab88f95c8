"""The `fx_rates` worker job (SQLite and PostgreSQL): off unless the business configuration names an
`exchange_rates_feed`; when it does, the workers fetch the ECB file from it once a day, over real
HTTP (a loopback server stands in for the ECB), and import it; a feed that fails is logged, stores
nothing and does not stop the worker's pass, and the next day's run imports."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from handoff.config import ExchangeRatesFeedModel
from handoff.context import AppContext
from handoff.invoicing.service.exchange_rates import rate_for
from handoff.kernel.storage import schema
from handoff.notifications.channels.log import LogChannel
from handoff.worker.loop import DEFAULT_JOBS, configured_jobs, one_pass
from tests.conftest import Clock

DAILY = Path(__file__).parents[2] / "unit" / "invoicing" / "fixtures" / "eurofxref-daily.xml"
PATH = "/stats/eurofxref/eurofxref-daily.xml"


@dataclass
class Feed:
    """The loopback ECB: `url` serves what `mode` says (`ok`: the daily file; `missing`: 404;
    `garbage`: 200 with a body that is no ECB file); `hits` counts the requests."""

    url: str
    mode: str = "ok"
    hits: int = 0


@pytest.fixture
def feed() -> Iterator[Feed]:
    body = DAILY.read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = Feed(f"http://127.0.0.1:{server.server_address[1]}{PATH}")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            status, payload = 200, body
            if state.mode == "missing" or self.path != PATH:
                status, payload = 404, b"not found"
            elif state.mode == "garbage":
                payload = b"<html>maintenance</html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def with_feed(ctx: AppContext, url: str) -> AppContext:
    model = ctx.config.model.model_copy(update={"exchange_rates_feed": ExchangeRatesFeedModel(url=url)})
    return replace(ctx, config=replace(ctx.config, model=model))


def stored(ctx: AppContext) -> tuple[int, list[str]]:
    """(stored rates, the actors of the rates' audit entries)."""
    with ctx.engine.connect() as conn:
        rates = conn.execute(select(func.count()).select_from(schema.exchange_rates)).scalar_one()
        a = schema.audit_log
        actors = conn.execute(select(a.c.actor).where(a.c.action == "exchange_rates.imported")).scalars()
        return rates, list(actors)


def fx_pass(ctx: AppContext, tmp_path: Path, worker: str) -> list[tuple[str, str]]:
    """One worker pass with the configured jobs only; the (job, period) runs it made."""
    channel = LogChannel(tmp_path / "notices.log")
    return one_pass(ctx, {"email": channel, "log": channel}, worker, configured_jobs(ctx)).jobs


def test_without_a_feed_there_is_no_fx_job(ctx: AppContext) -> None:
    assert ctx.config.model.exchange_rates_feed is None  # the default configuration reaches nowhere
    assert configured_jobs(ctx) == []
    assert "fx_rates" not in [job.name for job in DEFAULT_JOBS]


def test_the_workers_fetch_and_import_the_feed_once_a_day(
    ctx: AppContext, clock: Clock, feed: Feed, tmp_path: Path
) -> None:
    fx = with_feed(ctx, feed.url)
    assert [job.name for job in configured_jobs(fx)] == ["fx_rates"]
    assert fx_pass(fx, tmp_path, "w1") == [("fx_rates", "2026-11-02")]
    assert stored(fx) == (30, ["automation:fx_rates"])
    assert rate_for(fx, "EUR", "USD", date(2026, 11, 3)) is not None  # issuing finds it
    assert fx_pass(fx, tmp_path, "w2") == []  # another worker, the same day: not fetched again
    assert feed.hits == 1
    clock.advance(days=1)
    assert fx_pass(fx, tmp_path, "w2") == [("fx_rates", "2026-11-03")]
    assert feed.hits == 2 and stored(fx) == (30, ["automation:fx_rates"])  # the same file: nothing new, no audit


@pytest.mark.parametrize("mode", ["missing", "garbage"])
def test_a_failing_feed_is_logged_stores_nothing_and_is_retried_the_next_day(
    ctx: AppContext, clock: Clock, feed: Feed, tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    fx = with_feed(ctx, feed.url)
    feed.mode = mode
    with caplog.at_level(logging.ERROR, logger="handoff.worker"):
        assert fx_pass(fx, tmp_path, "w1") == [("fx_rates", "2026-11-02")]  # the pass goes on
    [message] = [r.getMessage() for r in caplog.records if r.name == "handoff.worker"]
    assert "ECB rates not imported" in message and feed.url in message
    assert stored(fx) == (0, [])
    assert fx_pass(fx, tmp_path, "w1") == []  # not hammered again the same day
    feed.mode = "ok"
    clock.advance(days=1)
    assert fx_pass(fx, tmp_path, "w1") == [("fx_rates", "2026-11-03")]
    assert stored(fx) == (30, ["automation:fx_rates"])


@pytest.mark.parametrize("url", ["ftp://ecb.example/daily.xml", "www.ecb.europa.eu/daily.xml", "https:// x", ""])
def test_a_feed_url_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError, match="url"):
        ExchangeRatesFeedModel(url=url)
