"""The project tool connector against a real HTTP server on loopback, on SQLite and PostgreSQL: an
opened project is queued once through the outbox (queueing again changes nothing), the worker's
delivery posts it signed (HMAC over timestamp and body) with the outbox key as idempotency key, and
the tool's id is kept beside the project; a 500 is retried by the outbox, an answer without an id
is dead-lettered; the composition root builds the channel only when it is configured with a secret."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from handoff.bootstrap import build_channels
from handoff.config import ConnectorsModel, ProjectToolModel, Settings
from handoff.context import AppContext
from handoff.kernel.connectors.http import HttpSender, RetryPolicy, make_client
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.storage import schema
from handoff.projects.connectors.project_tool import ProjectToolClient, sign
from handoff.projects.service import project_tool
from handoff.projects.service.projects import get_project
from handoff.worker.outbox import DeliveryReport, deliver_due
from tests.contract.standin import Reply, Seen, StandIn
from tests.e2e.project_builders import open_services_project

SECRET = "project-tool-secret-0123456789abcdef"


def _verify(seen: Seen) -> str | None:
    """What the receiving side checks: the signature over timestamp and body, and the key."""
    stamp, given = seen.headers.get("x-handoff-timestamp", ""), seen.headers.get("x-handoff-signature", "")
    if not hmac.compare_digest(sign(SECRET, stamp, seen.body), given):
        return "signature does not match"
    if not seen.headers.get("idempotency-key"):
        return "no Idempotency-Key"
    return None


class Tool:
    """The project tool: answers each new project with its id; a repeated key with the first answer."""

    def __init__(self) -> None:
        self.by_key: dict[str, str] = {}
        self.answer_id = True

    def __call__(self, seen: Seen) -> Reply:
        key = seen.headers["idempotency-key"]
        if key not in self.by_key:
            self.by_key[key] = f"PT-{len(self.by_key) + 1}"
        return (201, {}, {"id": self.by_key[key]} if self.answer_id else {"ok": True})


@pytest.fixture
def tool() -> Iterator[tuple[StandIn, Tool]]:
    behaviour = Tool()
    server = StandIn(behaviour, check=_verify).start()
    yield server, behaviour
    server.stop()
    assert not server.violations, server.violations


def configured(ctx: AppContext, url: str) -> AppContext:
    connectors = ConnectorsModel(project_tool=ProjectToolModel(url=url, secret_env="HANDOFF_PROJECT_TOOL_SECRET"))
    model = ctx.config.model.model_copy(update={"connectors": connectors})
    return dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, model=model))


def deliver(ctx: AppContext, url: str) -> DeliveryReport:
    """One pass of the worker's outbox delivery with the project tool channel (one try per call)."""
    with make_client(url, timeout=2.0) as client:
        sender = HttpSender(client, "project tool", RetryPolicy(attempts=1), sleep=lambda s: None)
        channel = project_tool.ProjectToolChannel(ctx, ProjectToolClient(sender, url, Secret(SECRET), ctx.clock))
        return deliver_due(ctx, {"project_tool": channel})


def _rows(ctx: AppContext) -> list[tuple[str, str]]:
    with ctx.engine.connect() as conn:
        ob = schema.outbox
        return [tuple(r) for r in conn.execute(select(ob.c.key, ob.c.status).where(ob.c.channel == "project_tool"))]


def test_an_opened_project_is_pushed_once_and_its_id_kept(ctx: AppContext, tool: tuple[StandIn, Tool]) -> None:
    server, _ = tool
    ctx = configured(ctx, f"{server.url}/api/projects")
    pid = open_services_project(ctx, "C-1", "finance@acme.example")
    assert project_tool.push_projects(ctx, [pid]) == 1
    assert project_tool.push_projects(ctx, [pid]) == 1  # queued again: the same outbox key, one row
    assert _rows(ctx) == [(f"project_tool:{pid}", "pending")]

    report = deliver(ctx, f"{server.url}/api/projects")
    assert report.delivered == 1
    [seen] = server.seen
    assert (seen.method, seen.path) == ("POST", "/api/projects")
    assert seen.headers["idempotency-key"] == f"project_tool:{pid}"
    sent = seen.json()
    assert (sent["project_id"], sent["contract_id"], sent["currency"]) == (pid, "C-1", "EUR")
    assert [(r["role"], r["rate"], r["budget_hours"]) for r in sent["roles"]] == [
        ("architect", "150.00", "100"),
        ("developer", "120.00", "200"),
    ]
    assert [p["key"] for p in sent["phases"]] == ["delivery"] and sent["phases"][0]["start"] == "2026-10-01"
    assert [m["key"] for m in sent["milestones"]] == ["M1"]
    assert get_project(ctx, pid).external_ids == {"project_tool": "PT-1"}
    assert _rows(ctx) == [(f"project_tool:{pid}", "delivered")]


def test_failures_are_retried_or_dead_lettered(ctx: AppContext, tool: tuple[StandIn, Tool]) -> None:
    server, behaviour = tool
    ctx = configured(ctx, server.url)
    pid = open_services_project(ctx, "C-2", "finance@acme.example")
    project_tool.push_projects(ctx, [pid])
    server.fail("POST", "/", "500")
    first = deliver(ctx, server.url)
    assert (first.delivered, first.retried) == (0, 1)
    assert "project_tool" not in get_project(ctx, pid).external_ids

    behaviour.answer_id = False  # an answer the id cannot be read from: no use retrying it
    ctx.clock.advance(hours=1)  # type: ignore[attr-defined]
    second = deliver(ctx, server.url)
    assert second.dead == 1 and _rows(ctx) == [(f"project_tool:{pid}", "dead")]
    assert "project_tool" not in get_project(ctx, pid).external_ids


def test_nothing_is_queued_or_built_without_configuration(ctx: AppContext, tool: tuple[StandIn, Tool]) -> None:
    server, _ = tool
    pid = open_services_project(ctx, "C-3", "finance@acme.example")
    assert project_tool.push_projects(ctx, [pid]) == 0 and _rows(ctx) == []
    settings = Settings.from_env({"HANDOFF_DATABASE_URL": "sqlite://"})
    assert "project_tool" not in build_channels(settings, configured(ctx, server.url))  # no secret: not built
    with_secret = Settings.from_env({"HANDOFF_DATABASE_URL": "sqlite://", "HANDOFF_PROJECT_TOOL_SECRET": SECRET})
    assert "project_tool" in build_channels(with_secret, configured(ctx, server.url))
    assert "project_tool" not in build_channels(with_secret, ctx)  # not configured: not built
