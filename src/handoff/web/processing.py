"""Applying received webhook events inside the API process (single-process deployments)."""

from __future__ import annotations

import logging
import threading

from handoff.app.context import AppContext
from handoff.app.intake import process_pending

log = logging.getLogger("handoff.web")


class InlineProcessor:
    """Applies received events in the API process, on one background thread. It waits `linger`
    seconds after being woken so that events arriving together are applied in one transaction:
    fewer, larger transactions leave the SQLite write lock free for acknowledgements most of the
    time, which keeps webhook latency low under load."""

    def __init__(self, ctx: AppContext, linger: float = 0.1, batch: int = 50) -> None:
        self.ctx, self.linger, self.batch = ctx, linger, batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
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
            self._wake.wait()
            self._stop.wait(self.linger)
            self._wake.clear()
            try:
                process_pending(self.ctx, batch=self.batch)
            except Exception:  # the events stay pending; the next wake-up tries again
                log.exception("inline processing failed")

