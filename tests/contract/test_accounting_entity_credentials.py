"""OAuth credentials per selling entity: an entity may sign in to Xero or QuickBooks with its own
client id, secret and refresh token (`HANDOFF_XERO_ACME_DE_CLIENT_ID` ..., from the environment or
the secrets file); what it does not set is the shared credential. Each sign-in keeps its own
rotating token set, and each entity's documents and payments go out under its own tokens, to its
tenant. Xero requests are checked against Xero's published OpenAPI description."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from handoff.accounting.connectors.quickbooks import QuickBooksChannel
from handoff.accounting.connectors.xero import XeroChannel
from handoff.accounting.service import document
from handoff.bootstrap import build_channels
from handoff.cash.formats.payment_file import PaymentRow
from handoff.cash.service.payments import apply_payments
from handoff.config import ConnectorsModel, Settings, XeroModel
from handoff.context import AppContext
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import OAuth2, StaticToken
from handoff.kernel.connectors.secrets import Secret, Secrets, SecretsError
from handoff.kernel.storage.connector_state import DbConnectorState
from handoff.notifications.channels.log import LogChannel
from tests.builders import event, issued_invoices
from tests.conftest import Clock
from tests.contract.specs import check_xero
from tests.contract.standin import Reply, Seen, StandIn
from tests.contract.test_slack_quickbooks_rest import QuickBooks
from tests.contract.test_xero import drain
from tests.contract.xero_standin import XeroBooks

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class TwoApps(XeroBooks):
    """Xero with two connected apps (client ids), each with its own rotating refresh token; records
    which app's access token each API call carried, for which tenant."""

    def __init__(self) -> None:
        super().__init__()
        self.apps = {"cid": ["csecret", "r0"], "cid-de": ["csecret-de", "rde0"]}
        self.issued_to: dict[str, str] = {}  # access token -> client id
        self.calls: list[tuple[str, str]] = []  # (client id, tenant)

    def _token(self, seen: Seen) -> Reply:
        client, _, secret = base64.b64decode(seen.headers["authorization"].split(" ", 1)[1]).decode().partition(":")
        form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
        if self.apps.get(client, [None])[0] != secret:
            return 401, {}, {"error": "invalid_client"}
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.apps[client][1]:
            return 400, {}, {"error": "invalid_grant"}
        self.refreshes += 1
        access, refresh = f"{client}-a{self.refreshes}", f"{client}-r{self.refreshes}"
        self.apps[client][1], self.issued_to[access] = refresh, client
        return 200, {}, {"access_token": access, "expires_in": 1800, "token_type": "Bearer", "refresh_token": refresh}

    def __call__(self, seen: Seen) -> Reply:
        if seen.path == "/connect/token":
            return self._token(seen)
        bearer = seen.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.issued_to:
            return 401, {}, {"Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired"}
        self.calls.append((self.issued_to[bearer], seen.headers.get("xero-tenant-id", "")))
        self.access_token = bearer  # the base class answers as Xero does for a valid token
        return super().__call__(seen)


@pytest.fixture
def apps() -> TwoApps:
    return TwoApps()


@pytest.fixture
def transport() -> Iterator[httpx.HTTPTransport]:
    """The connections of the channels `build_channels` makes, closed after the test."""
    with httpx.HTTPTransport() as shared:
        yield shared


@pytest.fixture
def xero(apps: TwoApps, oracles: Path) -> Iterator[StandIn]:
    server = StandIn(apps, check=lambda seen: check_xero(oracles, seen)).start()
    yield server
    server.stop()
    assert not server.violations, server.violations


def shared_and_de(server: StandIn, **more: str) -> Settings:
    env = {
        "HANDOFF_XERO_API_URL": f"{server.url}/api.xro/2.0",
        "HANDOFF_XERO_TOKEN_URL": f"{server.url}/connect/token",
        "HANDOFF_XERO_TENANT_ID": "tenant-1",
        "HANDOFF_XERO_CLIENT_ID": "cid",
        "HANDOFF_XERO_CLIENT_SECRET": "csecret",
        "HANDOFF_XERO_REFRESH_TOKEN": "r0",
        "HANDOFF_XERO_ACME_DE_CLIENT_ID": "cid-de",
        "HANDOFF_XERO_ACME_DE_CLIENT_SECRET": "csecret-de",
        "HANDOFF_XERO_ACME_DE_REFRESH_TOKEN": "rde0",
        **more,
    }
    return Settings.from_env(env)


def with_xero(ctx: AppContext) -> AppContext:
    xero = XeroModel.model_validate({"entities": {"ACME-DE": {"tenant_id": "tenant-de"}}})
    model = ctx.config.model.model_copy(update={"connectors": ConnectorsModel(accounting=["xero"], xero=xero)})
    return dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, model=model))


