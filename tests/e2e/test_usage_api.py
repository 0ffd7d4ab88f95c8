"""The usage adapters on SQLite and PostgreSQL, over HTTP: a batch with refused events stores the
valid ones and names the refused (index, transaction id, field), a repeat is a duplicate; only
finance and admins post events, nobody unauthenticated; the webhook takes only requests signed with
its source's secret within the time window; current usage in the API and on the contract page (user
text escaped); the metrics page; metrics and usage prices through the API."""

from __future__ import annotations

import json

import httpx
import pytest

from handoff.users.service import Role
from handoff.web.webhooks import sign
from tests.e2e.conftest import SALES, Site, login
from tests.e2e.usage_builders import event, lock_usage_contract

F, S, A, D = Role.FINANCE, Role.SALES, Role.AUDITOR, Role.ADMIN
SECRET = "platform-webhook-secret-0123456789"


@pytest.fixture
def contract(site: Site) -> str:
    return lock_usage_contract(site.ctx, SALES)


def test_a_batch_stores_the_valid_events_and_names_the_refused(site: Site, contract: str) -> None:
    batch = [
        event("t-1"),
        event("t-2", metric="no_such_metric"),
        event("", properties={"region": "eu"}),  # no transaction id
        event("t-4", metric="storage_gb", properties={"gb": "abc"}),  # not a number for a sum
        event("t-5", timestamp="2027-06-01T00:00:00Z"),  # far in the future
        event("t-6", timestamp="yesterday"),  # not a timestamp
        event("t-7", metric="storage_gb"),
    ]
    with site.client(F) as api:
        first = api.post("/api/v1/usage", json={"events": batch})
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["received"], body["accepted"], body["duplicates"], body["refused"]) == (7, 2, 0, 5)
        assert [r["status"] for r in body["results"]] == ["accepted"] + ["refused"] * 5 + ["accepted"]
        refused = {e["index"]: e for e in body["errors"]}
        assert sorted(refused) == [1, 2, 3, 4, 5]
        assert (refused[1]["transaction_id"], refused[1]["field"]) == ("t-2", "metric")
        assert refused[2]["field"] == "transaction_id"
        assert refused[3]["field"] == "properties.gb" and "abc" in refused[3]["message"]
        assert refused[4]["field"] == "timestamp" and "future" in refused[4]["message"]
        assert refused[5]["field"] == "timestamp" and "t-6" in refused[5]["record"]

        again = api.post("/api/v1/usage", json={"events": [batch[0], batch[6]]}).json()
        assert (again["accepted"], again["duplicates"], again["refused"]) == (0, 2, 0)
        single = api.post("/api/v1/usage", json=event("t-8", properties={"region": "us"})).json()
        assert [r["status"] for r in single["results"]] == ["accepted"]

        current = api.get("/api/v1/usage/current", params={"contract": contract})
        assert current.status_code == 200, current.text
        lines = {u["metric"]: u for u in current.json()["items"]}
    calls, storage = lines["api_calls"], lines["storage_gb"]
    assert (calls["line_key"], calls["period"], calls["currency"]) == ("U1", "2026-11", "EUR")
    groups = {g["group_key"]: g for g in calls["groups"]}
    assert groups["eu"]["quantity"] == "1" and groups["eu"]["amount"] == "0.01" and groups["us"]["events"] == 1
    assert (calls["quantity"], calls["events"], calls["amount"]) == ("2", 2, "0.02")
    assert (storage["quantity"], storage["amount"]) == ("2.5", "1.25")  # 2.5 GB at 0.50


def test_malformed_requests_are_refused_whole(site: Site, contract: str) -> None:
    with site.client(F) as api:
        assert api.post("/api/v1/usage", json={"events": []}).status_code == 422
        unknown = api.post("/api/v1/usage", json={"events": [{**event("x"), "colour": "red"}]})
        assert unknown.status_code == 422 and "colour" in unknown.json()["error"]["field"]
        assert api.post("/api/v1/usage", json={"events": [event("y" * 201)]}).status_code == 422
        current = api.get("/api/v1/usage/current", params={"contract": contract}).json()["items"]
        assert current and all(u["events"] == 0 for u in current)  # nothing stored


def test_roles(site: Site, contract: str) -> None:
    with httpx.Client(base_url=site.url) as anonymous:
        assert anonymous.post("/api/v1/usage", json=event("a-1")).status_code == 401
        assert anonymous.get("/api/v1/usage/current").status_code == 401
        assert anonymous.get("/api/v1/usage/metrics").status_code == 401
    with site.client(S) as api:
        assert api.post("/api/v1/usage", json=event("s-1")).status_code == 403
        assert api.get("/api/v1/usage/current").status_code == 403
        assert api.put("/api/v1/usage/metrics/seats", json={"aggregation": "count"}).status_code == 403
    with site.client(A) as api:
        assert api.get("/api/v1/usage/metrics").status_code == 200
        assert api.post("/api/v1/usage", json=event("a-2")).status_code == 403
    with site.client(D) as api:
        assert api.post("/api/v1/usage", json=event("d-1")).json()["accepted"] == 1
    with site.client(F) as api:  # nothing the refused callers sent was stored
        statuses = api.post("/api/v1/usage", json={"events": [event("a-1"), event("s-1"), event("d-1")]}).json()
        assert [r["status"] for r in statuses["results"]] == ["accepted", "accepted", "duplicate"]


