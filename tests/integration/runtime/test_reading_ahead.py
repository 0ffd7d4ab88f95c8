"""A cash run whose lines a helper process reads ahead proposes exactly what matching in turn
proposes: whichever share of the lines the helper reads, and also when it dies."""

from __future__ import annotations

import marshal
import os
import sys
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

import pytest

from handoff.cash.domain.bank import BankLine
from handoff.cash.domain.matching import Matcher, MatchPolicy, OpenInvoice, match
from handoff.cash.service import cash_application as cash
from handoff.context import AppContext
from handoff.runtime import reading_ahead
from handoff.runtime.reading_ahead import ReadingsAhead, readings
from tests.integration.cash.test_cash_application import issue, statement
from tests.unit.cash.test_matching import _busy_day

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="needs fork and a second core"
)


@pytest.fixture(scope="module")
def day() -> tuple[list[OpenInvoice], list[BankLine], list[str]]:
    invoices, lines = _busy_day(n_customers=300)  # about 2,300 lines: several chunks
    return invoices, lines, [repr(p) for p in match(lines, invoices)]


def _with_helper(ahead: ReadingsAhead, invoices: list[OpenInvoice], lines: list[BankLine]) -> tuple[list[str], int]:
    matcher, proposals, read_ahead = Matcher(invoices), [], 0
    try:
        for line, reading in zip(lines, ahead, strict=True):
            read_ahead += reading is not None
            proposals.append(repr(matcher.match_line(line, reading)))
    finally:
        ahead.close()
    return proposals, read_ahead


def test_lines_all_read_by_the_helper_get_the_proposals_of_matching_in_turn(
    day: tuple[list[OpenInvoice], list[BankLine], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    invoices, lines, in_turn = day
    monkeypatch.setattr(reading_ahead, "PATIENCE", 60.0)  # wait for every chunk: the helper reads them all
    proposals, read_ahead = _with_helper(ReadingsAhead(invoices, MatchPolicy(), lines), invoices, lines)
    assert read_ahead == len(lines)
    assert proposals == in_turn


def test_a_helper_that_falls_behind_leaves_its_chunks_to_this_process(
    day: tuple[list[OpenInvoice], list[BankLine], list[str]],
) -> None:
    invoices, lines, in_turn = day
    proposals, _ = _with_helper(ReadingsAhead(invoices, MatchPolicy(), lines), invoices, lines)
    assert proposals == in_turn  # whatever share of the chunks the helper read in time


def test_a_helper_that_dies_changes_no_proposal(
    day: tuple[list[OpenInvoice], list[BankLine], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    invoices, lines, in_turn = day
    monkeypatch.setattr(reading_ahead, "PATIENCE", 60.0)
    read_ahead = reading_ahead._read_ahead

    def dies_after_two_chunks(conn: Connection, *args: Any) -> None:
        sent, send = [0], conn.send_bytes

        def send_then_die(data: bytes) -> None:
            if sent[0] == 2:
                os._exit(1)  # as a kill would: no goodbye on the pipe
            send(data)
            sent[0] += 1

        conn.send_bytes = send_then_die  # type: ignore[method-assign,assignment]
        read_ahead(conn, *args)

    monkeypatch.setattr(reading_ahead, "_read_ahead", dies_after_two_chunks)
    ahead = ReadingsAhead(invoices, MatchPolicy(), lines)
    matcher, proposals, given = Matcher(invoices), [], []
    for line, reading in zip(lines, ahead, strict=True):
        given.append(reading is not None)
        proposals.append(repr(matcher.match_line(line, reading)))
    ahead.close()
    assert proposals == in_turn
    assert given == [True] * 2 * reading_ahead.CHUNK + [False] * (len(lines) - 2 * reading_ahead.CHUNK)


class _Sent:
    """The helper's end of the pipe, in this process: what it sent, by first line."""

    def __init__(self) -> None:
        self.starts: list[int] = []

    def send_bytes(self, data: bytes) -> None:
        self.starts.append(marshal.loads(data)[0])

    def close(self) -> None:
        pass


class _ClaimedWhileRead:
    """The claim as the other process moves it: each chunk the helper starts is claimed before the
    helper is done with it (the other process reads faster), until `until`."""

    def __init__(self, until: int) -> None:
        self.until, self.reads, self.claim = until, 0, 0

    @property
    def value(self) -> int:
        self.reads += 1
        return self.claim

    def helper_started(self, start: int) -> None:
        if start < self.until:
            self.claim = start + reading_ahead.CHUNK


def test_a_helper_overtaken_while_reading_a_chunk_leaps_ahead_instead_of_racing_for_the_next(
    day: tuple[list[OpenInvoice], list[BankLine], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    invoices, lines, _ = day
    chunk = reading_ahead.CHUNK
    monkeypatch.setattr(reading_ahead, "LEAP", 2)
    claimed, sent, read = _ClaimedWhileRead(until=chunk), _Sent(), []
    dry_read = Matcher.read

    def read_line(matcher: Matcher, line: BankLine) -> Any:
        position = lines.index(line)
        if position % chunk == 0:  # the helper starts a chunk: the other process claims it meanwhile
            read.append(position)
            claimed.helper_started(position)
        return dry_read(matcher, line)

    monkeypatch.setattr(Matcher, "read", read_line)
    reading_ahead._read_ahead(sent, invoices, MatchPolicy(), lines, claimed)  # type: ignore[arg-type]
    # chunk 0 was claimed while read: the next chunk read is the claim plus the leap, not chunk 1
    assert read[:2] == [0, chunk + 2 * chunk]
    assert sent.starts == list(range(3 * chunk, len(lines), chunk))


def test_a_short_run_has_no_helper(day: tuple[list[OpenInvoice], list[BankLine], list[str]]) -> None:
    invoices, lines, _ = day
    with readings(invoices, MatchPolicy(), lines[:999]) as short:
        assert list(short) == [None] * 999


def test_cash_application_with_a_helper_applies_what_it_applies_without(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the helper is forked inside the run's transaction; it only computes and never touches the database
    monkeypatch.setattr(reading_ahead, "BULK", 1)
    monkeypatch.setattr(reading_ahead, "available", lambda: True)
    monkeypatch.setattr(reading_ahead, "PATIENCE", 60.0)
    helpers: list[ReadingsAhead] = []
    start = ReadingsAhead.__init__

    def counted(self: ReadingsAhead, *args: object) -> None:
        start(self, *args)  # type: ignore[arg-type]
        helpers.append(self)

    monkeypatch.setattr(ReadingsAhead, "__init__", counted)
    inv = issue(ctx)
    cash.import_statement(ctx, statement(inv), "stmt.xml", "finance@test")
    report = cash.apply_cash(ctx)
    assert len(helpers) == 1 and not helpers[0]._process.is_alive()
    assert (report.lines, report.applied, report.review, report.unmatched) == (4, 2, 1, 1)
    assert report.states == {inv["D-1"].number: "paid", inv["D-2"].number: "paid"}
    assert [p.unapplied for p in report.proposals if p.decision.value == "unmatched"] == [Decimal("77.70")]
