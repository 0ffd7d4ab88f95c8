"""The API compiles the e-invoice rule sets at start, on a background thread (start-up does not
wait for them); once warm, every stylesheet in force is compiled in this process."""

from __future__ import annotations

import threading

import pytest

from handoff.context import AppContext
from handoff.invoicing.documents import rulesets, validation
from handoff.invoicing.service import einvoicing
from handoff.web.app import create_app


def test_the_api_warms_the_rule_sets_at_start(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[threading.Thread] = []

    def recording() -> threading.Thread:
        started.append(validation.warm_in_background())
        return started[-1]

    monkeypatch.setattr(einvoicing, "warm_in_background", recording)
    app = create_app(ctx, webhook_token="s" * 24, secret_key="k", process_inline=False)
    assert started == []  # nothing compiles at import or construction
    for handler in app.router.on_startup:  # what the server runs at start
        handler()
    assert len(started) == 1 and started[0].daemon
    started[0].join(60)
    for name, files in rulesets.SETS.items():
        for syntax in files:
            stylesheet = rulesets.rule_set(name).stylesheet(syntax)
            assert stylesheet is not None
            assert validation._compiled(stylesheet) is validation._compiled(stylesheet)  # cached, not recompiled
