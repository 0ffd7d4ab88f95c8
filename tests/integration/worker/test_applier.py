"""The API's inline processor: acknowledgements first, but it never starves."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest

from handoff.bootstrap import build_context
from handoff.config import Settings
from handoff.context import AppContext
from handoff.deals.service.intake import pending_count, receive
from handoff.web.app import create_app
from handoff.worker.applier import ApplierProcess, InlineProcessor
from tests.builders import event
from tests.conftest import Clock


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


@pytest.fixture
def sqlite_settings(ctx: AppContext) -> Settings:
    if ctx.engine.dialect.name != "sqlite":
        pytest.skip("the applier process is for a SQLite file")
    return Settings.from_env({**os.environ, "HANDOFF_DATABASE_URL": str(ctx.engine.url)})


def _applied(ctx: AppContext, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout  # (a new interpreter imports everything first)
    while pending_count(ctx) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pending_count(ctx) == 0


def test_serve_applies_events_in_a_child_process_started_again_if_it_dies(
    ctx: AppContext, clock: Clock, sqlite_settings: Settings
) -> None:
    api = create_app(ctx, make_context=partial(build_context, sqlite_settings, migrate=False), process_inline=True)
    assert isinstance(create_app(ctx, process_inline=True).state.processor, InlineProcessor)  # without settings
    applier = api.state.processor
    assert isinstance(applier, ApplierProcess)
    applier.start()
    try:
        with ctx.engine.connect() as conn:  # the child checkpoints the WAL, not this process's commits
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
        _received(ctx, clock, 10)
        applier.wake()
        assert _applied(ctx)
        first = applier._process.pid
        os.kill(first, signal.SIGKILL)
        applier._process.join()
        time.sleep(1.0)  # (a child is started again at most once a second)
        receive(ctx, [event("late", clock.now, deal_id="D-late")])
        applier.wake()
        assert _applied(ctx)
        assert applier._process.pid != first
    finally:
        applier.stop()
    assert not applier._process.is_alive()  # stop ends the child: it saw its pipe close


_HOLD = """
import sys, time
from handoff.kernel.storage.db import make_engine
from handoff.kernel.storage.unit_of_work import UnitOfWork
with UnitOfWork(make_engine(sys.argv[1])) as uow:
    print("holding", flush=True)
    time.sleep(1.0)
    uow.commit()
print("done", flush=True)
"""


def test_writers_of_two_processes_queue_on_the_writer_lock(ctx: AppContext, clock: Clock) -> None:
    if ctx.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single writer")
    database = Path(ctx.engine.url.database or "")
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(ctx.engine.url)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    ) as other:
        assert other.stdout is not None and other.stdout.readline().strip() == "holding"
        with open(f"{database}-writer.lock", "rb") as lock, pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the other process holds it
        _received(ctx, clock, 1)  # waits for the other writer, then writes
        assert other.wait() == 0 and other.stdout.read().strip() == "done"
    assert pending_count(ctx) == 1
