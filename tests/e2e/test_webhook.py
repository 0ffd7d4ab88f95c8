"""Webhook intake over real HTTP: uvicorn on loopback, httpx as the CRM."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.kernel.storage import schema
from handoff.web.app import create_app
from tests.builders import GOOD


@pytest.fixture
def server(ctx: AppContext) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(ctx, webhook_token="s3cret"), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


def test_webhook_acknowledges_stores_and_dedupes(ctx: AppContext, server: str) -> None:
    url = f"{server}/api/v1/webhooks/deals/crm"
    body = {"event_id": "evt-1", "occurred_at": "2026-11-01T10:00:00Z", "deal": GOOD}
    headers = {"X-Handoff-Token": "s3cret"}
    with httpx.Client(timeout=10) as http:
        assert http.post(url, json=body).status_code == 401
        first = http.post(url, json=body, headers=headers)
        assert first.status_code == 202 and first.json()["status"] == "accepted"
        assert http.post(url, json=body, headers=headers).json()["status"] == "duplicate"
        bad = http.post(url, content=b"{not json", headers=headers)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
        no_id = http.post(url, json={"deal": {**GOOD, "deal_id": ""}}, headers=headers)
        assert no_id.status_code == 422 and no_id.json()["error"]["field"] == "deal_id"
        huge = http.post(url, content=b"x" * 1_000_001, headers=headers)
        assert huge.status_code == 413
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with ctx.engine.connect() as conn:
            state = conn.execute(select(schema.orders.c.state)).scalar()
        if state:
            break
        time.sleep(0.05)
    assert state == "drafted"
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.inbox)).scalar_one() == 1
