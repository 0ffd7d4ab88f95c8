"""The composition root builds the outbox channels the settings call for."""

from __future__ import annotations

from handoff.bootstrap import build_channels
from handoff.config import Settings
from handoff.notifications.channels.slack import SlackChannel, SlackReplyChannel


def test_answers_to_slack_clicks_go_out_where_clicks_can_come_in() -> None:
    plain = build_channels(Settings.from_env({}))
    assert set(plain) == {"email", "log"}
    with_clicks = build_channels(Settings.from_env({"HANDOFF_SLACK_SIGNING_SECRET": "s3cret"}))
    assert isinstance(with_clicks["slack_reply"], SlackReplyChannel)
    assert with_clicks["slack_reply"].allowed == ("https://hooks.slack.com/",)
    messages = build_channels(Settings.from_env({"HANDOFF_SLACK_BOT_TOKEN": "xoxb-1", "HANDOFF_SLACK_CHANNEL": "#b"}))
    assert isinstance(messages["slack"], SlackChannel) and "slack_reply" not in messages
