"""Applying received webhook events without `handoff worker` processes (single-machine deployments):
on a thread of the API process, or, for a SQLite file under `handoff serve`, in a child process."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any

from handoff.context import AppContext
from handoff.deals.service.intake import process_pending

log = logging.getLogger("handoff.web")


class InlineProcessor:
    """Applies received events in the API process, on one background thread. It waits `linger`
    seconds after being woken so that events arriving together are applied together.

    Acknowledgements come first: applying holds the interpreter and the SQLite write lock, which a
    webhook needs for a moment to store its event. So events are applied in slices of `batch`,
    and before each slice the processor waits while requests are waiting to be stored (`busy`),
    at most `max_defer` seconds, so that a steady stream of webhooks cannot starve it. Small slices
    keep acknowledgements quick while still applying faster than events arrive (each slice is a
    commit); the measured choice of 4 is in bench/README.md."""

    def __init__(
        self,
        ctx: AppContext,
        linger: float = 0.1,
        batch: int = 4,
        busy: Callable[[], bool] = lambda: False,
        max_defer: float = 0.01,
    ) -> None:
        self.ctx, self.linger, self.batch = ctx, linger, batch
        self.busy, self.max_defer = busy, max_defer
        self.checkpoint_every = 1.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Commits in this process no longer checkpoint the SQLite WAL: this thread does, after
        # applying and every `checkpoint_every` seconds, so no acknowledgement waits for it.
        self.ctx.defer_checkpoints()
        self._thread = threading.Thread(target=self._run, name="handoff-inline-processor", daemon=True)
        self._thread.start()
        self._wake.set()  # apply whatever was left pending by an earlier run

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._wake.wait(self.checkpoint_every):
                self._stop.wait(self.linger)
                self._wake.clear()
                try:
                    self._apply_pending()
                except Exception:  # the events stay pending; the next wake-up tries again
                    log.exception("inline processing failed")
            try:
                self.ctx.checkpoint()  # here rather than in a webhook's commit (see start)
            except Exception:  # the WAL only grows until the next attempt
                log.exception("WAL checkpoint failed")

    def _apply_pending(self) -> None:
        while not self._stop.is_set():
            deadline = time.monotonic() + self.max_defer
            while self.busy() and time.monotonic() < deadline:
                time.sleep(0.001)
            report = process_pending(self.ctx, batch=self.batch, limit=self.batch)
            if report.applied + report.stale + report.failed < self.batch:
                return


class ApplierProcess:
    """The inline processor in a child process of the API. Applying then has an interpreter (and
    a core) of its own: on one interpreter, a webhook's acknowledgement also waited for the
    interpreter lock while events were being applied. The child builds its context with
    `make_context` (picklable: a new interpreter runs it), is woken through a pipe, and sees how
    many requests are waiting to be stored (`waiting`, shared memory) to let them go first; the
    writers of both processes queue on the SQLite writer lock (`store.unit_of_work`). A child that
    died is started again at the next wake-up."""

    def __init__(
        self,
        ctx: AppContext,
        make_context: Callable[[], AppContext],
        waiting: Any,
        linger: float = 0.1,
        batch: int = 4,
        max_defer: float = 0.01,
    ) -> None:
        self.ctx, self.make_context, self.waiting = ctx, make_context, waiting
        self.options = (linger, batch, max_defer)
        self._process: Any = None
        self._wake: Connection | None = None
        self._started = 0.0

    def start(self) -> None:
        self.ctx.defer_checkpoints()  # the child checkpoints the WAL, not this process's commits
        self._spawn()

    def _spawn(self) -> None:
        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: this one runs threads
        receiver, self._wake = spawn.Pipe(duplex=False)
        os.set_blocking(self._wake.fileno(), False)  # a full pipe means it is awake already
        self._process = spawn.Process(
            target=_apply_in_child,
            args=(self.make_context, receiver, self.waiting, *self.options),
            name="handoff-applier",
            daemon=True,
        )
        self._process.start()
        receiver.close()
        self._started = time.monotonic()

    def wake(self) -> None:
        if self._wake is None:
            return
        if not self._process.is_alive() and time.monotonic() - self._started > 1.0:
            log.error("the applier process ended (exit code %s): starting it again", self._process.exitcode)
            self._wake.close()
            self._spawn()
        with suppress(BlockingIOError, BrokenPipeError):
            os.write(self._wake.fileno(), b"w")

    def stop(self) -> None:
        if self._wake is None:
            return
        self._wake.close()  # the child sees the end of the pipe and stops after its slice
        self._wake = None
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


def _apply_in_child(
    make_context: Callable[[], AppContext], wake: Connection, waiting: Any, linger: float, batch: int, max_defer: float
) -> None:
    ctx = make_context()
    processor = InlineProcessor(ctx, linger, batch, busy=lambda: waiting.value > 0, max_defer=max_defer)
    processor.start()
    try:
        while os.read(wake.fileno(), 4096):  # b"": the API process closed its end
            processor.wake()
    finally:
        processor.stop()
