"""Slack mrkdwn injection: text from a CRM or a user reaches Slack with `&`, `<` and `>` escaped
(Slack's rule for mrkdwn, https://api.slack.com/reference/surfaces/formatting#escaping), so a deal
name cannot mention `@channel` or show a link of its own. Checked on the Block Kit JSON as posted
to a stand-in of Slack's Web API (requests checked against its published description)."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.notifications.channels.log import LogChannel
from handoff.notifications.channels.slack import TEXT_LIMIT, SlackChannel, SlackReplyChannel, blocks, decided
from handoff.notifications.channels.slack import make_client as slack_client
from tests.builders import event
from tests.conftest import Clock
from tests.contract.specs import check_slack
from tests.contract.standin import StandIn
from tests.contract.test_slack_quickbooks_rest import slack_api
from tests.contract.test_xero import T0, drain

HOSTILE = "<!channel> <http://evil.example|Click to approve> & <@U0BOSS>"


def mrkdwn_texts(node: Any) -> Iterator[str]:
    """Every mrkdwn text object's text in a Block Kit structure."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            yield from mrkdwn_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from mrkdwn_texts(item)


def assert_inert(text: str) -> None:
    """No Slack control sequence survives: no `<` or `>` at all, every `&` starts an entity."""
    assert "<" not in text and ">" not in text, text
    assert text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0, text


@pytest.fixture
def slack(oracles: Path) -> Iterator[StandIn]:
    server = StandIn(slack_api, check=lambda seen: check_slack(oracles, seen)).start()
    yield server
    server.stop()
    assert not server.violations, server.violations


def test_a_hostile_deal_name_reaches_slack_as_plain_text(
    ctx: AppContext, clock: Clock, slack: StandIn, tmp_path: Path
) -> None:
    notifications = ctx.config.model.notifications.model_copy(
        update={"exception_channels": ["slack"], "task_channels": ["slack"]}
    )
    model = ctx.config.model.model_copy(update={"notifications": notifications})
    ctx = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, model=model))
    ingest(
        ctx,
        [
            event("e1", T0, deal_id="D-1", deal_name=HOSTILE, po_number=""),  # blocked: exception notice
            event("e2", T0, deal_id="D-2", deal_name=HOSTILE),  # ready: task notice
        ],
    )
    channels = {
        "slack": SlackChannel(slack_client("xoxb-test", f"{slack.url}/api/"), "#billing"),
        "log": LogChannel(tmp_path / "l"),
        "email": LogChannel(tmp_path / "m"),
    }
    drain(ctx, clock, channels)
    posts = [s.json() for s in slack.seen if s.path == "/api/chat.postMessage"]
    assert len(posts) == 2
    for post in posts:
        texts = [post["text"], *mrkdwn_texts(post["blocks"])]
        for text in texts:
            assert_inert(text)
        body = post["blocks"][1]["text"]["text"]
        assert HOSTILE in html.unescape(body)  # nothing lost: Slack shows the name as it was typed
        assert "&lt;!channel&gt; &lt;http://evil.example|Click to approve&gt; &amp; &lt;@U0BOSS&gt;" in body
        assert post["blocks"][0]["text"]["type"] == "plain_text"  # the header is never parsed


def test_recipients_and_decisions_are_escaped_and_clipping_keeps_entities_whole() -> None:
    request = blocks(
        "approval",
        {"subject": "s", "text": "t", "to": ["<!here>@x.example"], "approval_id": 5, "actions": True},
    )
    [recipients] = [b for b in request if b["type"] == "context"]
    assert recipients["elements"][0]["text"] == "For: &lt;!here&gt;@x.example"
    answered = decided(request, 5, ":white_check_mark: Approved by <!channel>")
    assert answered[-1]["elements"][0]["text"] == ":white_check_mark: Approved by &lt;!channel&gt;"
    long = blocks("task", {"subject": "s", "text": "x" * (TEXT_LIMIT - 10) + "<" * 50})
    text = long[1]["text"]["text"]
    assert_inert(text)
    assert len(text) <= 3000 and text.endswith("&lt;…")  # Slack's section limit; cut between entities


def test_a_reply_at_the_response_url_is_escaped(oracles: Path) -> None:
    hooks = StandIn(lambda seen: (200, {"content-type": "text/plain"}, "ok")).start()
    try:
        channel = SlackReplyChannel(allowed=(f"{hooks.url}/actions/",))
        for ephemeral in (True, False):
            channel.deliver(
                "slack_reply:approval:5:x",
                {
                    "address": f"{hooks.url}/actions/T1/55/xyz",
                    "text": "refused for <!channel> & <http://evil.example|you>",
                    "approval_id": 5,
                    "ephemeral": ephemeral,
                },
            )
    finally:
        hooks.stop()
    for seen in hooks.seen:
        body = seen.json()
        for text in (body["text"], *mrkdwn_texts(body.get("blocks", []))):
            assert_inert(text)
