"""Approve / Reject buttons in Slack: the request must carry Slack's v0 signature within five
minutes; the Slack user must map to an active finance user or admin; four-eyes still holds."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select

from handoff.approvals import service as approvals
from handoff.context import AppContext
from handoff.kernel.storage import schema
from handoff.notifications.channels.slack import blocks
from handoff.users.service import Role
from tests.e2e.conftest import EMAILS, Site

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
MAPPED = {"UFIN": EMAILS[Role.FINANCE], "UADM": EMAILS[Role.ADMIN], "USAL": EMAILS[Role.SALES]}
RESPONSE_URL = "https://hooks.slack.com/actions/T0001/1234/abcd"


def click(
    client: httpx.Client,
    slack_user: str,
    action: str,
    approval_id: int,
    *,
    at: int,
    secret: str = SECRET,
    message: list[dict[str, Any]] | None = None,
) -> httpx.Response:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": slack_user},
        "actions": [{"action_id": action, "value": str(approval_id)}],
    }
    if message is not None:  # as Slack sends a click in a message: where to answer, and the message
        payload |= {"response_url": RESPONSE_URL, "message": {"type": "message", "blocks": message}}
    body = urlencode({"payload": json.dumps(payload)})
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{at}:{body}".encode(), hashlib.sha256).hexdigest()
    return client.post(
        "/slack/interactions",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(at),
            "X-Slack-Signature": signature,
        },
    )


def slack_context(site: Site) -> AppContext:
    config = site.ctx.config
    notifications = config.model.notifications.model_copy(update={"slack_users": MAPPED})
    model = config.model.model_copy(update={"notifications": notifications})
    ctx = replace(site.ctx, config=replace(config, model=model))
    site.app.state.ctx = ctx
    site.app.state.slack_signing_secret = SECRET
    return ctx


def test_buttons_approve_only_for_a_mapped_finance_user_other_than_the_requester(site: Site) -> None:
    ctx = slack_context(site)
    with site.client() as client:
        now = int(ctx.clock().timestamp())
        asked = approvals.request_credit_note(ctx, site.issued_number, "billed twice", f"user:{EMAILS[Role.FINANCE]}")
        aid = asked["id"]
        assert click(client, "UADM", "approve", aid, at=now, secret="wrong").status_code == 401
        assert click(client, "UADM", "approve", aid, at=now - 301).status_code == 401  # outside the 5-minute window
        assert click(client, "UADM", "ship-it", aid, at=now).status_code == 422
        unmapped = click(client, "UNOBODY", "approve", aid, at=now).json()
        assert not unmapped["ok"] and "not mapped to a handoff user" in unmapped["text"]
        sales = click(client, "USAL", "approve", aid, at=now).json()
        assert not sales["ok"] and "not an active finance user or admin" in sales["text"]
        own = click(client, "UFIN", "approve", aid, at=now).json()
        assert not own["ok"] and "someone else must approve" in own["text"]
        assert approvals.get_approval(ctx, aid)["status"] == "pending"
        done = click(client, "UADM", "approve", aid, at=now - 120)
        assert done.status_code == 200 and done.json() == {
            "ok": True,
            "text": f"approval {aid} approved by {EMAILS[Role.ADMIN]}",
        }
        approval = approvals.get_approval(ctx, aid)
        assert (approval["status"], approval["decided_by"]) == ("approved", f"user:{EMAILS[Role.ADMIN]}")
        assert not click(client, "UFIN", "reject", aid, at=now).json()["ok"]  # decided once


def test_without_a_signing_secret_the_route_is_off(site: Site) -> None:
    assert httpx.post(f"{site.url}/slack/interactions", content=b"payload=%7B%7D").status_code == 404


def test_an_approval_request_in_slack_carries_the_buttons() -> None:
    out = blocks(
        "approval", {"subject": "[handoff] Credit note", "text": "t", "to": ["f@x"], "approval_id": 7, "actions": True}
    )
    buttons = out[-1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [("approve", "7"), ("reject", "7")]
    assert blocks("approval", {"subject": "decided", "text": "t", "approval_id": 7})[-1]["type"] != "actions"


def answers(ctx: AppContext) -> dict[str, dict[str, Any]]:
    o = schema.outbox
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(o.c.key, o.c.payload).where(o.c.channel == "slack_reply"))
        return {r.key: r.payload for r in rows}


def test_a_decision_is_answered_in_place_of_the_buttons_and_a_refusal_to_the_clicker(site: Site) -> None:
    ctx = slack_context(site)
    asked = approvals.request_credit_note(ctx, site.issued_number, "billed twice", f"user:{EMAILS[Role.FINANCE]}")
    aid = asked["id"]
    message = blocks(
        "approval",
        {
            "subject": f"[handoff] Credit note for {site.issued_number} awaits approval",
            "text": "t",
            "to": ["finance@acme.example"],
            "approval_id": aid,
            "actions": True,
        },
    )
    with site.client() as client:
        now = int(ctx.clock().timestamp())
        click(client, "UFIN", "approve", aid, at=now, message=message)  # their own request
        [(key, refusal)] = answers(ctx).items()
        assert key.startswith(f"slack_reply:approval:{aid}:refused:")
        assert refusal["ephemeral"] is True and refusal["address"] == RESPONSE_URL
        assert "someone else must approve" in refusal["text"] and "message_blocks" not in refusal

        assert click(client, "UADM", "approve", aid, at=now, message=message).json()["ok"]
        done = answers(ctx)[f"slack_reply:approval:{aid}:approved"]
        assert done["address"] == RESPONSE_URL and done["message_blocks"] == message and "ephemeral" not in done
        draft = approvals.get_approval(ctx, aid)["result_invoice_id"]
        assert done["text"] == (
            f":white_check_mark: Approved by {EMAILS[Role.ADMIN]}: credit-note draft {draft} is ready to be issued."
        )

        # a stale message (decided meanwhile) clicked again: its buttons go, with what happened
        click(client, "UFIN", "reject", aid, at=now, message=message)
        stale = [
            v
            for k, v in answers(ctx).items()
            if k.startswith(f"slack_reply:approval:{aid}:refused:") and "already approved" in v["text"]
        ]
        assert len(stale) == 1 and stale[0]["message_blocks"] == message and "ephemeral" not in stale[0]

        click(client, "UNOBODY", "approve", aid, at=now, message=message)
        assert any("not mapped to a handoff user" in v["text"] and v.get("ephemeral") for v in answers(ctx).values())
