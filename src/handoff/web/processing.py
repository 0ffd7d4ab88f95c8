"""Applying received webhook events inside the API process (single-process deployments)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from handoff.app.context import AppContext
from handoff.app.intake import process_pending

log = logging.getLogger("handoff.web")


class InlineProcessor:
    """Applies received events in the API process, on one background thread. It waits `linger`
    seconds after being woken so that events arriving together are applied together.

    Acknowledgements come first: applying holds the interpreter and the SQLite write lock, which a
    webhook needs for a moment to store its event. So events are applied in slices of `batch`,
    and before each slice the processor waits while requests are waiting to be stored (`busy`),
    at most `max_defer` seconds, so that a steady stream of webhooks cannot starve it. Slices of 4
    kept the acknowledgement p99 under 25 ms at 200 events/s on SQLite (8: 21 to 32 ms) and still
    apply faster than events arrive (2 do not: each slice is a commit)."""

    def __init__(self, ctx: AppContext, linger: float = 0.1, batch: int = 4,
                 busy: Callable[[], bool] = lambda: False, max_defer: float = 0.01) -> None:  # fmt: skip
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

