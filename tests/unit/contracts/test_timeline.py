"""The contract page's schedule grid (`contracts.ui.timeline`): one column per day a period starts,
one row per line in the contract's order, each item marked billed, due, planned, awaiting
(a milestone not accepted) or superseded."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from handoff.contracts.ui import timeline


def _item(line: str, start: date, end: date, status: str = "planned", **more: Any) -> dict[str, Any]:
    return {
        "line_key": line,
        "period_key": start.isoformat(),
        "period_start": start,
        "period_end": end,
        "bill_date": start,
        "amount": Decimal("100.00"),
        "status": status,
        "due": False,
        **more,
    }


def test_rows_by_line_columns_by_start_day_and_marks() -> None:
    jan, feb, mar = date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)
    detail = {
        "lines": [{"key": "L2", "description": "Support"}, {"key": "L1", "description": "Platform"}],
        "schedule": [
            _item("L1", jan, feb, "billed", invoice_id=7),
            _item("L1", feb, mar, due=True),
            _item("L1", mar, date(2027, 4, 1)),
            _item("L2", feb, date(2027, 2, 2), bill_date=None),
            _item("L2", feb, mar, "superseded"),
            _item("L0", jan, feb, "billed"),  # a line an earlier version had
        ],
    }
    grid = timeline(detail)
    assert grid["days"] == [jan, feb, mar]
    assert [(r["key"], r["description"]) for r in grid["rows"]] == [("L2", "Support"), ("L1", "Platform"), ("L0", "")]
    l2, l1, _ = grid["rows"]
    assert [[i["mark"] for i in cell] for cell in l1["cells"]] == [["billed"], ["due"], ["planned"]]
    assert [[i["mark"] for i in cell] for cell in l2["cells"]] == [[], ["awaiting", "superseded"], []]
    assert l1["cells"][0][0]["last_day"] == date(2027, 1, 31)  # the period's end is exclusive
    assert l2["cells"][1][0]["last_day"] == feb  # a one-day item: its own day


def test_an_empty_schedule_has_no_columns() -> None:
    grid = timeline({"lines": [{"key": "L1", "description": "x"}], "schedule": []})
    assert grid == {"days": [], "rows": [{"key": "L1", "description": "x", "cells": []}]}
