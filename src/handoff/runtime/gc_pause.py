"""Cycle-collector setting for bulk work (a large import, a large cash-application run).

Such work allocates a great many objects, keeps a good share of them (the events of an import,
the proposals of a cash run) and makes next to no reference cycles. At the default setting the
collector walks every young survivor once or twice and, on its full runs, every live object, for
nothing. So for the length of the operation nothing is collected automatically, and at its end
what it made joins the oldest generation without being walked, for a full collection to look at in
its own time. (What it measured: bench/README.md, "Cash application".)
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

BULK = 1000  # items from which a bulk operation pauses the collector

_lock = threading.Lock()
_users = 0
_was_enabled = gc.isenabled()


def for_bulk(items: int) -> AbstractContextManager[None]:
    """`paused()` for `items` >= BULK, else nothing."""
    return paused() if items >= BULK else nullcontext()


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection for the length of one bulk operation. Not for small calls in a
    long-running process: at the end, everything the process holds (what the operation made and
    what lived before) goes to the oldest generation, which only a full collection walks. Nested
    and concurrent uses share one pause; processes forked meanwhile (helpers) inherit it."""
    global _users, _was_enabled
    with _lock:
        if _users == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                # freeze, then unfreeze: every tracked object moves to the oldest generation in
                # O(1). Left young, the operation's results would be walked by the first
                # collection after it (the allocation counts are far past the threshold by then)
                gc.freeze()
                gc.unfreeze()
                if _was_enabled:
                    gc.enable()
