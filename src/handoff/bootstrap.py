"""Composition root: the one place that builds engines, configuration and channels from settings.
Nothing connects at import time; tests build their own context with the same functions."""

from __future__ import annotations

from sqlalchemy import Engine

from handoff.app.context import AppContext
from handoff.config import Settings, load_business_config
from handoff.connectors.notify.email import SmtpChannel
from handoff.connectors.notify.log import LogChannel
from handoff.store.db import make_engine, upgrade
from handoff.worker.outbox import Channel


def build_context(settings: Settings, *, engine: Engine | None = None, migrate: bool = True) -> AppContext:
    engine = engine or make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return AppContext(engine, load_business_config(settings.config_file, settings.rules_file,
                                                    dunning_file=settings.dunning_file))


def build_channels(settings: Settings) -> dict[str, Channel]:
    return {
        "email": SmtpChannel(settings.smtp_host, settings.smtp_port, settings.mail_from),
        "log": LogChannel(settings.log_channel_file),
    }
