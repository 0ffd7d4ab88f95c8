"""Slack: notices as Block Kit messages through `chat.postMessage` (slack_sdk's WebClient).

The outbox key's second part is the topic (`slack:exception:...`, `slack:task:...`,
`slack:digest:...`, `slack:approval:...`); each topic gets its own layout; an approval request
carries Approve / Reject buttons, whose clicks come back signed (`parse_interaction`). slack_sdk retries a 429 after its
`Retry-After` once and a dropped connection once; what still fails becomes a DeliveryError:
transient for rate limits and Slack-side errors, permanent for errors a retry cannot fix
(`channel_not_found`, `invalid_auth`, ...). Slack answers HTTP 200 with `ok: false` for those.
chat.postMessage has no idempotency key: delivery is at least once, like e-mail.

A decision made with a button is answered at the click's `response_url` (`SlackReplyChannel`,
outbox channel `slack_reply`): the request message is replaced by itself with the decision in
place of its buttons, so nobody clicks them again; a refused click gets a reply only the clicker
sees. Slack takes up to five posts to a response_url within 30 minutes, answering `ok`.

Every text that Slack parses as mrkdwn (section and context texts, a message's top-level `text`)
goes through `mrkdwn`, since deal names, addresses and reasons come from a CRM or a user: `&`,
`<` and `>` escaped as Slack documents, so such text cannot mention `@channel` or show a link.
Headers and button labels are `plain_text`, which Slack does not parse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.webhook import WebhookClient

from handoff.kernel.delivery import DeliveryError
from handoff.kernel.escaping import slack_mrkdwn

TRANSIENT = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)
TEXT_LIMIT = 2900  # a section's text may hold 3000 characters

ICONS = {
    "exception": ":warning:",
    "task": ":receipt:",
    "digest": ":bar_chart:",
    "payment_status": ":moneybag:",
    "approval": ":lock:",
}
DECISIONS = ("approve", "reject")


def make_client(token: str, base_url: str | None = None, timeout: int = 15) -> WebClient:
    return WebClient(
        token=token,
        base_url=base_url or WebClient.BASE_URL,
        timeout=timeout,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1), RateLimitErrorRetryHandler(max_retry_count=1)],
    )


def mrkdwn(text: object, limit: int = TEXT_LIMIT) -> str:
    """Outside text as a mrkdwn field shows it literally, clipped to `limit` characters
    without cutting an entity (`&amp;` at most five) in two."""
    escaped = slack_mrkdwn(str(text))
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    amp = cut.rfind("&", len(cut) - 5)
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def blocks(topic: str, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Block Kit layout per topic: a header, the message, who it is for."""
    subject = str(payload.get("subject", "")).removeprefix("[handoff] ")
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{subject}"[:150], "emoji": True}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{ICONS.get(topic, '')} {mrkdwn(payload.get('text', ''))}".strip()},
        },
    ]
    recipients = mrkdwn(", ".join(payload.get("to") or []))
    if recipients:
        label = {"exception": "Owner", "task": "Finance", "digest": "Sent to"}.get(topic, "For")
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{label}: {recipients}"}]})
    if topic == "task" and payload.get("review_url"):
        out.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Review draft"},
                        "style": "primary",
                        "url": payload["review_url"],
                        "action_id": "review_draft",
                    }
                ],
            }
        )
    if topic == "approval" and payload.get("actions") and payload.get("approval_id"):
        value = str(payload["approval_id"])
        out.append(
            {
                "type": "actions",
                "block_id": f"approval:{value}",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "style": "primary",
                        "action_id": "approve",
                        "value": value,
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Reject"},
                        "style": "danger",
                        "action_id": "reject",
                        "value": value,
                    },
                ],
            }
        )
    return out


class InteractionError(Exception):
    """An interaction request that is not authentic (`unauthenticated`) or not one we understand."""

    def __init__(self, message: str, unauthenticated: bool = False) -> None:
        super().__init__(message)
        self.unauthenticated = unauthenticated


@dataclass(frozen=True, slots=True)
class Interaction:
    slack_user: str  # Slack's user id, e.g. U0123ABC
    action: str  # approve | reject
    approval_id: int
    response_url: str = ""  # where the click is answered
    message_blocks: tuple[dict[str, Any], ...] = ()  # the message clicked in, as Slack shows it


