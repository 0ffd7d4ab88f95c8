"""Xero: every request handoff sends is checked against Xero's published OpenAPI description,
and under faults (500, 429 + Retry-After, timeouts, dropped connections, before or after Xero did
the work) the outbox ends with each invoice in Xero exactly once."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from handoff.accounting.connectors.xero import XeroChannel
from handoff.cash.formats.payment_file import PaymentRow
from handoff.cash.service.payments import apply_payments
from handoff.config import ConnectorsModel
from handoff.context import AppContext
from handoff.kernel.connectors.http import HttpSender, RetryPolicy, make_client
from handoff.kernel.connectors.oauth import OAuth2
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.delivery import DeliveryError
from handoff.kernel.storage import schema
from handoff.kernel.storage.connector_state import DbConnectorState
from handoff.notifications.channels.log import LogChannel
from handoff.worker.outbox import dead_letters, deliver_due, replay
from tests.builders import event, issued_invoices
from tests.conftest import Clock
from tests.contract.specs import check_xero
from tests.contract.standin import Seen, StandIn
from tests.contract.xero_standin import XeroBooks

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def with_targets(ctx: AppContext, **connectors: list[str]) -> AppContext:
    model = ctx.config.model.model_copy(update={"connectors": ConnectorsModel(**connectors)})  # type: ignore[arg-type]
    return dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, model=model))


@pytest.fixture
def books() -> XeroBooks:
    return XeroBooks()


@pytest.fixture
def xero(books: XeroBooks, oracles: Path) -> Iterator[StandIn]:
    server = StandIn(books, check=lambda seen: check_xero(oracles, seen)).start()
    yield server
    server.stop()
    assert not server.violations, server.violations


CLIENTS: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while CLIENTS:
        CLIENTS.pop().close()


def client(url: str) -> httpx.Client:
    CLIENTS.append(make_client(url, timeout=1.0))
    return CLIENTS[-1]


def channel(ctx: AppContext, server: StandIn, waits: list[float] | None = None) -> XeroChannel:
    sleep = waits.append if waits is not None else lambda s: None
    api = HttpSender(client(f"{server.url}/api.xro/2.0"), "xero", RetryPolicy(attempts=3), sleep)
    auth = HttpSender(client(server.url), "xero token", sleep=sleep)
    token = OAuth2(
        "xero",
        auth,
        "/connect/token",
        "cid",
        Secret("csecret"),
        DbConnectorState(ctx),
        refresh_token=Secret("r0"),
        clock=ctx.clock,
    )
    return XeroChannel(api, token, "tenant-1")


def issue(ctx: AppContext, n: int) -> list[str]:
    events = [
        event(f"e{i}", T0, deal_id=f"D-{i}", customer_id=f"C-{i % 2}", customer_legal_name=f"Kestrel {i % 2} GmbH")
        for i in range(n)
    ]
    return [inv.number or "" for inv in issued_invoices(ctx, events, actor="finance@acme.example")]


def drain(ctx: AppContext, clock: Clock, channels: dict, rounds: int = 20) -> None:  # type: ignore[type-arg]
    for _ in range(rounds):
        deliver_due(ctx, channels)
        with ctx.engine.connect() as conn:
            pending = conn.execute(select(schema.outbox.c.id).where(schema.outbox.c.status == "pending")).first()
        if pending is None:
            return
        clock.advance(hours=2)
    raise AssertionError("outbox never became quiet")


def test_invoice_contact_payment_requests_match_the_spec(
    ctx: AppContext, clock: Clock, xero: StandIn, books: XeroBooks, tmp_path: Path
) -> None:
    ctx = with_targets(ctx, accounting=["xero"])
    numbers = issue(ctx, 2)
    channels = {"xero": channel(ctx, xero), "email": LogChannel(tmp_path / "m"), "log": LogChannel(tmp_path / "l")}
    drain(ctx, clock, channels)
    assert sorted(i["InvoiceNumber"] for i in books.invoices) == sorted(numbers)
    assert len(books.contacts) == 2  # two customers, each created once
    first = next(s for s in xero.seen if s.method == "PUT" and s.path.endswith("/Invoices"))
    assert first.headers["idempotency-key"] == f"xero:invoice:{first.json()['Invoices'][0]['InvoiceNumber']}"
    assert books.refreshes == 1  # one token for the whole run, and the rotated refresh token was saved
    assert DbConnectorState(ctx).load("xero")["refresh_token"] == "r1"  # type: ignore[index]
    row = PaymentRow(1, numbers[0], Decimal("100.00"), date(2026, 11, 20), "bank ref", "pay-1")
    apply_payments(ctx, [row], "bank.csv", "finance")
    drain(ctx, clock, channels)
    drain(ctx, clock, channels)
    assert [(p["Invoice"]["InvoiceID"], p["Amount"]) for p in books.payments] == [
        (next(i["InvoiceID"] for i in books.invoices if i["InvoiceNumber"] == numbers[0]), 100.0)
    ]


def test_the_spec_check_refuses_what_xero_does_not_allow(oracles: Path) -> None:
    ok = Seen(
        "PUT",
        "/api.xro/2.0/Invoices",
        {},
        {"xero-tenant-id": "t", "content-type": "application/json"},
        b'{"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": "00000000-0000-0000-0000-000000000000"}}]}',
    )
    assert check_xero(oracles, ok) is None
    misspelt = dataclasses.replace(ok, body=b'{"Invoices": [{"Type": "ACCREC", "InvoiceNo": "X"}]}')
    assert "InvoiceNo" in (check_xero(oracles, misspelt) or "")
    assert check_xero(oracles, dataclasses.replace(ok, body=b'{"Invoices": [{"Type": "SALE"}]}'))
    assert check_xero(oracles, dataclasses.replace(ok, method="DELETE"))
    assert check_xero(oracles, dataclasses.replace(ok, headers={"content-type": "application/json"}))  # no tenant
    assert "bogus" in (
        check_xero(oracles, Seen("GET", "/api.xro/2.0/Invoices", {"bogus": ["1"]}, {"xero-tenant-id": "t"}, b"")) or ""
    )


@pytest.mark.parametrize("honour_idempotency", [True, False], ids=["idempotency-key", "lookup-only"])
def test_faults_end_with_each_invoice_exactly_once(
    ctx: AppContext, clock: Clock, oracles: Path, tmp_path: Path, honour_idempotency: bool
) -> None:
    books = XeroBooks(honour_idempotency=honour_idempotency)
    server = StandIn(books, check=lambda seen: check_xero(oracles, seen)).start()
    try:
        ctx = with_targets(ctx, accounting=["xero"])
        numbers = issue(ctx, 4)
        # invoice 1: 500 then 429; invoice 2: Xero stores it and the answer never comes (timeout);
        # invoice 3: stored, then the connection drops; invoice 4: the connection drops three times
        # (all in-process attempts), so the outbox itself must retry later.
        server.fail("PUT", "/Invoices", "500", "429", "timeout_after", "close_after", "close", "close", "close")
        waits: list[float] = []
        channels = {
            "xero": channel(ctx, server, waits),
            "email": LogChannel(tmp_path / "m"),
            "log": LogChannel(tmp_path / "l"),
        }
        drain(ctx, clock, channels)
        assert sorted(i["InvoiceNumber"] for i in books.invoices) == sorted(numbers)  # each exactly once
        assert 1.0 in waits  # Retry-After honoured
        with ctx.engine.connect() as conn:
            rows = conn.execute(
                select(schema.outbox.c.status, schema.outbox.c.attempts).where(schema.outbox.c.channel == "xero")
            ).all()
        assert {r.status for r in rows} == {"delivered"} and max(r.attempts for r in rows) == 2
    finally:
        server.stop()
    assert not server.violations, server.violations


def test_refused_invoice_is_dead_lettered_and_replayable(
    ctx: AppContext, clock: Clock, xero: StandIn, books: XeroBooks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = with_targets(ctx, accounting=["xero"])
    issue(ctx, 1)
    channels = {"xero": channel(ctx, xero), "email": LogChannel(tmp_path / "m"), "log": LogChannel(tmp_path / "l")}
    original = books.__call__

    def refuse(seen: Seen):  # type: ignore[no-untyped-def]
        if seen.method == "PUT" and seen.path.endswith("/Invoices"):
            return (
                400,
                {},
                {
                    "Type": "ValidationException",
                    "Elements": [
                        {"ValidationErrors": [{"Message": "Account code '200' is not a valid code for this document."}]}
                    ],
                },
            )
        return original(seen)

    xero.handle = refuse
    with caplog.at_level(logging.WARNING):
        drain(ctx, clock, channels)
    dead = dead_letters(ctx)
    assert [d["channel"] for d in dead] == ["xero"] and "HTTP 400" in dead[0]["last_error"]
    assert "csecret" not in dead[0]["last_error"] and "Bearer" not in dead[0]["last_error"]
    xero.handle = original  # an operator fixed the account code in Xero
    assert replay(ctx, dead[0]["id"], "ops")
    drain(ctx, clock, channels)
    assert len(books.invoices) == 1 and not dead_letters(ctx)
    assert all("csecret" not in r.getMessage() for r in caplog.records)


def test_expired_access_token_is_refreshed_once_and_the_call_repeated(
    ctx: AppContext, xero: StandIn, books: XeroBooks
) -> None:
    xc = channel(ctx, xero)
    assert xc.contact_id("k", {"id": "C-9", "name": "Nine Ltd"})
    books.access_token = "revoked-by-xero"
    assert xc.contact_id("k", {"id": "C-9", "name": "Nine Ltd"}) == books.contacts[0]["ContactID"]
    assert books.refreshes == 2 and len(books.contacts) == 1
    assert "csecret" not in repr(xc.token) and "r1" not in repr(DbConnectorState(ctx))


def test_server_errors_beyond_the_retries_are_transient(ctx: AppContext, xero: StandIn) -> None:
    xero.fail("GET", "/Contacts", "500", "500", "500")
    with pytest.raises(DeliveryError) as err:
        channel(ctx, xero).contact_id("k", {"id": "C-9", "name": "Nine Ltd"})
    assert not err.value.permanent and "HTTP 500" in str(err.value)
