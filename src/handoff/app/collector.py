"""Cycle-collector tuning for bulk work (a large import, a large cash-application run).

Such work allocates a great many short-lived objects but makes almost no reference cycles. At the
default threshold the collector runs every 700 allocations and, on its full runs, walks every live
object (all events of an import, every open invoice and bank line of a matching run): a fifth of
a big import's time, a quarter of matching 100,000 bank lines.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

BULK = 1000  # items from which a bulk operation tunes the collector

_lock = threading.Lock()
_users = 0
_saved: tuple[int, int, int] = gc.get_threshold()


def for_bulk(items: int) -> AbstractContextManager[None]:
    """`rarer_collections()` for `items` >= BULK, else nothing."""
    return rarer_collections() if items >= BULK else nullcontext()


@contextmanager
def rarer_collections() -> Iterator[None]:
    """Collect rarely, and never walk what lived before: for the length of one bulk operation.
    Not for small calls in a long-running process: unfreezing at the end hands everything the
    process froze at start-up back to the collector. Nested and concurrent uses share one setting."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(max(_saved[0], 50_000), *_saved[1:])
            gc.freeze()  # what lives now (the input of the operation) outlives it: never walk it
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
