"""Group commit for webhook intake: events that arrive while a commit is under way are stored
together in the next transaction, so concurrent requests share one fsync. Each request still
gets its answer only after its event is durably stored (the inbox promise), but under load the
disk is flushed once per group instead of once per event."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

from fastapi.concurrency import run_in_threadpool

from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.intake import receive


class GroupCommitter:
    def __init__(self, ctx: AppContext, max_group: int = 200) -> None:
        self.ctx, self.max_group = ctx, max_group
        # requests whose event is not stored yet, read by the inline processor: in shared memory,
        # so that an applier process can read it too
        self.waiting_count = multiprocessing.get_context("spawn").RawValue("i", 0)
        self._queue: asyncio.Queue[tuple[DealEvent, asyncio.Future[bool]]] | None = None
        self._task: asyncio.Task[Any] | None = None

    @property
    def waiting(self) -> int:
        return int(self.waiting_count.value)

    async def submit(self, event: DealEvent) -> bool:
        """Store the event; True when it is new, False for a redelivery."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiting_count.value += 1
        try:
            await self._queue.put((event, future))
            return await future
        finally:
            self.waiting_count.value -= 1

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            group = [await self._queue.get()]
            while not self._queue.empty() and len(group) < self.max_group:
                group.append(self._queue.get_nowait())
            try:
                report = await run_in_threadpool(receive, self.ctx, [event for event, _ in group])
            except Exception as exc:  # the whole group failed to store: every request hears of it
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for event, future in group:
                if not future.done():
                    future.set_result((event.source, event.event_id) in report.new)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
