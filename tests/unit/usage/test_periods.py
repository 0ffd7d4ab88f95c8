"""Usage periods and the grace for late events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from handoff.usage.domain.periods import (
    PeriodError,
    assign_period,
    grace_end,
    next_period,
    period_bounds,
    period_dates,
    period_of,
    rateable,
)

GRACE = timedelta(days=3)
LAST_SECOND = datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC)


def test_period_of_is_the_utc_month() -> None:
    assert period_of(LAST_SECOND) == "2027-01"
    # 2027-02-01 00:30 at +01:00 is still January in UTC
    assert period_of(datetime(2027, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))) == "2027-01"
    with pytest.raises(PeriodError):
        period_of(datetime(2027, 1, 1))


def test_period_arithmetic() -> None:
    assert next_period("2027-12") == "2028-01"
    assert period_dates("2028-02") == (date(2028, 2, 1), date(2028, 3, 1))
    assert period_bounds("2027-12")[1] == datetime(2028, 1, 1, tzinfo=UTC)
    assert grace_end("2027-01", GRACE) == datetime(2027, 2, 4, tzinfo=UTC)
    for bad in ("2027-13", "2027-1", "27-01", ""):
        with pytest.raises(PeriodError):
            period_dates(bad)


def test_last_second_of_january_within_grace_lands_in_january() -> None:
    received = datetime(2027, 2, 3, 23, 59, 59, tzinfo=UTC)  # one second before Jan end + 3 days
    assert assign_period(LAST_SECOND, received, GRACE, None) == ("2027-01", "")


def test_last_second_of_january_after_grace_lands_in_february_with_a_note() -> None:
    received = datetime(2027, 2, 4, 0, 0, 0, tzinfo=UTC)  # exactly Jan end + 3 days: closed
    assert assign_period(LAST_SECOND, received, GRACE, None) == (
        "2027-02",
        "late: occurred 2027-01-31, billed in 2027-02",
    )


def test_a_rated_month_takes_no_more_events_even_within_grace() -> None:
    received = datetime(2027, 2, 2, tzinfo=UTC)
    assert assign_period(LAST_SECOND, received, GRACE, lambda p: p == "2027-01") == (
        "2027-02",
        "late: occurred 2027-01-31, billed in 2027-02",
    )
    # and if the receiving month were closed too, the next open one
    assert assign_period(LAST_SECOND, received, GRACE, lambda p: p in {"2027-01", "2027-02"})[0] == "2027-03"


def test_very_late_event_goes_to_the_month_received() -> None:
    occurred = datetime(2026, 11, 5, tzinfo=UTC)
    assert assign_period(occurred, datetime(2027, 2, 10, tzinfo=UTC), GRACE) == (
        "2027-02",
        "late: occurred 2026-11-05, billed in 2027-02",
    )


def test_event_stamped_a_little_ahead_of_receipt_is_in_its_own_month() -> None:
    occurred = datetime(2027, 2, 1, 0, 1, tzinfo=UTC)
    assert assign_period(occurred, datetime(2027, 1, 31, 23, 59, tzinfo=UTC), GRACE) == ("2027-02", "")


def test_rateable_from_the_day_the_grace_ends() -> None:
    assert not rateable("2027-01", GRACE, date(2027, 2, 3))
    assert rateable("2027-01", GRACE, date(2027, 2, 4))
    assert rateable("2027-01", timedelta(0), date(2027, 2, 1))
    assert not rateable("2027-01", timedelta(hours=1), date(2027, 2, 1))  # rounds up to the next day
    assert rateable("2027-01", timedelta(hours=1), date(2027, 2, 2))
