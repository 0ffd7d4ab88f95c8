"""Usage periods and the grace for late events, pure.

A usage period is a calendar month in UTC, named "2027-01". An event belongs to the month it
occurred in while that month is open: from its first instant until the month's end (the first
instant of the next month) plus the grace (default 3 days), and as long as the month is not
rated. An event received after that (late) is billed in the open period it was received in, with
a note: "late: occurred 2027-01-30, billed in 2027-02". So with a grace of 3 days, an event of
2027-01-31 23:59:59 received before 2027-02-04 00:00:00 UTC lands in 2027-01; received at that
instant or later it lands in 2027-02.

`rateable(period, grace, through)` is the matching rule for the rating run: a month is rated by a
run for `through` on or after the day its grace ends (the grace of 2027-01 ends on 2027-02-04), so
no event accepted into a month can arrive after that month is rated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DEFAULT_GRACE = timedelta(days=3)


class PeriodError(ValueError):
    """A text that is not a usage period ("2027-01"), or a datetime without a time zone."""


def _utc(ts: datetime, what: str) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise PeriodError(f"{what} has no time zone ({ts.isoformat()})")
    return ts.astimezone(UTC)


def period_of(ts: datetime) -> str:
    """The usage period (UTC calendar month) of an aware timestamp: "2027-01"."""
    utc = _utc(ts, "timestamp")
    return f"{utc.year:04d}-{utc.month:02d}"


def parse_period(period: str) -> tuple[int, int]:
    """(year, month) of a period name; PeriodError when it is not "YYYY-MM"."""
    match = PERIOD.match(period) if isinstance(period, str) else None
    if match is None:
        raise PeriodError(f"not a usage period (YYYY-MM): {period!r}")
    return int(match.group(1)), int(match.group(2))


def next_period(period: str) -> str:
    """The month after: "2027-12" -> "2028-01"."""
    year, month = parse_period(period)
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def period_dates(period: str) -> tuple[date, date]:
    """(first day, first day of the next month): the half-open range schedule items use
    (`DeliveryItem.period_start` / `period_end`)."""
    year, month = parse_period(period)
    start = date(year, month, 1)
    end = date(year + month // 12, month % 12 + 1, 1)
    return start, end


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """(first instant, first instant of the next month) in UTC."""
    start, end = period_dates(period)
    return datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC)


def grace_end(period: str, grace: timedelta) -> datetime:
    """The instant the month closes to new events: its end plus the grace."""
    return period_bounds(period)[1] + grace


def rateable(period: str, grace: timedelta, through: date) -> bool:
    """May a rating run for `through` rate this month? Yes when `through` is on or after the day
    the grace ends (2027-02-04 for 2027-01 with 3 days; a grace of part of a day rounds up to the
    next whole day), so the month takes no more events once rated."""
    closes = grace_end(period, grace)
    first_day = closes.date() if closes.time() == time() else closes.date() + timedelta(days=1)
    return through >= first_day


def late_note(occurred: datetime, period: str) -> str:
    """The note of a late event: "late: occurred 2027-01-30, billed in 2027-02"."""
    return f"late: occurred {_utc(occurred, 'timestamp').date().isoformat()}, billed in {period}"


def assign_period(
    ts: datetime,
    received: datetime,
    grace: timedelta,
    closed: Callable[[str], bool] | None = None,
) -> tuple[str, str]:
    """(period, note) of an event that occurred at `ts` and was received at `received`.

    Its own month while received before the month's end + grace and the month is not `closed`
    (rated); note "". Otherwise the period of `received` (or the first month after it not
    closed), with the note `late_note`. An event stamped slightly ahead of its receipt (within the
    future tolerance) is in its own month."""
    own = period_of(ts)
    is_closed = closed or (lambda _period: False)
    if _utc(received, "received") < grace_end(own, grace) and not is_closed(own):
        return own, ""
    target = max(period_of(received), own)
    for _ in range(1200):  # a hundred years of closed months is a bug, not data
        if not is_closed(target):
            return target, late_note(ts, target)
        target = next_period(target)
    raise PeriodError(f"no open usage period after {period_of(received)}")
