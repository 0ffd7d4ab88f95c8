"""CRM webhooks over real HTTP (uvicorn on loopback): vendor signatures with their published test
vectors, 401 for a wrong or missing signature or a stale timestamp (logged, without secrets),
accepted events stored once in the inbox; deals fetched from HubSpot / Pipedrive stand-ins; the
generic webhook's YAML mapping validated at load; Salesforce polled with a cursor."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.connectors import InboundRequest, SignatureError
from handoff.deals.connectors.generic import DEFAULT_MAPPING, GenericSource, MappingFileError, load_mapping, sign
from handoff.deals.connectors.hubspot import HubSpotSource, signature_v3
from handoff.deals.connectors.pipedrive import PipedriveSource
from handoff.deals.connectors.salesforce import SalesforceSource
from handoff.deals.service.crm_sync import poll
from handoff.deals.service.intake import process_pending
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import StaticToken
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.storage import schema
from handoff.web.app import create_app
from handoff.worker.loop import polling_job
from handoff.worker.scheduler import run_due
from tests.conftest import Clock
from tests.contract.standin import Reply, Seen, StandIn

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"  # HubSpot's documented example client secret
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_hubspot_v3_vector_from_the_official_sdk() -> None:
    # WEBHOOK-SIGNATURES.md: HubSpot/hubspot-api-python tests, v3 vector
    body = b"{'example_field':'example_value'}"
    assert (
        signature_v3(SECRET, "POST", "https://www.example.com/webhook_uri", body, "15000000")
        == "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
    )
    source = HubSpotSource(None, StaticToken(Secret("t")), Secret(SECRET))  # type: ignore[arg-type]
    request = InboundRequest(
        "POST",
        "https://www.example.com/webhook_uri",
        {
            "x-hubspot-signature-v3": "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=",
            "x-hubspot-request-timestamp": "15000000",
        },
        body,
    )
    source.verify(request, datetime.fromtimestamp(15000, UTC))  # within the window: accepted
    with pytest.raises(SignatureError, match="window"):
        source.verify(request, datetime.fromtimestamp(15000 + 301, UTC))


# --- HubSpot stand-in: CRM v3 objects as in HubSpot's docs --------------------------------------

DEAL = {
    "id": "9001",
    "properties": {
        "dealname": "Kestrel Labs — Platform licence",
        "dealstage": "closedwon",
        "closedate": "2026-10-30T12:00:00.000Z",
        "amount": "12000.00",
        "deal_currency_code": "EUR",
        "hubspot_owner_id": "77",
        "po_number": "PO-1",
        "payment_terms": "net30",
        "legal_entity": "ACME-DE",
        "hs_lastmodifieddate": "2026-11-01T10:00:00.000Z",
    },
    "createdAt": "2026-10-01T08:00:00.000Z",
    "updatedAt": "2026-11-01T10:00:00.000Z",
    "archived": False,
    "associations": {
        "companies": {"results": [{"id": "501", "type": "deal_to_company"}]},
        "contacts": {"results": [{"id": "601", "type": "deal_to_contact"}]},
    },
}
OBJECTS: dict[str, Any] = {
    "/crm/v3/objects/deals/9001": DEAL,
    "/crm/v3/objects/companies/501": {
        "id": "501",
        "properties": {
            "name": "Kestrel Labs",
            "legal_name": "Kestrel Labs GmbH",
            "country": "Germany",
            "address": "Hauptstraße 1",
            "city": "Berlin",
            "zip": "10115",
            "vat_id": "DE136695976",
            "requires_po": "true",
        },
    },
    "/crm/v3/objects/contacts/601": {
        "id": "601",
        "properties": {"email": "ap@kestrel.de", "firstname": "Anna", "lastname": "Müller"},
    },
    "/crm/v3/owners/77": {"id": "77", "email": "anna@acme.example", "firstName": "Anna"},
}


def hubspot_api(seen: Seen) -> Reply:
    if seen.headers.get("authorization") != "Bearer pat-1":
        return 401, {}, {"status": "error", "category": "INVALID_AUTHENTICATION"}
    found = OBJECTS.get(seen.path)
    return (200, {}, found) if found else (404, {}, {"status": "error", "category": "OBJECT_NOT_FOUND"})


@pytest.fixture
def crm_api() -> Iterator[StandIn]:
    server = StandIn(hubspot_api).start()
    yield server
    server.stop()


@pytest.fixture
def web(ctx: AppContext, crm_api: StandIn) -> Iterator[tuple[str, Any]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ctx, webhook_token="unused")
    http = make_client(crm_api.url, timeout=2.0)
    model, mapping = load_mapping()
    app.state.crm_sources = {
        "hubspot": HubSpotSource(HttpSender(http, "hubspot"), StaticToken(Secret("pat-1")), Secret(SECRET)),
        "pipedrive": PipedriveSource(HttpSender(http, "pipedrive"), Secret("pd-token"), "handoff", Secret("pw-1")),
        "generic": GenericSource(Secret("g-secret"), model, mapping),
    }
    app.state.public_url = "https://handoff.example.com"
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(5)
    http.close()


def hubspot_headers(body: bytes, at: datetime, path: str = "/api/v1/webhooks/crm/hubspot") -> dict[str, str]:
    stamp = str(int(at.timestamp() * 1000))
    return {
        "X-HubSpot-Signature-v3": signature_v3(SECRET, "POST", f"https://handoff.example.com{path}", body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def inbox(ctx: AppContext) -> list[Any]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(select(schema.inbox).order_by(schema.inbox.c.id)))


def test_hubspot_webhook_fetches_the_deal_and_stores_it_once(
    ctx: AppContext, web: tuple[str, Any], crm_api: StandIn
) -> None:
    url = f"{web[0]}/api/v1/webhooks/crm/hubspot"
    events = [
        {
            "eventId": 1001,
            "subscriptionId": 12345,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": 1762000000000,
            "subscriptionType": "deal.propertyChange",
            "attemptNumber": 0,
            "objectId": 9001,
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
            "changeSource": "CRM",
        },
        {
            "eventId": 1002,
            "subscriptionId": 2,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": 1762000000000,
            "subscriptionType": "contact.creation",
            "attemptNumber": 0,
            "objectId": 601,
        },
    ]
    body = json.dumps(events).encode()
    with httpx.Client(timeout=10) as http:
        first = http.post(url, content=body, headers=hubspot_headers(body, NOW))
        assert first.status_code == 202, first.text
        again = http.post(url, content=body, headers=hubspot_headers(body, NOW))
        assert again.json()["duplicates"] == 1 and again.json()["received"] == 0
    rows = inbox(ctx)
    assert [(r.source, r.event_id, r.deal_id) for r in rows] == [("hubspot", "1001", "9001")]
    deal = rows[0].payload
    assert (
        deal["customer_legal_name"],
        deal["country"],
        deal["billing_email"],
        deal["billing_contact_name"],
        deal["owner_email"],
        deal["close_date"],
    ) == ("Kestrel Labs GmbH", "DE", "ap@kestrel.de", "Anna Müller", "anna@acme.example", "2026-10-30")
    assert rows[0].occurred_at == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)  # versions ordered by CRM change time
    process_pending(ctx)
    with ctx.engine.connect() as conn:
        assert conn.execute(select(schema.orders.c.state)).scalar() in ("ready", "drafted")
    assert {s.path for s in crm_api.seen} >= set(OBJECTS)


@pytest.mark.parametrize("case", ["wrong", "missing", "stale", "tampered"])
def test_bad_hubspot_signatures_are_rejected_and_logged(
    ctx: AppContext, web: tuple[str, Any], case: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps([{"eventId": 1, "subscriptionType": "deal.creation", "objectId": 9001}]).encode()
    headers = hubspot_headers(body, NOW)
    if case == "wrong":
        headers["X-HubSpot-Signature-v3"] = base64.b64encode(b"x" * 32).decode()
    elif case == "missing":
        del headers["X-HubSpot-Signature-v3"]
    elif case == "stale":
        headers = hubspot_headers(body, datetime(2026, 11, 2, 8, 54, tzinfo=UTC))  # 6 minutes old
    else:
        body = body.replace(b"9001", b"9002")
    with caplog.at_level(logging.WARNING, logger="handoff.deals.api.webhooks"), httpx.Client(timeout=10) as http:
        response = http.post(f"{web[0]}/api/v1/webhooks/crm/hubspot", content=body, headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
    assert not inbox(ctx)
    logged = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(logged) == 1 and SECRET not in logged[0] and "pat-1" not in logged[0]


PD_KEYS = {
    name: hashlib.sha1(name.encode()).hexdigest()
    for name in ("PO number", "Payment terms", "Legal entity", "VAT ID", "Requires PO")
}
PIPEDRIVE: dict[str, Any] = {
    "/api/v2/deals/1": {
        "success": True,
        "data": {
            "id": 1,
            "title": "test deal",
            "value": 2400,
            "currency": "EUR",
            "status": "won",
            "stage_id": 1,
            "owner_id": 18487521,
            "person_id": 3,
            "org_id": 2,
            "add_time": "2024-09-27T14:25:27Z",
            "update_time": "2024-09-27T14:25:28Z",
            "won_time": "2024-09-27T14:25:28Z",
            # custom fields are keyed by their 40-character keys; names come from dealFields
            "custom_fields": {
                PD_KEYS["PO number"]: "PO-7",
                PD_KEYS["Payment terms"]: "net30",
                PD_KEYS["Legal entity"]: "ACME-DE",
            },
        },
    },
    "/api/v2/organizations/2": {
        "success": True,
        "data": {
            "id": 2,
            "name": "Kestrel Labs GmbH",
            "address": {
                "value": "Hauptstraße 1, 10115 Berlin, Germany",
                "route": "Hauptstraße",
                "street_number": "1",
                "locality": "Berlin",
                "postal_code": "10115",
                "country": "Germany",
            },
            "custom_fields": {PD_KEYS["VAT ID"]: "DE136695976", PD_KEYS["Requires PO"]: "true"},
        },
    },
    "/api/v2/persons/3": {
        "success": True,
        "data": {
            "id": 3,
            "name": "Anna Müller",
            "emails": [
                {"value": "anna.private@example.com", "primary": False, "label": "home"},
                {"value": "ap@kestrel.de", "primary": True, "label": "work"},
            ],
        },
    },
    "/api/v1/users/18487521": {"success": True, "data": {"id": 18487521, "email": "anna@acme.example"}},
    "/api/v1/deals/1/products": {"success": True, "data": None, "additional_data": {"pagination": {"start": 0}}},
    **{
        f"/api/v1/{endpoint}": {
            "success": True,
            "data": [{"key": PD_KEYS[name], "name": name, "field_type": "varchar"} for name in names],
            "additional_data": {"pagination": {"start": 0, "limit": 500, "more_items_in_collection": False}},
        }
        for endpoint, names in (
            ("dealFields", ("PO number", "Payment terms", "Legal entity")),
            ("organizationFields", ("VAT ID", "Requires PO")),
            ("personFields", ()),
        )
    },
}


def test_pipedrive_webhook_with_basic_auth(ctx: AppContext, web: tuple[str, Any], crm_api: StandIn) -> None:
    crm_api.handle = lambda seen: (
        (200, {}, PIPEDRIVE[seen.path])
        if seen.headers.get("x-api-token") == "pd-token"
        else (401, {}, {"success": False})
    )
    # the shape of Pipedrive's webhooks v2 example (meta / data / previous)
    body = {
        "meta": {
            "action": "change",
            "entity": "deal",
            "version": "2.0",
            "company_id": 12882925,
            "user_id": 18487521,
            "id": "4b7d0c0e-6c1e-4b1e-9a53-0c7f0c1a2b3c",
            "entity_id": 1,
            "webhook_id": 99,
            "attempt": 1,
            "host": "company.pipedrive.com",
            "timestamp": 1727447128,
            "change_source": "app",
        },
        "data": {"id": 1, "title": "test deal", "status": "won"},
        "previous": None,
    }
    url = f"{web[0]}/api/v1/webhooks/crm/pipedrive"
    with httpx.Client(timeout=10) as http:
        assert http.post(url, json=body, auth=("handoff", "wrong")).status_code == 401
        assert http.post(url, json=body).status_code == 401
        ok = http.post(url, json=body, auth=("handoff", "pw-1"))
        assert ok.status_code == 202, ok.text
    [row] = inbox(ctx)
    assert (
        row.event_id,
        row.payload["billing_email"],
        row.payload["billing_street"],
        row.payload["country"],
        row.payload["stage"],
    ) == (body["meta"]["id"], "ap@kestrel.de", "Hauptstraße 1", "DE", "won")
    assert (row.payload["vat_id"], row.payload["legal_entity"], row.payload["payment_terms"]) == (
        "DE136695976",
        "ACME-DE",
        "net30",
    )
    assert all(s.headers.get("x-api-token") == "pd-token" for s in crm_api.seen)


def test_generic_webhook_signed_and_mapped_by_yaml(ctx: AppContext, web: tuple[str, Any]) -> None:
    payload = {
        "event_id": "g-1",
        "occurred_at": "2026-11-01T10:00:00Z",
        "deal": {
            "id": "G-1",
            "name": "Licence",
            "stage": "won",
            "close_date": "2026-10-30",
            "amount": "100.00",
            "currency": "eur",
            "po_number": "PO-2",
            "payment_terms": "net30",
            "legal_entity": "ACME-DE",
            "owner": {"email": "anna@acme.example"},
            "company": {
                "id": "C-7",
                "name": "Kestrel Labs GmbH",
                "country": "Germany",
                "vat_id": "DE136695976",
                "billing": {"email": "ap@kestrel.de", "name": "Anna"},
                "address": {"street": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115"},
            },
        },
    }
    body = json.dumps(payload).encode()
    stamp = str(int(NOW.timestamp()))
    url = f"{web[0]}/api/v1/webhooks/crm/generic"
    with httpx.Client(timeout=10) as http:
        bad = http.post(url, content=body, headers={"X-Handoff-Timestamp": stamp, "X-Handoff-Signature": "sha256=00"})
        assert bad.status_code == 401
        old = str(int(NOW.timestamp()) - 600)
        stale = {"X-Handoff-Timestamp": old, "X-Handoff-Signature": sign("g-secret", old, body)}
        assert http.post(url, content=body, headers=stale).status_code == 401
        ok = http.post(
            url,
            content=body,
            headers={"X-Handoff-Timestamp": stamp, "X-Handoff-Signature": sign("g-secret", stamp, body)},
        )
        assert ok.status_code == 202, ok.text
        assert http.post(f"{web[0]}/api/v1/webhooks/crm/nope", content=body).status_code == 404
    [row] = inbox(ctx)
    assert (
        row.source,
        row.event_id,
        row.payload["currency"],
        row.payload["country"],
        row.payload["customer_type"],
    ) == ("generic", "g-1", "EUR", "DE", "business")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nfields: {deal_name: name}\n", "fields.deal_id: required"),
        ("version: 1\nfields: {deal_id: id, dealname: name}\n", "fields.dealname: not a deal field"),
        ("version: 1\nfields: {deal_id: id, amount: 'x..y'}\n", "fields.amount: 'x..y' is not a path"),
        ("version: 1\nfields: {deal_id: id, close_date: 'd | datum'}\n", "fields.close_date: unknown transform"),
        ("version: 2\nfields: {deal_id: id}\n", "version: Input should be 1"),
        ("version: 1\nfields: {deal_id: id}\nextra: 1\n", "extra: Extra inputs are not permitted"),
    ],
)
def test_generic_mapping_file_is_validated_with_clear_messages(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    with pytest.raises(MappingFileError) as err:
        load_mapping(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)
    assert load_mapping(DEFAULT_MAPPING)[0].source == "generic"


def opportunity() -> dict[str, Any]:
    """A closed-won Opportunity as the REST query API returns it (with account and contact roles)."""
    return {
        "attributes": {"type": "Opportunity"},
        "Id": "006A",
        "Name": "Licence",
        "StageName": "Closed Won",
        "CloseDate": "2026-10-30",
        "Amount": 12000.0,
        "CurrencyIsoCode": "EUR",
        "LastModifiedDate": "2026-11-01T10:00:00.000+0000",
        "Owner": {"Email": "anna@acme.example"},
        "PO_Number__c": "PO-1",
        "Payment_Terms__c": "net30",
        "Legal_Entity__c": "ACME-DE",
        "Account": {
            "Id": "001A",
            "Name": "Kestrel Labs GmbH",
            "BillingStreet": "Hauptstraße 1",
            "BillingCity": "Berlin",
            "BillingPostalCode": "10115",
            "BillingCountryCode": "DE",
            "VAT_Id__c": "DE136695976",
            "Requires_PO__c": True,
        },
        "OpportunityContactRoles": {
            "totalSize": 2,
            "done": True,
            "records": [
                {"Role": "Technical Buyer", "IsPrimary": False, "Contact": {"Name": "Tom", "Email": "tom@k.de"}},
                {
                    "Role": "Economic Buyer",
                    "IsPrimary": True,
                    "Contact": {"Name": "Anna Müller", "Email": "ap@kestrel.de"},
                },
            ],
        },
    }


def test_salesforce_poll_reads_won_opportunities_once(ctx: AppContext) -> None:
    record = opportunity()
    queries: list[str] = []

    def api(seen: Seen) -> Reply:
        queries.append(seen.query.get("q", [""])[0])
        return 200, {}, {"totalSize": 1, "done": True, "records": [record]}

    server = StandIn(api).start()
    http = make_client(server.url, timeout=2.0)
    try:
        source = SalesforceSource(HttpSender(http, "salesforce"), StaticToken(Secret("sf")))
        assert poll(ctx, source).received == 1
        assert poll(ctx, source).duplicates == 1  # same version again: nothing new
    finally:
        http.close()
        server.stop()
    assert "IsWon = true" in queries[0] and "LastModifiedDate >=" not in queries[0]
    assert "LastModifiedDate >= 2026-11-01T10:00:00Z" in queries[1]
    [row] = inbox(ctx)
    assert (row.payload["billing_email"], row.payload["requires_po"], row.payload["stage"]) == (
        "ap@kestrel.de",
        "true",
        "closedwon",
    )


def test_salesforce_is_polled_once_per_period_however_many_workers(ctx: AppContext, clock: Clock) -> None:
    queries: list[str] = []

    def api(seen: Seen) -> Reply:
        queries.append(seen.query.get("q", [""])[0])
        return 200, {}, {"totalSize": 1, "done": True, "records": [opportunity()]}

    server = StandIn(api).start()
    http = make_client(server.url, timeout=2.0)
    try:
        job = polling_job(SalesforceSource(HttpSender(http, "salesforce"), StaticToken(Secret("sf"))), minutes=5)
        clock.now = datetime(2026, 11, 2, 9, 1, tzinfo=UTC)
        assert run_due(ctx, [job], "w1") == [("salesforce_poll", "2026-11-02T09:00")]
        clock.advance(minutes=3)
        assert run_due(ctx, [job], "w2") == []  # same five minutes: already polled
        clock.advance(minutes=1)
        assert run_due(ctx, [job], "w2") == [("salesforce_poll", "2026-11-02T09:05")]
    finally:
        http.close()
        server.stop()
    assert len(queries) == 2 and "LastModifiedDate >= 2026-11-01T10:00:00Z" in queries[1]
    assert len(inbox(ctx)) == 1
