"""A polled CRM page with an event the inbox cannot take (text no database stores, a time in the
future): that event is left out with a warning naming it; the others are stored and the cursor
moves on, so one bad record never stops every poll after it. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.crm_sync import poll
from handoff.kernel.storage import schema
from handoff.kernel.storage.connector_state import DbConnectorState
from tests.builders import event
from tests.conftest import Clock


class Page:
    name = "salesforce"

    def __init__(self, events: list[DealEvent]) -> None:
        self.events = events

    def poll(self, cursor: str | None) -> tuple[list[DealEvent], str | None]:
        return self.events, "cursor-2"


def test_a_bad_record_is_left_out_and_the_poll_goes_on(
    ctx: AppContext, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    page = Page(
        [
            event("good", clock.now, source="salesforce"),
            event("surrogate", clock.now, source="salesforce", deal_id="D-2", deal_name="\ud800"),
            event("future", datetime(2099, 1, 1, tzinfo=UTC), source="salesforce", deal_id="D-3"),
        ]
    )
    with caplog.at_level(logging.WARNING, logger="handoff.deals.crm_sync"):
        report = poll(ctx, page)
    assert report.received == 1
    with ctx.engine.connect() as conn:
        assert list(conn.execute(select(schema.inbox.c.event_id)).scalars()) == ["good"]
    assert DbConnectorState(ctx).load("salesforce:cursor") == {"cursor": "cursor-2"}
    assert "surrogate" in caplog.text and "future" in caplog.text
