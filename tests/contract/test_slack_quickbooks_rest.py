"""Slack (requests checked against Slack's Web API description), QuickBooks (`requestid`
idempotency, lookup by DocNumber) and the generic REST target (Idempotency-Key), each under faults."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handoff.accounting.connectors.generic_rest import GenericRestChannel
from handoff.accounting.connectors.quickbooks import QuickBooksChannel
from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import StaticToken
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.delivery import DeliveryError
from handoff.notifications.channels.log import LogChannel
from handoff.notifications.channels.slack import SlackChannel, SlackReplyChannel, blocks
from handoff.notifications.channels.slack import make_client as slack_client
from tests.builders import event
from tests.conftest import Clock
from tests.contract.specs import check_slack
from tests.contract.standin import Reply, Seen, StandIn
from tests.contract.test_xero import T0, drain, issue, with_targets


def slack_api(seen: Seen) -> Reply:
    args = seen.json()
    # the spec's 200 example shape: {"ok": true, "channel", "ts", "message": {...}}
    return (
        200,
        {},
        {
            "ok": True,
            "channel": args["channel"],
            "ts": "1503435956.000247",
            "message": {"text": args.get("text", ""), "type": "message", "ts": "1503435956.000247"},
        },
    )


@pytest.fixture
def slack(oracles: Path) -> Iterator[StandIn]:
    server = StandIn(slack_api, check=lambda seen: check_slack(oracles, seen)).start()
    yield server
    server.stop()
    assert not server.violations, server.violations


def test_slack_messages_match_the_web_api_spec(ctx: AppContext, clock: Clock, slack: StandIn, tmp_path: Path) -> None:
    channels_cfg = ctx.config.model.notifications.model_copy(
        update={"exception_channels": ["slack"], "task_channels": ["slack"]}
    )
    model = ctx.config.model.model_copy(update={"notifications": channels_cfg})
    ctx = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, model=model))
    ingest(ctx, [event("e1", T0, deal_id="D-1", po_number=""), event("e2", T0, deal_id="D-2")])
    slack.fail("POST", "/chat.postMessage", "429")  # rate limited once: slack_sdk waits Retry-After
    channels = {
        "slack": SlackChannel(slack_client("xoxb-test", f"{slack.url}/api/"), "#billing"),
        "email": LogChannel(tmp_path / "m"),
        "log": LogChannel(tmp_path / "l"),
    }
    drain(ctx, clock, channels)
    posts = [s.json() for s in slack.seen if s.path == "/api/chat.postMessage"]
    assert len(posts) == 3  # two notices, one of them retried after the 429
    texts = {p["text"] for p in posts}
    assert any("D-1 cannot be invoiced" in t for t in texts) and any("D-2 is ready" in t for t in texts)
    assert all(p["channel"] == "#billing" and p["blocks"][0]["type"] == "header" for p in posts)
    assert all(s.headers["authorization"] == "Bearer xoxb-test" for s in slack.seen)


def test_slack_errors_split_into_permanent_and_transient(slack: StandIn) -> None:
    channel = SlackChannel(slack_client("xoxb-test", f"{slack.url}/api/"), "#nope")
    slack.handle = lambda seen: (200, {}, {"ok": False, "error": "channel_not_found"})
    with pytest.raises(DeliveryError) as err:
        channel.deliver("slack:task:D-1:x", {"subject": "s", "text": "t", "to": []})
    assert err.value.permanent and "channel_not_found" in str(err.value)
    slack.handle = lambda seen: (503, {}, {"ok": False, "error": "service_unavailable"})
    with pytest.raises(DeliveryError) as err:
        channel.deliver("slack:task:D-1:x", {"subject": "s", "text": "t", "to": []})
    assert not err.value.permanent


def _response_url_shape(seen: Seen) -> str | None:
    """A post to a response_url as Slack documents it: JSON with `text`, booleans for
    replace_original, `ephemeral` or `in_channel` for response_type."""
    body = seen.json()
    if seen.method != "POST" or not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return "not a JSON message with text"
    if not isinstance(body.get("replace_original", False), bool):
        return "replace_original must be a boolean"
    if body.get("response_type", "in_channel") not in ("ephemeral", "in_channel"):
        return f"response_type {body['response_type']!r}"
    return None


@pytest.fixture
def hooks() -> Iterator[StandIn]:
    server = StandIn(lambda seen: (200, {"content-type": "text/plain"}, "ok"), check=_response_url_shape).start()
    yield server
    server.stop()
    assert not server.violations, server.violations


def test_a_decision_replaces_the_clicked_message_at_its_response_url(hooks: StandIn) -> None:
    channel = SlackReplyChannel(allowed=(f"{hooks.url}/actions/",))
    request = blocks(
        "approval",
        {
            "subject": "[handoff] Credit note for INV-1 awaits approval",
            "text": "t",
            "to": ["finance@x"],
            "approval_id": 5,
            "actions": True,
        },
    )
    channel.deliver(
        "slack_reply:approval:5:approved",
        {
            "address": f"{hooks.url}/actions/T1/55/xyz",
            "text": ":white_check_mark: Approved by ann@x",
            "approval_id": 5,
            "message_blocks": request,
        },
    )
    [seen] = hooks.seen
    body = seen.json()
    assert seen.path == "/actions/T1/55/xyz" and body["replace_original"] is True
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "context", "context"]  # no buttons
    assert body["blocks"][-1]["elements"][0]["text"] == ":white_check_mark: Approved by ann@x"
    channel.deliver(
        "slack_reply:approval:5:refused:x",
        {
            "address": f"{hooks.url}/actions/T1/55/xyz",
            "text": "someone else must approve it",
            "approval_id": 5,
            "ephemeral": True,
        },
    )
    refusal = hooks.seen[-1].json()
    assert (refusal["response_type"], refusal["replace_original"]) == ("ephemeral", False)
    assert "blocks" not in refusal


def test_a_response_url_that_expired_or_is_not_slacks_fails_for_good(hooks: StandIn) -> None:
    channel = SlackReplyChannel(allowed=(f"{hooks.url}/actions/",))
    payload = {"address": f"{hooks.url}/actions/T1/55/xyz", "text": "t", "approval_id": 5}
    hooks.handle = lambda seen: (404, {}, "expired_url")  # past 30 minutes or five posts
    with pytest.raises(DeliveryError) as expired:
        channel.deliver("slack_reply:approval:5:approved", payload)
    assert expired.value.permanent and "404" in str(expired.value)
    hooks.handle = lambda seen: (500, {}, "internal_error")
    with pytest.raises(DeliveryError) as slack_side:
        channel.deliver("slack_reply:approval:5:approved", payload)
    assert not slack_side.value.permanent
    sent = len(hooks.seen)
    with pytest.raises(DeliveryError) as elsewhere:
        SlackReplyChannel().deliver("slack_reply:approval:5:approved", payload)  # only hooks.slack.com by default
    assert elsewhere.value.permanent and "is not on https://hooks.slack.com/" in str(elsewhere.value)
    assert len(hooks.seen) == sent  # nothing was posted


class QuickBooks:
    """QuickBooks Online as its docs describe it: `requestid` answers a repeat with the first result."""

    def __init__(self) -> None:
        self.entities: dict[str, list[dict[str, Any]]] = {
            "Customer": [],
            "Invoice": [],
            "CreditMemo": [],
            "Payment": [],
        }
        self.replies: dict[str, Reply] = {}

    def __call__(self, seen: Seen) -> Reply:
        if seen.headers.get("authorization") != "Bearer qb-token" or "minorversion" not in seen.query:
            return 401, {}, {"Fault": {"type": "AUTHENTICATION"}}
        entity = seen.path.rsplit("/", 1)[1]
        if entity == "query":
            q = seen.query["query"][0]
            name = q.split()[3]
            field, value = q.split(" where ")[1].split(" = ")
            found = [x for x in self.entities[name] if x.get(field) == value.strip("'").replace("\\'", "'")]
            return 200, {}, {"QueryResponse": {name: found} if found else {}, "time": "2026-11-02T09:00:00Z"}
        request_id = seen.query.get("requestid", [""])[0]
        assert request_id and len(request_id) <= 50
        if request_id in self.replies:
            return self.replies[request_id]
        name = {"customer": "Customer", "invoice": "Invoice", "creditmemo": "CreditMemo", "payment": "Payment"}[entity]
        body = seen.json()
        assert name != "Invoice" or (
            body["CustomerRef"]["value"] and body["Line"][0]["DetailType"] == "SalesItemLineDetail"
        )
        stored = {**body, "Id": str(sum(len(v) for v in self.entities.values()) + 1)}
        self.entities[name].append(stored)
        self.replies[request_id] = (200, {}, {name: stored})
        return self.replies[request_id]


def test_quickbooks_faults_end_with_each_invoice_once(ctx: AppContext, clock: Clock, tmp_path: Path) -> None:
    books = QuickBooks()
    server = StandIn(books).start()
    http = make_client(server.url, timeout=1.0)
    try:
        ctx = with_targets(ctx, accounting=["quickbooks"])
        numbers = issue(ctx, 3)
        server.fail("POST", "/invoice", "close_after", "timeout_after", "500", "close", "close", "close")
        sender = HttpSender(http, "quickbooks", sleep=lambda s: None)
        channel = QuickBooksChannel(sender, StaticToken(Secret("qb-token")), "9130")
        drain(
            ctx, clock, {"quickbooks": channel, "email": LogChannel(tmp_path / "m"), "log": LogChannel(tmp_path / "l")}
        )
    finally:
        http.close()
        server.stop()
    assert sorted(i["DocNumber"] for i in books.entities["Invoice"]) == sorted(numbers)
    assert len(books.entities["Customer"]) == 2


def test_generic_rest_faults_end_with_each_invoice_once(ctx: AppContext, clock: Clock, tmp_path: Path) -> None:
    store: dict[str, dict[str, Any]] = {}
    keys: set[str] = set()

    def ledger(seen: Seen) -> Reply:
        if seen.method == "GET":
            number = seen.path.rsplit("/", 1)[1]
            return (200, {}, store[number]) if number in store else (404, {}, {"error": "not found"})
        key = seen.headers["idempotency-key"]
        if key in keys:
            return 409, {}, {"error": "duplicate key"}
        keys.add(key)
        doc = seen.json()
        store[doc["number"]] = doc
        return 201, {}, doc

    server = StandIn(ledger).start()
    http = make_client(server.url, timeout=1.0)
    try:
        ctx = with_targets(ctx, accounting=["generic_rest"])
        numbers = issue(ctx, 2)
        server.fail("POST", "/invoices", "close_after", "429", "500")
        channel = GenericRestChannel(HttpSender(http, "accounting", sleep=lambda s: None), Secret("rest-token"))
        drain(
            ctx,
            clock,
            {"generic_rest": channel, "email": LogChannel(tmp_path / "m"), "log": LogChannel(tmp_path / "l")},
        )
    finally:
        http.close()
        server.stop()
    assert sorted(store) == sorted(numbers)
    assert {json.dumps(sorted(d)) for d in store.values()} == {
        json.dumps(
            sorted(
                [
                    "kind",
                    "number",
                    "issue_date",
                    "due_date",
                    "currency",
                    "corrects",
                    "payment_reference",
                    "po_number",
                    "order_refs",
                    "seller",
                    "customer",
                    "lines",
                    "totals",
                ]
            )
        )
    }
    assert all(s.headers.get("authorization") == "Bearer rest-token" for s in server.seen)
