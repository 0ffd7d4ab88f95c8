"""Invoice drafts of a bulk import, rendered ahead on a second process.

A draft is a pure function of the deal and the configuration (`deals.domain.drafting`), and
rendering it is a good part of a large import's time (bench/README.md). For `handoff import` a forked helper
renders, in file order, the drafts that new deals will get, while this process stores and applies
the events; the batch takes each draft from it instead of rendering it again. The helper only
computes: it never touches the database. Whatever it did not render (a deal that already had an
order, a deal it could not render, a helper that died) is rendered here as before, so the rows
written are the same either way.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import threading
from collections.abc import Sequence
from contextlib import suppress
from multiprocessing.connection import Connection

from handoff.config import BusinessConfig
from handoff.deals.domain.drafting import RenderedDraft, render_draft
from handoff.deals.domain.flow import decide
from handoff.deals.domain.orders import DealEvent

CHUNK = 250  # drafts per message from the helper
LOOKAHEAD = 40  # messages read but not yet taken, at most (about 10,000 drafts)

__all__ = ["CHUNK", "LOOKAHEAD", "DraftsAhead", "RenderedDraft", "available", "render_draft"]


def available() -> bool:
    """A helper needs fork (it inherits the events instead of receiving them; Linux only, where
    forking a single-threaded process is safe) and a second core."""
    return sys.platform == "linux" and (os.cpu_count() or 1) > 1


class DraftsAhead:
    """The helper process, and a thread that reads what it sends: the helper renders ahead as far
    as `LOOKAHEAD` messages, whatever pace the import takes them at."""

    def __init__(self, config: BusinessConfig, events: Sequence[DealEvent]) -> None:
        self._position = {(e.source, e.event_id): n for n, e in enumerate(events)}
        self._ready: dict[tuple[str, str], RenderedDraft] = {}
        self._passed = 0  # events the helper has gone through
        self._done = False
        fork = multiprocessing.get_context("fork")
        receiver, sender = fork.Pipe(duplex=False)
        self._process = fork.Process(
            target=_render_ahead, args=(sender, config, events), name="handoff-drafts-ahead", daemon=True
        )
        self._process.start()  # forked before this process starts a thread
        sender.close()
        self._messages: queue.Queue[tuple[int, list[tuple[tuple[str, str], RenderedDraft]]] | None] = queue.Queue(
            maxsize=LOOKAHEAD
        )
        self._reader = threading.Thread(target=self._read, args=(receiver,), name="handoff-drafts-reader", daemon=True)
        self._reader.start()

    def _read(self, conn: Connection) -> None:
        try:
            while True:
                self._messages.put(conn.recv())
        except (EOFError, OSError):  # the helper is done, or ended early: the rest is rendered here
            pass
        finally:
            conn.close()
            self._messages.put(None)

    def take(self, source: str, event_id: str) -> RenderedDraft | None:
        """The draft rendered for this event, waiting for the helper to get that far; None when it
        did not render one (the caller renders it)."""
        key = (source, event_id)
        position = self._position.get(key)
        if position is None:
            return None
        while self._passed <= position and not self._done:
            message = self._messages.get()
            if message is None:
                self._done = True
                break
            self._passed, drafts = message
            self._ready.update(drafts)
        return self._ready.pop(key, None)

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        while self._reader.is_alive():  # it may wait to put a message nobody will take
            with suppress(queue.Empty):
                self._messages.get(timeout=0.1)
        self._reader.join()


def _render_ahead(conn: Connection, config: BusinessConfig, events: Sequence[DealEvent]) -> None:
    """In the helper: the drafts that deals without an order yet get on their first version."""
    ruleset, won, on_ready = config.ruleset, config.won_stages, config.model.automation.draft_on_ready
    chunk: list[tuple[tuple[str, str], RenderedDraft]] = []
    for n, e in enumerate(events, 1):
        try:
            if decide(None, e.deal, e.occurred_at, e.event_id, ruleset, won, on_ready).make_draft:
                chunk.append(((e.source, e.event_id), render_draft(e.deal, config)))
        except Exception:
            pass
        if len(chunk) >= CHUNK or n % (4 * CHUNK) == 0 or n == len(events):
            try:
                conn.send((n, chunk))
            except (BrokenPipeError, OSError):  # the import ended or failed: nothing more is needed
                return
            chunk = []
    conn.close()
