"""A seeded web app on loopback (uvicorn in a thread), on SQLite and on PostgreSQL via `ctx`.

Seed: a sales user (`sales@acme.example`) owns D-1 (ready, invoice draft) and D-2 (blocked: no PO);
another owner has D-3 (blocked) and D-4 (invoice issued). One user per role, each with a password
and an API token."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.invoicing.service.issuing import issue_draft
from handoff.kernel.storage import schema
from handoff.users import service as users
from handoff.users.service import Role
from handoff.web.app import create_app
from tests.builders import event

T0 = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
SALES, OTHER = "sales@acme.example", "other.sales@acme.example"
PASSWORDS = {r: f"pw-{r.value}-12345" for r in Role}
EMAILS = {
    Role.SALES: SALES,
    Role.FINANCE: "finance@acme.example",
    Role.AUDITOR: "auditor@acme.example",
    Role.ADMIN: "admin@acme.example",
}


@dataclass
class Site:
    url: str
    app: FastAPI
    ctx: AppContext
    tokens: dict[Role, str] = field(default_factory=dict)
    user_ids: dict[Role, int] = field(default_factory=dict)
    draft_id: int = 0  # D-1's invoice draft
    issued_number: str = ""  # D-4's invoice

    def client(self, role: Role | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


def seed(ctx: AppContext) -> Site:
    # users first: a deal's exceptions go to its owner only when the owner is a user (else to finance)
    added = {role: users.add_user(ctx, email, role, PASSWORDS[role], actor="test") for role, email in EMAILS.items()}
    ingest(
        ctx,
        [
            event("s1", T0, deal_id="D-1", owner_email=SALES),
            event("s2", T0, deal_id="D-2", owner_email=SALES, po_number="", customer_legal_name="Blocked Sales AG"),
            event("s3", T0, deal_id="D-3", owner_email=OTHER, po_number=""),
            event("s4", T0, deal_id="D-4", owner_email=OTHER, customer_id="C-4"),
        ],
    )
    with ctx.engine.connect() as conn:
        drafts = dict(
            conn.execute(
                select(schema.orders.c.deal_id, schema.invoice_orders.c.invoice_id).join(
                    schema.invoice_orders, schema.invoice_orders.c.order_id == schema.orders.c.id
                )
            ).all()
        )
    issued = issue_draft(ctx, drafts["D-4"], "finance@acme.example")
    site = Site("", FastAPI(), ctx, draft_id=drafts["D-1"], issued_number=issued.number or "")
    for role, user in added.items():
        site.tokens[role], _ = users.create_token(ctx, user, "test", actor="test")
        site.user_ids[role] = user.id
    return site


@pytest.fixture
def site(ctx: AppContext) -> Iterator[Site]:
    ctx.clock.now = T0 + timedelta(days=12)  # type: ignore[attr-defined]
    data = seed(ctx)
    data.app = create_app(ctx, webhook_token="s3cret", secret_key="test-secret")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(data.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    data.url = f"http://127.0.0.1:{port}"
    yield data
    server.should_exit = True
    thread.join(5)


@contextmanager
def login(site: Site, role: Role) -> Iterator[httpx.Client]:
    """A browser-like client logged in through the login form (session cookie + CSRF secret)."""
    with httpx.Client(base_url=site.url, timeout=30, follow_redirects=False) as client:
        page = client.get("/login")
        response = client.post(
            "/login", data={"email": EMAILS[role], "password": PASSWORDS[role], "csrf_token": csrf_of(page.text)}
        )
        assert response.status_code == 303, response.text
        yield client


def csrf_of(html: str) -> str:
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)