class _At(Clock):
    def __init__(self, now: datetime) -> None:
        self._now = now.timestamp()

    def now(self) -> float:
        return self._now


def parse_interaction(signing_secret: str, body: bytes, headers: Mapping[str, str], now: datetime) -> Interaction:
    """A button click, after checking Slack's v0 signature over the raw body and that the request
    timestamp is within five minutes of `now` (a replayed request is refused)."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = lower.get("x-slack-request-timestamp", "")
    if not timestamp.isdigit():
        raise InteractionError("missing or malformed X-Slack-Request-Timestamp", unauthenticated=True)
    if not SignatureVerifier(signing_secret, _At(now)).is_valid(body, timestamp, lower.get("x-slack-signature")):
        raise InteractionError("bad X-Slack-Signature or timestamp outside the 5-minute window", unauthenticated=True)
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
        action = payload["actions"][0]
        message = payload.get("message") or {}
        found = Interaction(
            str(payload["user"]["id"]),
            str(action["action_id"]),
            int(action["value"]),
            str(payload.get("response_url") or ""),
            tuple(message.get("blocks") or ()),
        )
    except (KeyError, IndexError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InteractionError(f"not a block action: {type(exc).__name__}") from None
    if found.action not in DECISIONS:
        raise InteractionError(f"unknown action {found.action!r}")
    return found


class SlackChannel:
    def __init__(self, client: WebClient, channel: str) -> None:
        self.client, self.channel = client, channel

    def __repr__(self) -> str:
        return f"SlackChannel(channel={self.channel!r})"

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        topic = key.split(":")[1] if key.count(":") >= 1 else "notice"
        try:
            self.client.chat_postMessage(
                channel=str(payload.get("slack_channel") or self.channel),
                text=mrkdwn(payload.get("subject", "")),
                blocks=blocks(topic, payload),
                unfurl_links=False,
            )
        except SlackApiError as exc:
            code = str(exc.response.get("error", "")) if exc.response is not None else ""
            status = exc.response.status_code if exc.response is not None else 0
            raise DeliveryError(
                f"slack chat.postMessage: {code or 'HTTP ' + str(status)}",
                permanent=code not in TRANSIENT and status < 500 and status != 429,
            ) from None
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(f"slack chat.postMessage: {type(exc).__name__}") from None


def decided(message_blocks: Sequence[Mapping[str, Any]], approval_id: int, outcome: str) -> list[dict[str, Any]]:
    """The request message as it was, with the decision in place of its Approve / Reject buttons."""
    kept = [dict(b) for b in message_blocks if b.get("block_id") != f"approval:{approval_id}"]
    return [*kept, {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(outcome)}]}]


class SlackReplyChannel:
    """Answers a click at its `response_url` (payload: `address`, `text`, `approval_id`, and
    `message_blocks` to replace the message, or `ephemeral` for the clicker alone). Posts only to
    Slack's hooks host: the address came in a signed request, and is still never trusted blindly."""

    def __init__(self, allowed: tuple[str, ...] = ("https://hooks.slack.com/",), timeout: int = 15) -> None:
        self.allowed, self.timeout = allowed, timeout

    def __repr__(self) -> str:
        return f"SlackReplyChannel(allowed={self.allowed!r})"

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        url, text = str(payload.get("address", "")), str(payload.get("text", ""))
        if not url.startswith(self.allowed):
            raise DeliveryError(f"slack response_url {url[:60]!r} is not on {', '.join(self.allowed)}", permanent=True)
        client = WebhookClient(
            url,
            timeout=self.timeout,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=1),
                RateLimitErrorRetryHandler(max_retry_count=1),
            ],
        )
        try:
            if payload.get("ephemeral"):
                answer = client.send(text=mrkdwn(text), response_type="ephemeral", replace_original=False)
            else:
                answer = client.send(
                    text=mrkdwn(text),
                    replace_original=True,
                    blocks=decided(payload.get("message_blocks") or (), int(payload.get("approval_id", 0)), text),
                )
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(f"slack response_url: {type(exc).__name__}") from None
        if answer.status_code != 200:
            # 404 / 410: expired or used up (30 minutes, 5 posts); 400: a message Slack refuses
            raise DeliveryError(
                f"slack response_url: HTTP {answer.status_code} {answer.body[:80]}",
                permanent=answer.status_code < 500 and answer.status_code != 429,
            )
