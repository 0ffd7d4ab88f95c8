"""The usage webhook's secrets (`connectors.usage_webhooks`): a source whose setting holds a secret
is open, one without is left out (its webhook answers 404), a secret too short stops `serve`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from handoff.bootstrap import build_usage_webhook_secrets
from handoff.config import ConnectorsModel, Settings

HOOKS = {"platform": {"secret_env": "HANDOFF_PLATFORM_SECRET"}, "other": {"secret_env": "HANDOFF_OTHER_SECRET"}}


def _ctx() -> SimpleNamespace:
    """What the builder reads of a context: the business config's connectors."""
    connectors = ConnectorsModel.model_validate({"usage_webhooks": HOOKS})
    return SimpleNamespace(config=SimpleNamespace(model=SimpleNamespace(connectors=connectors)))


def test_only_sources_with_their_secret_are_open() -> None:
    settings = Settings.from_env({"HANDOFF_PLATFORM_SECRET": "s" * 32})
    assert build_usage_webhook_secrets(settings, _ctx()) == {"platform": "s" * 32}  # type: ignore[arg-type]


def test_a_short_secret_is_refused_naming_its_setting() -> None:
    settings = Settings.from_env({"HANDOFF_OTHER_SECRET": "short"})
    with pytest.raises(ValueError, match="HANDOFF_OTHER_SECRET"):
        build_usage_webhook_secrets(settings, _ctx())  # type: ignore[arg-type]
