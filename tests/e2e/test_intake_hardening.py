"""Intake under attack, over real HTTP (uvicorn on loopback) on SQLite and PostgreSQL: closed
without a token, a bad event refused alone (422) while the events sharing its group commit are
stored (202), times ahead of the clock refused, 4xx instead of 500 for hostile bodies and headers,
a reused event id with another payload answered 409, and the pages' security headers."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.deals.connectors.generic import GenericSource, load_mapping, sign
from handoff.deals.connectors.hubspot import HubSpotSource, signature_v3
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import StaticToken
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.storage import schema
from handoff.users.service import Role
from handoff.web.app import create_app
from tests.builders import GOOD
from tests.e2e.conftest import Site

TOKEN = "intake-token-0123456789"
HUBSPOT_SECRET = "hubspot-client-secret"
GENERIC_SECRET = "generic-secret"
PUBLIC = "https://handoff.example.com"


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


def with_crm_sources(app: FastAPI) -> FastAPI:
    """HubSpot and the generic JSON source configured, as `handoff serve` does from their secrets."""
    http = HttpSender(make_client("http://127.0.0.1:9", timeout=1.0), "hubspot")  # never reached here
    model, mapping = load_mapping()
    app.state.crm_sources = {
        "hubspot": HubSpotSource(http, StaticToken(Secret("pat")), Secret(HUBSPOT_SECRET)),
        "generic": GenericSource(Secret(GENERIC_SECRET), model, mapping),
    }
    app.state.public_url = PUBLIC
    return app


def inbox_count(ctx: AppContext) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.inbox)).scalar_one())


def envelope(event_id: str, at: datetime, **changes: Any) -> bytes:
    # json.dumps escapes a lone surrogate as \ud800: valid JSON text, not text a database stores
    return json.dumps({"event_id": event_id, "occurred_at": at.isoformat(), "deal": {**GOOD, **changes}}).encode()


# -- 1. closed by default


def test_deal_webhook_is_closed_without_a_token_even_next_to_a_signed_crm_source(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDOFF_WEBHOOK_TOKEN", raising=False)
    forged = envelope("forged-1", ctx.clock(), deal_id="D-1", billing_email="attacker@evil.example")
    with serving(with_crm_sources(create_app(ctx))) as url, httpx.Client(base_url=url, timeout=10) as http:
        for headers in ({}, {"X-Handoff-Token": ""}, {"X-Handoff-Token": "anything"}):
            refused = http.post("/api/v1/webhooks/deals/hubspot", content=forged, headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"] == "unauthenticated"
            assert "HANDOFF_WEBHOOK_TOKEN" in refused.json()["error"]["message"]
        login = http.get("/login")
        assert "intake is open" not in login.text
    assert inbox_count(ctx) == 0


def test_an_open_intake_must_be_asked_for_and_says_so_on_every_page(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDOFF_WEBHOOK_TOKEN", raising=False)
    app = create_app(ctx, insecure_open_intake=True)
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        accepted = http.post("/api/v1/webhooks/deals/crm", content=envelope("open-1", ctx.clock()))
        assert accepted.status_code == 202, accepted.text
        banner = http.get("/login").text
        assert "intake is open" in banner and "--insecure-open-intake" in banner
    assert inbox_count(ctx) == 1


def test_a_token_closes_the_open_intake_again(ctx: AppContext) -> None:
    app = create_app(ctx, TOKEN, insecure_open_intake=True)  # a token always counts
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        assert http.post("/api/v1/webhooks/deals/crm", content=envelope("t-1", ctx.clock())).status_code == 401
        assert "intake is open" not in http.get("/login").text


# -- 2. a bad event is refused alone; the others of its group are stored


async def _post_all(url: str, bodies: list[bytes]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"X-Handoff-Token": TOKEN}) as http:
        return await asyncio.gather(*(http.post("/api/v1/webhooks/deals/crm", content=b) for b in bodies))


def test_sixty_good_and_six_poisoned_events_sent_together(ctx: AppContext) -> None:
    at = ctx.clock() - timedelta(hours=1)
    good = [envelope(f"good-{n}", at, deal_id=f"D-{n}") for n in range(60)]
    bad = [
        envelope("bad-surrogate-name", at, deal_id="D-b1", deal_name="\ud800"),
        envelope("bad-surrogate-key", at, deal_id="D-b2", **{"note\udfff": "x"}),
        envelope("bad-long-customer", at, deal_id="D-b3", customer_legal_name="K" * 301),
        envelope("bad-long-deal-id", at, deal_id="D" * 101),
        envelope("bad-long-entity", at, deal_id="D-b5", legal_entity="E" * 41),
        envelope("bad-surrogate-owner", at, deal_id="D-b6", owner_email="\ud83d@acme.example"),
    ]
    bodies = good[:30] + bad + good[30:]
    with serving(create_app(ctx, TOKEN, process_inline=False)) as url:
        answers = asyncio.run(_post_all(url, bodies))
    statuses = [a.status_code for a in answers]
    assert statuses[:30] + statuses[36:] == [202] * 60
    assert statuses[30:36] == [422] * 6, [a.text for a in answers[30:36]]
    fields = [a.json()["error"]["field"] for a in answers[30:36]]
    assert fields == ["deal_name", "note\\udfff", "customer_legal_name", "deal_id", "legal_entity", "owner_email"]
    assert "surrogate" in answers[30].json()["error"]["message"]
    assert "300" in answers[32].json()["error"]["message"]
    assert inbox_count(ctx) == 60


def test_nul_and_an_overlong_source_are_refused_before_storing(ctx: AppContext) -> None:
    at = ctx.clock()
    headers = {"X-Handoff-Token": TOKEN}
    with serving(create_app(ctx, TOKEN, process_inline=False)) as url, httpx.Client(base_url=url) as http:
        nul = http.post("/api/v1/webhooks/deals/crm", content=envelope("n-1", at, deal_name="a\x00b"), headers=headers)
        assert nul.status_code == 422
        long_source = http.post(f"/api/v1/webhooks/deals/{'s' * 33}", content=envelope("s-1", at), headers=headers)
        assert long_source.status_code == 422 and long_source.json()["error"]["field"] == "source"
        fits = http.post(f"/api/v1/webhooks/deals/{'s' * 32}", content=envelope("s-2", at), headers=headers)
        assert fits.status_code == 202, fits.text
    assert inbox_count(ctx) == 1


def test_an_inbox_that_cannot_be_reached_asks_for_redelivery(ctx: AppContext) -> None:
    from sqlalchemy.exc import OperationalError

    app = create_app(ctx, TOKEN, process_inline=False)

    async def down(event: Any) -> Any:
        raise OperationalError("INSERT INTO inbox", {}, Exception("connection refused"))

    app.state.committer.submit = down
    with serving(app) as url, httpx.Client(base_url=url) as http:
        answer = http.post(
            "/api/v1/webhooks/deals/crm", content=envelope("u-1", ctx.clock()), headers={"X-Handoff-Token": TOKEN}
        )
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"


# -- 3. a time ahead of the clock


def test_an_event_dated_in_the_future_is_refused_naming_the_field_and_tolerance(ctx: AppContext) -> None:
    headers = {"X-Handoff-Token": TOKEN}
    now = ctx.clock()
    with serving(create_app(ctx, TOKEN, process_inline=False)) as url, httpx.Client(base_url=url) as http:
        poisoned = http.post(
            "/api/v1/webhooks/deals/crm",
            content=json.dumps({"event_id": "p-1", "occurred_at": "2099-01-01", "deal": GOOD}),
            headers=headers,
        )
        assert poisoned.status_code == 422, poisoned.text
        error = poisoned.json()["error"]
        assert error["field"] == "occurred_at"
        assert "300 seconds" in error["message"] and "intake.future_tolerance_seconds" in error["message"]
        skewed = http.post(
            "/api/v1/webhooks/deals/crm", content=envelope("p-2", now + timedelta(seconds=290)), headers=headers
        )
        assert skewed.status_code == 202  # a sender's clock a little ahead is tolerated
    assert inbox_count(ctx) == 1


# -- 4. hostile bodies and headers: 4xx, never 500


def test_hostile_crm_requests_are_answered_4xx(ctx: AppContext) -> None:
    now = ctx.clock()
    hubspot_path = "/api/v1/webhooks/crm/hubspot"
    stamp = str(int(now.timestamp() * 1000))

    def hubspot(body: bytes, stamp: str = stamp) -> dict[str, Any]:
        sig = signature_v3(HUBSPOT_SECRET, "POST", f"{PUBLIC}{hubspot_path}", body, stamp)
        return {"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": stamp.encode("latin-1")}

    def generic(body: bytes) -> dict[str, str]:
        seconds = str(int(now.timestamp()))
        return {"X-Handoff-Signature": sign(GENERIC_SECRET, seconds, body), "X-Handoff-Timestamp": seconds}

    nested = b"[" * 100_000 + b"]" * 100_000
    change = {"subscriptionType": "deal.propertyChange", "objectId": 9001, "occurredAt": 1762000000000}
    not_integer = json.dumps([{**change, "eventId": 1}, {**change, "eventId": "one"}]).encode()
    surrogate = json.dumps({"event_id": "g-1", "deal": {"id": "D-1", "name": "\ud800"}}).encode()
    with (
        serving(with_crm_sources(create_app(ctx, TOKEN))) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        huge_stamp = http.post(hubspot_path, content=b"[]", headers=hubspot(b"[]", str(10**30)))
        assert huge_stamp.status_code == 401, huge_stamp.text
        odd_digits = http.post(hubspot_path, content=b"[]", headers=hubspot(b"[]", "\u00b2"))
        assert odd_digits.status_code == 401, odd_digits.text
        wrong_id = http.post(hubspot_path, content=not_integer, headers=hubspot(not_integer))
        assert wrong_id.status_code == 422 and "eventId" in wrong_id.json()["error"]["message"]
        for path, headers in ((hubspot_path, hubspot(nested)), ("/api/v1/webhooks/crm/generic", generic(nested))):
            deep = http.post(path, content=nested, headers=headers)
            assert deep.status_code in (400, 422), (path, deep.status_code, deep.text[:200])
        lone = http.post("/api/v1/webhooks/crm/generic", content=surrogate, headers=generic(surrogate))
        assert lone.status_code == 422 and lone.json()["error"]["field"] == "deal_name", lone.text
        generic_huge = http.post(
            "/api/v1/webhooks/crm/generic",
            content=b"{}",
            headers={"X-Handoff-Signature": "sha256=00", "X-Handoff-Timestamp": str(10**30)},
        )
        assert generic_huge.status_code == 401
        deep_deal = http.post("/api/v1/webhooks/deals/crm", content=nested, headers={"X-Handoff-Token": TOKEN})
        assert deep_deal.status_code == 400
        lone_deal = http.post(
            "/api/v1/webhooks/deals/generic",
            content=envelope("l-1", now, deal_name="\udc00"),
            headers={"X-Handoff-Token": TOKEN},
        )
        assert lone_deal.status_code == 422
    assert inbox_count(ctx) == 0


def test_a_persons_fix_with_text_no_database_stores_is_refused(site: Site) -> None:
    with site.client(Role.FINANCE) as api:
        # refused naming the field (by the API's schema or by the fix's own check), nothing stored
        nul = api.patch("/api/v1/orders/D-2", json={"po_number": "PO\x00-77"})
        assert nul.status_code in (409, 422) and nul.json()["error"]["field"] == "po_number", nul.text
        long = api.patch("/api/v1/orders/D-2", json={"customer_legal_name": "K" * 301})
        assert long.status_code in (409, 422), long.text
        assert long.json()["error"]["field"] == "customer_legal_name"
        assert "K" * 301 not in api.get("/api/v1/orders/D-2").text
        assert api.patch("/api/v1/orders/D-2", json={"po_number": "PO-77"}).status_code == 200


# -- 5. a reused event id with another payload; the pages' headers


def test_a_reused_event_id_with_another_payload_is_a_conflict(ctx: AppContext) -> None:
    headers = {"X-Handoff-Token": TOKEN}
    at = ctx.clock() - timedelta(minutes=1)
    with serving(create_app(ctx, TOKEN, process_inline=False)) as url, httpx.Client(base_url=url) as http:
        first = http.post("/api/v1/webhooks/deals/crm", content=envelope("e-1", at), headers=headers)
        assert first.status_code == 202
        again = http.post("/api/v1/webhooks/deals/crm", content=envelope("e-1", at), headers=headers)
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        changed = http.post("/api/v1/webhooks/deals/crm", content=envelope("e-1", at, amount="1.00"), headers=headers)
        assert changed.status_code == 409, changed.text
        assert changed.json()["error"]["code"] == "conflict" and changed.json()["error"]["field"] == "event_id"
        elsewhere = http.post(
            "/api/v1/webhooks/deals/other", content=envelope("e-1", at, amount="1.00"), headers=headers
        )
        assert elsewhere.status_code == 202  # event ids are unique per source
    with ctx.engine.connect() as conn:
        amounts = conn.execute(select(schema.inbox.c.payload).order_by(schema.inbox.c.id)).scalars().all()
    assert [p["amount"] for p in amounts] == ["12000.00", "1.00"]


async def _post_same_id(url: str, bodies: list[bytes]) -> list[int]:
    return [r.status_code for r in await _post_all(url, bodies)]


def test_a_conflict_inside_one_group_commit(ctx: AppContext) -> None:
    at = ctx.clock() - timedelta(minutes=1)
    bodies = [envelope("same", at), envelope("same", at), envelope("same", at, amount="2.00")]
    with serving(create_app(ctx, TOKEN, process_inline=False)) as url:
        statuses = asyncio.run(_post_same_id(url, bodies))
    assert sorted(statuses) == [200, 202, 409] or sorted(statuses) == [202, 409, 409]
    assert inbox_count(ctx) == 1


def test_pages_forbid_framing_inline_scripts_and_leaking_referrers(ctx: AppContext) -> None:
    with serving(create_app(ctx, TOKEN)) as url, httpx.Client(base_url=url) as http:
        for path in ("/login", "/static/style.css", "/api/v1/health"):
            headers = http.get(path).headers
            policy = headers["content-security-policy"]
            assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, path
            assert "script-src" not in policy or "'unsafe-inline'" not in policy
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "same-origin"
            assert headers["x-content-type-options"] == "nosniff"
        docs = http.get("/api/v1/docs").headers["content-security-policy"]
        assert "frame-ancestors 'none'" in docs and "cdn.jsdelivr.net" in docs  # Swagger UI still loads


def test_the_ui_still_loads_its_styles_and_charts_under_the_policy(site: Site) -> None:
    from tests.e2e.test_browser import CHROMIUM, log_in

    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"chromium not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_browser import ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context, page = log_in(browser, site, Role.FINANCE)
            refused: list[str] = []
            page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"{site.url}/dashboard")
            page.wait_for_load_state("networkidle")
            rules = page.evaluate("() => [...document.styleSheets].map(s => s.cssRules.length)")
            assert rules and all(n > 0 for n in rules)  # the stylesheet loaded and applies
            images = page.locator(".charts img")
            for i in range(images.count()):
                assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
            assert refused == []
            context.close()
        finally:
            browser.close()
