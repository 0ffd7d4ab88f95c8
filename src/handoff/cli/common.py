"""What the shell gives every command: settings from the environment (with --db), one AppContext per command,
and closing the engines made for a command when it ends (matters when commands run in-process, as in tests).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import typer

from handoff.config import ConfigError, Settings
from handoff.kernel.cli_support import fail

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from handoff.context import AppContext

_engines: list[Engine] = []


def settings(db: str | None = None) -> Settings:
    current = Settings.from_env()
    return replace(current, database_url=db) if db else current


def context(db: str | None = None) -> AppContext:
    from handoff.bootstrap import build_context
    from handoff.kernel.connectors.secrets import SecretsError

    try:
        ctx = build_context(settings(db))
    except (ConfigError, SecretsError) as exc:
        fail(str(exc))
    _engines.append(ctx.engine)
    return ctx


def closed_with_command(engine: Engine) -> Engine:
    _engines.append(engine)
    return engine


def close_engines_on_exit(click_ctx: typer.Context) -> None:
    def close() -> None:
        for engine in _engines:
            engine.dispose()
        _engines.clear()

    click_ctx.call_on_close(close)