def test_each_entity_pushes_under_its_own_sign_in_through_the_outbox(
    ctx: AppContext, clock: Clock, xero: StandIn, apps: TwoApps, tmp_path: Path, transport: httpx.HTTPTransport
) -> None:
    ctx = with_xero(ctx)
    de, us = issued_invoices(
        ctx,
        [
            event("e1", T0),  # ACME-DE: its own app, tenant-de
            event("e2", T0, deal_id="D-US", customer_id="C-9", legal_entity="ACME-US", currency="USD"),  # shared
        ],
        actor="finance@acme.example",
    )
    channels: dict[str, Any] = build_channels(shared_and_de(xero), ctx, transport)
    channels |= {"email": LogChannel(tmp_path / "m"), "log": LogChannel(tmp_path / "l")}
    drain(ctx, clock, channels)
    apply_payments(ctx, [PaymentRow(1, de.number or "", Decimal("100.00"), date(2026, 11, 20), "r", "p-1")], "b", "f")
    drain(ctx, clock, channels)

    assert sorted(i["InvoiceNumber"] for i in apps.invoices) == sorted([de.number, us.number])
    assert set(apps.calls) == {("cid-de", "tenant-de"), ("cid", "tenant-1")}
    assert len(apps.payments) == 1
    state = DbConnectorState(ctx)
    own, shared = state.load("xero:ACME-DE") or {}, state.load("xero") or {}
    assert own["refresh_token"] == apps.apps["cid-de"][1] and shared["refresh_token"] == apps.apps["cid"][1]
    assert own["refresh_token"].startswith("cid-de-r") and shared["refresh_token"].startswith("cid-r")


def test_an_entity_with_only_its_own_refresh_token_keeps_the_shared_client(
    ctx: AppContext, xero: StandIn, transport: httpx.HTTPTransport
) -> None:
    settings = shared_and_de(xero)
    env = {k: v for k, v in settings.env.items() if "ACME_DE_CLIENT" not in k}
    channel = build_channels(dataclasses.replace(settings, env=env), with_xero(ctx), transport)["xero"]
    assert isinstance(channel, XeroChannel)
    own = channel.token_for("ACME-DE")
    assert isinstance(own, OAuth2) and (own.name, own.client_id) == ("xero:ACME-DE", "cid")
    assert channel.token_for("ACME-US") is channel.token and isinstance(channel.token, OAuth2)
    assert channel.token.name == "xero"


def test_an_entity_s_own_client_without_its_secret_is_refused(
    ctx: AppContext, xero: StandIn, transport: httpx.HTTPTransport
) -> None:
    settings = shared_and_de(xero)
    env = {k: v for k, v in settings.env.items() if k != "HANDOFF_XERO_ACME_DE_CLIENT_SECRET"}
    with pytest.raises(SecretsError) as refused:
        build_channels(dataclasses.replace(settings, env=env), with_xero(ctx), transport)
    message = str(refused.value)
    assert "HANDOFF_XERO_ACME_DE_CLIENT_SECRET" in message and "ACME-DE" in message
    assert "csecret" not in message and "rde0" not in message


def test_per_entity_credentials_come_from_the_secrets_file_too(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("HANDOFF_QBO_CLIENT_SECRET=shared\nHANDOFF_QBO_ACME_US_REFRESH_TOKEN=own-refresh\n")
    s = Secrets.load({"HANDOFF_SECRETS_FILE": str(path), "HANDOFF_QBO_CLIENT_ID": "qb"})
    scoped = s.scoped("HANDOFF_QBO", "ACME-US", ("CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN"))
    assert scoped is not None
    assert scoped.get("HANDOFF_QBO_CLIENT_ID") == "qb"
    assert scoped.secret("HANDOFF_QBO_CLIENT_SECRET") == Secret("shared")
    assert scoped.secret("HANDOFF_QBO_REFRESH_TOKEN") == Secret("own-refresh")
    assert s.scoped("HANDOFF_QBO", "ACME-DE", ("CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN")) is None
    assert "own-refresh" not in repr(scoped)


class TwoCompanies(QuickBooks):
    """QuickBooks where each company (realm) accepts only its own app's token."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = {"9130": "Bearer qb-token", "realm-de": "Bearer qb-de"}

    def __call__(self, seen: Seen) -> Reply:
        realm = seen.path.split("/")[3]
        if seen.headers.get("authorization") != self.tokens.get(realm):
            return 401, {}, {"Fault": {"type": "AUTHENTICATION"}}
        seen.headers["authorization"] = "Bearer qb-token"  # the base class knows one token
        return super().__call__(seen)


def test_quickbooks_uses_the_entity_s_own_token_for_its_company(ctx: AppContext) -> None:
    from handoff.config import QuickBooksModel

    options = QuickBooksModel.model_validate({"entities": {"ACME-DE": {"realm_id": "realm-de"}}})
    de, us = issued_invoices(
        ctx,
        [event("e1", T0), event("e2", T0, deal_id="D-US", customer_id="C-9", legal_entity="ACME-US", currency="USD")],
    )
    books = TwoCompanies()
    server = StandIn(books).start()
    try:
        with make_client(server.url, timeout=2.0) as http:
            channel = QuickBooksChannel(
                HttpSender(http, "quickbooks", sleep=lambda s: None),
                StaticToken(Secret("qb-token")),
                "9130",
                options,
                tokens={"ACME-DE": StaticToken(Secret("qb-de"))},
            )
            for inv in (de, us):
                channel.deliver(f"quickbooks:invoice:{inv.number}", {"type": "invoice", "document": document(inv)})
    finally:
        server.stop()
    assert sorted(i["DocNumber"] for i in books.entities["Invoice"]) == sorted([de.number, us.number])
    assert {s.path.split("/")[3] for s in server.seen} == {"9130", "realm-de"}
