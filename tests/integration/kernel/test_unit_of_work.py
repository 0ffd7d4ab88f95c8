"""SQLite durability per transaction: event intake commits wait for the disk, applying them does not
(see UnitOfWork), and a connection goes back to the pool as durable as it came."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from handoff.context import AppContext
from handoff.deals.service.intake import process_pending, receive
from tests.builders import event
from tests.conftest import Clock

FULL, NORMAL = 2, 1


@pytest.fixture
def commits(ctx: AppContext) -> Iterator[list[int]]:
    """The `synchronous` level of each commit on the engine, as SQLite reports it."""
    if ctx.engine.dialect.name != "sqlite":
        pytest.skip("a setting of SQLite's")
    levels: list[int] = []

    def on_commit(conn: Any) -> None:
        levels.append(conn.connection.dbapi_connection.execute("PRAGMA synchronous").fetchone()[0])

    sa_event.listen(ctx.engine, "commit", on_commit)
    yield levels
    sa_event.remove(ctx.engine, "commit", on_commit)


def test_receiving_is_durable_and_applying_is_not(ctx: AppContext, clock: Clock, commits: list[int]) -> None:
    receive(ctx, [event(f"e{n}", clock.now + timedelta(seconds=n), deal_id=f"D-{n}") for n in range(3)])
    assert commits == [FULL]
    process_pending(ctx, batch=2)
    assert commits[1:] == [NORMAL, NORMAL]  # two batches
    with ctx.unit_of_work() as uow:  # the same pooled connection, durable again
        uow.commit()
    assert commits[-1] == FULL


def test_a_failed_non_durable_transaction_also_gives_its_connection_back_durable(
    ctx: AppContext, commits: list[int]
) -> None:
    with pytest.raises(RuntimeError), ctx.unit_of_work(durable=False):
        raise RuntimeError("the use case failed")
    with ctx.unit_of_work() as uow:
        uow.commit()
    assert commits == [FULL]
