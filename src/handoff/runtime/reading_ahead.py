"""Bank lines of a large cash run, read ahead on a second process.

Matching a line is reading it (references and invoice numbers in its text, the customers its
payer's name and the invoices its amount point to: `Matcher.read`) and then deciding, against
what earlier lines have settled. Reading depends on the open invoices as issued only, and for most
lines (a reference or a number that explains the amount) so does the whole proposal. A forked
helper with a dry matcher of its own reads lines ahead, proposals included, while this process
decides; `Matcher.match_line` takes each reading as far as it still holds (none of the invoices
it found has been settled meanwhile) and decides the rest itself. The proposals are therefore the
same with or without the helper, and one that dies, or falls behind, only costs time.

Readings cross the pipe as plain tuples in `marshal` form: unpickling named tuples, enums and
Decimals would cost this process about as much as the reading it saves.
"""

from __future__ import annotations

import functools
import marshal
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

from handoff.cash.domain.bank import BankLine
from handoff.cash.domain.matching import (
    Allocation,
    Decision,
    Evidence,
    Matcher,
    MatchPolicy,
    OpenInvoice,
    Proposal,
    Reading,
)
from handoff.kernel.money import ZERO
from handoff.runtime.gc_pause import BULK

CHUNK = 250  # lines per message from the helper (and per claim by this process)
LEAP = 40  # chunks an overtaken helper skips ahead of the claim
PIPE_SIZE = 1 << 20  # bytes the pipe holds (Linux's default maximum): about 20 chunks
PATIENCE = 0.0  # seconds to wait for a due chunk before reading it here (tests wait, to use the helper)
_DECISIONS = {d.value: d for d in Decision}
_new = tuple.__new__  # builds a named tuple from a plain one in C, as pickle would
_evidence = functools.partial(_new, Evidence)
_CHECKED_ONLY: list[Evidence] = []  # found invoices' evidence where a proposal carries it (never read)


@contextmanager
def readings(
    invoices: Sequence[OpenInvoice], policy: MatchPolicy, lines: Sequence[BankLine]
) -> Iterator[Iterable[Reading | None]]:
    """One reading (or None) per line, in order: from a helper for a run of `BULK` lines or more
    where one is available, else all None (the matcher reads each line itself). Enter it before
    building this process's matcher, so that the helper builds its own meanwhile."""
    if len(lines) < BULK or not available():
        yield [None] * len(lines)
        return
    ahead = ReadingsAhead(invoices, policy, lines)
    try:
        yield ahead
    finally:
        ahead.close()


def available() -> bool:
    """A helper needs fork (it inherits the invoices and lines instead of receiving them; safe
    only in a process running no other thread, and Linux only) and a second core."""
    return sys.platform == "linux" and (os.cpu_count() or 1) > 1 and threading.active_count() == 1


class ReadingsAhead:
    """The helper process; iterate for one reading per line, in order (None for a line this
    process reads itself).

    The work is shared by chunks and this process never waits: a chunk the helper has not
    delivered when it is due is claimed (`_claimed`) and read here. A helper overtaken that way
    leaps `LEAP` chunks ahead of the claim, so that it works where this process arrives later."""

    def __init__(self, invoices: Sequence[OpenInvoice], policy: MatchPolicy, lines: Sequence[BankLine]) -> None:
        self._lines = lines
        fork = multiprocessing.get_context("fork")
        self._claimed = fork.RawValue("q", 0)  # lines before it are read by this process
        self._conn, sender = fork.Pipe(duplex=False)
        with suppress(OSError, AttributeError):  # a larger pipe lets the helper run further ahead
            import fcntl  # (POSIX only, as fork is)

            fcntl.fcntl(sender.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self._process = fork.Process(
            target=_read_ahead,
            args=(sender, invoices, policy, lines, self._claimed),
            name="handoff-reading-ahead",
            daemon=True,
        )
        self._process.start()
        sender.close()
        self._open = True
        self._ahead: dict[int, list[Any]] = {}  # chunks received before they are due, by first line

    def __iter__(self) -> Iterator[Reading | None]:
        lines = self._lines
        for start in range(0, len(lines), CHUNK):
            chunk = self._take(start)
            if chunk is None:
                yield from [None] * len(lines[start : start + CHUNK])
            else:
                for line, wire in zip(lines[start : start + CHUNK], chunk, strict=True):
                    yield _from_wire(line, wire)

    def _take(self, start: int) -> list[Any] | None:
        """The helper's chunk from `start` if it has arrived, else None (and the chunk is claimed)."""
        while start not in self._ahead and self._open:
            try:
                if not self._conn.poll(PATIENCE):
                    break
                at, chunk = marshal.loads(self._conn.recv_bytes())
            except (EOFError, OSError):  # the helper ended or died: the rest is read here
                self._open = False
                break
            if at >= start:  # (before it: a chunk read here meanwhile, sent as it was claimed)
                self._ahead[at] = chunk
        chunk = self._ahead.pop(start, None)
        if chunk is None:
            self._claimed.value = start + CHUNK
        return chunk

    def close(self) -> None:
        self._open = False
        self._conn.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def _read_ahead(
    conn: Connection, invoices: Sequence[OpenInvoice], policy: MatchPolicy, lines: Sequence[BankLine], claimed: Any
) -> None:
    """In the helper: the readings of the chunks not claimed, against the invoices as issued."""
    matcher = Matcher(invoices, policy, dry=True)
    start = 0
    try:
        while start < len(lines):
            if start < claimed.value:  # overtaken: work where the other process arrives later
                start = claimed.value + LEAP * CHUNK
                continue
            wires = [_to_wire(matcher.read(line)) for line in lines[start : start + CHUNK]]
            if start < claimed.value:
                # claimed while read: overtaken as well. Reading the next chunk instead of leaping
                # would lose the race again (this process reads faster than the helper), chunk after chunk
                continue
            conn.send_bytes(marshal.dumps((start, wires)))
            start += CHUNK
    except (BrokenPipeError, OSError):  # the cash run ended or failed: nothing more is needed
        return
    conn.close()


def _to_wire(reading: Reading) -> tuple[Any, ...]:
    p = reading.proposal
    if p is None:
        found = tuple((i, tuple(map(tuple, evidence))) for i, evidence in reading.found.items())
        return found, reading.cands, reading.customers, reading.own, reading.by_amount, reading.near
    # with a proposal, what was found is only checked (still open?) and its evidence is in the proposal
    return (
        tuple(reading.found),
        reading.settles,
        p.decision.value,
        p.confidence,
        tuple(map(tuple, p.evidence)),
        tuple((a.invoice_number, str(a.amount)) for a in p.allocations),
        str(p.unapplied),
        str(p.write_off),
        p.alternatives,
    )


def _from_wire(line: BankLine, wire: tuple[Any, ...]) -> Reading:
    if len(wire) == 6:
        found, cands, customers, own, by_amount, near = wire
        return Reading(
            {i: list(map(_evidence, evidence)) for i, evidence in found}, cands, customers, own, by_amount, near
        )
    found, settles, decision, confidence, evidence, allocations, unapplied, write_off, alternatives = wire
    proposal = _new(
        Proposal,
        (
            line.line_id,
            line.amount,
            line.currency,
            tuple([_new(Allocation, (number, Decimal(amount))) for number, amount in allocations]),
            confidence,
            tuple(map(_evidence, evidence)),
            _DECISIONS[decision],
            Decimal(unapplied),
            ZERO if write_off == "0" else Decimal(write_off),
            alternatives,
        ),
    )
    return Reading(dict.fromkeys(found, _CHECKED_ONLY), [], proposal=proposal, settles=settles)
