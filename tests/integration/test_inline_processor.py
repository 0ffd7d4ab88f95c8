"""The API's inline processor: acknowledgements first, but it never starves."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from handoff.app.context import AppContext
from handoff.app.intake import pending_count, receive
from handoff.web.processing import InlineProcessor
from tests.conftest import Clock
from tests.helpers import event


def _received(ctx: AppContext, clock: Clock, count: int) -> None:
    receive(ctx, [event(f"e{n}", clock.now + timedelta(seconds=n), deal_id=f"D-{n}") for n in range(count)])


def test_applies_everything_pending_in_slices(ctx: AppContext, clock: Clock) -> None:
    _received(ctx, clock, 21)  # two full slices of 8 and a partial one
    processor = InlineProcessor(ctx, linger=0, batch=8)
    processor._apply_pending()
    assert pending_count(ctx) == 0


def test_waits_for_requests_being_stored_but_not_for_ever(ctx: AppContext, clock: Clock) -> None:
    _received(ctx, clock, 10)
    asked = threading.Event()

    def always_busy() -> bool:  # a steady stream of webhooks
        asked.set()
        return True

    processor = InlineProcessor(ctx, linger=0, batch=4, busy=always_busy, max_defer=0.001)
    processor._apply_pending()
    assert asked.is_set()  # it did defer to the requests
    assert pending_count(ctx) == 0  # and still applied every event


def test_the_processor_thread_checkpoints_the_wal_not_the_requests_commits(ctx: AppContext, clock: Clock) -> None:
    if ctx.engine.dialect.name != "sqlite":
        pytest.skip("a write-ahead log of SQLite's")
    processor = InlineProcessor(ctx, linger=0)
    processor.checkpoint_every = 0.05
    database = Path(ctx.engine.url.database or "")
    with closing(sqlite3.connect(database)) as raw:  # the schema's pages, all in the file
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = database.stat().st_size
    processor.start()
    try:
        with ctx.engine.connect() as conn:  # connections now leave the WAL alone at commit time
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
        _received(ctx, clock, 200)
        processor.wake()
        deadline = time.monotonic() + 10
        while (pending_count(ctx) or database.stat().st_size == size) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        processor.stop()
    assert pending_count(ctx) == 0
    assert database.stat().st_size > size  # the new pages reached the file: the processor checkpointed