def _signed(body: bytes, at: float, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(at))
    return {
        "X-Handoff-Timestamp": stamp,
        "X-Handoff-Signature": sign(secret, stamp, body),
        "Content-Type": "application/json",
    }


def test_webhook_is_signed_and_idempotent(site: Site, contract: str) -> None:
    url = "/api/v1/webhooks/usage/platform"
    body = json.dumps({"events": [event("w-1"), event("w-2", metric="nope")]}).encode()
    now = site.ctx.clock().timestamp()  # the window is checked against the app's clock
    with httpx.Client(base_url=site.url) as client:
        assert client.post(url, content=body, headers=_signed(body, now)).status_code == 404  # not configured
        site.app.state.usage_webhook_secrets = {"platform": SECRET}
        assert client.post(url, content=body, headers={"Content-Type": "application/json"}).status_code == 401
        assert client.post(url, content=body, headers=_signed(body, now, "wrong-secret")).status_code == 401
        assert client.post(url, content=body, headers=_signed(body, now - 600)).status_code == 401  # stale
        tampered = body.replace(b"w-1", b"w-9")
        assert client.post(url, content=tampered, headers=_signed(body, now)).status_code == 401
        done = client.post(url, content=body, headers=_signed(body, now))
        assert done.status_code == 200, done.text
        assert [r["status"] for r in done.json()["results"]] == ["accepted", "refused"]
        assert done.json()["errors"][0]["field"] == "metric"
        again = client.post(url, content=body, headers=_signed(body, now)).json()
        assert [r["status"] for r in again["results"]] == ["duplicate", "refused"]


def test_metrics_and_prices_through_the_api(site: Site, contract: str) -> None:
    with site.client(F) as api:
        made = api.put("/api/v1/usage/metrics/seats", json={"name": "Active seats", "aggregation": "max", "field": "n"})
        assert made.status_code == 200, made.text
        assert made.json()["aggregation"] == "max"
        assert api.get("/api/v1/usage/metrics/seats").json()["name"] == "Active seats"
        assert "seats" in [m["code"] for m in api.get("/api/v1/usage/metrics").json()["items"]]
        assert api.get("/api/v1/usage/metrics/nope").status_code == 404
        bad = api.put("/api/v1/usage/metrics/seats2", json={"aggregation": "count", "field": "n"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "field"
        tiers = {
            "model": "graduated",
            "tiers": [{"up_to": "1000", "unit_price": "0"}, {"up_to": None, "unit_price": "0.02"}],
        }
        priced = api.put(f"/api/v1/contracts/{contract}/lines/U1/usage-price", json=tiers)
        assert priced.status_code == 200, priced.text
        assert priced.json()["metric"] == "api_calls" and priced.json()["price"]["model"] == "graduated"
        assert api.put("/api/v1/contracts/NOPE/lines/U1/usage-price", json=tiers).status_code == 404


def test_contract_page_shows_usage_escaped_and_metrics_page(site: Site, contract: str) -> None:
    with site.client(F) as api:
        sent = api.post("/api/v1/usage", json=event("p-1", properties={"region": "<b>eu</b>"})).json()
        assert sent["accepted"] == 1, sent
    with login(site, S) as browser:  # the contract's owner
        page = browser.get(f"/contracts/{contract}")
        assert page.status_code == 200
        assert 'id="usage"' in page.text and "Usage this period" in page.text
        assert "&lt;b&gt;eu&lt;/b&gt;" in page.text and "<b>eu</b>" not in page.text
        assert browser.get("/usage/metrics").status_code == 403  # finance's page
    with login(site, F) as browser:
        metrics = browser.get("/usage/metrics")
        assert metrics.status_code == 200
        assert 'data-metric="api_calls"' in metrics.text and "storage_gb" in metrics.text


def test_a_batch_of_ten_thousand_passes_the_body_limit(site: Site, contract: str) -> None:
    batch = [event(f"big-{i:05d}", properties={"region": "eu" if i % 2 else "us"}) for i in range(10_000)]
    body = json.dumps({"events": batch}).encode()
    assert len(body) > 1_000_000  # more than the app's usual limit: the usage path takes more
    with site.client(F) as api:
        done = api.post("/api/v1/usage", content=body, headers={"Content-Type": "application/json"})
        assert done.status_code == 200, done.text[:300]
        assert (done.json()["accepted"], done.json()["refused"]) == (10_000, 0)
        over = api.post("/api/v1/usage", json={"events": [*batch, event("big-10000")]})
        assert over.status_code == 422 and over.json()["error"]["field"] == "batch.events"
        calls = {u["metric"]: u for u in api.get("/api/v1/usage/current").json()["items"]}["api_calls"]
    assert (calls["events"], calls["quantity"]) == (10_000, "10000")
