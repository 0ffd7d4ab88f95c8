"""Group commit for webhook intake: events that arrive while a commit is under way are stored
together in the next transaction, so concurrent requests share one fsync. Each request still
gets its answer only after its event is durably stored (the inbox promise), but under load the
disk is flushed once per group instead of once per event.

Sharing a transaction must not share a failure: the webhook refuses what the database would refuse
before an event joins a group, and a group whose commit fails all the same is split in halves and
each half tried again, down to the event that broke it, which alone hears of the error. A database
that cannot be reached (`transient`) fails the whole group at once: halving would only repeat the
wait."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

from fastapi.concurrency import run_in_threadpool

from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service import admission
from handoff.deals.service.admission import Receipt

logger = logging.getLogger("handoff.worker.group_commit")

Store = Callable[[AppContext, Sequence[DealEvent]], list[Receipt]]
_Waiting = tuple[DealEvent, "asyncio.Future[Receipt]"]


class GroupCommitter:
    def __init__(
        self,
        ctx: AppContext,
        max_group: int = 200,
        *,
        store: Store = admission.receive_each,
        transient: Callable[[BaseException], bool] = admission.transient,
    ) -> None:
        self.ctx, self.max_group = ctx, max_group
        self._store, self._transient = store, transient
        # requests whose event is not stored yet, read by the inline processor: in shared memory,
        # so that an applier process can read it too
        self.waiting_count = multiprocessing.get_context("spawn").RawValue("i", 0)
        self._queue: asyncio.Queue[_Waiting] | None = None
        self._task: asyncio.Task[Any] | None = None

    @property
    def waiting(self) -> int:
        return int(self.waiting_count.value)

    async def submit(self, event: DealEvent) -> Receipt:
        """Store the event: accepted, duplicate (a redelivery) or conflict (its event id was used
        for another deal). Raises what storing it raised, when it was this event that failed."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
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
            await self._commit(group)

    async def _commit(self, group: list[_Waiting]) -> None:
        try:
            receipts = await run_in_threadpool(self._store, self.ctx, [event for event, _ in group])
        except Exception as exc:
            if len(group) == 1 or self._transient(exc):  # every request of the group hears of it
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                return
            why = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
            logger.warning("a group of %d events failed to store (%s); retrying it in halves", len(group), why)
            half = len(group) // 2
            await self._commit(group[:half])
            await self._commit(group[half:])
            return
        for (_, future), receipt in zip(group, receipts, strict=True):
            if not future.done():
                future.set_result(receipt)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
