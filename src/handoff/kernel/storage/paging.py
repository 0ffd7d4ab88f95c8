"""Pages of a read model: the rows of one page and the total, counted up to a cap.

Totals are counted up to COUNT_CAP: an exact count of a million matching rows would cost more than
the page itself, and "10,000+" tells a person as much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, func, select

COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    total: int  # at most COUNT_CAP
    limit: int
    offset: int
    total_capped: bool = False  # more than `total` match

    @property
    def total_label(self) -> str:
        return f"{self.total:,}+" if self.total_capped else f"{self.total:,}"


def fetch_page(engine: Engine, q: Select[Any], limit: int, offset: int) -> Page:
    """A page of `q` with its total counted up to COUNT_CAP."""
    with engine.connect() as conn:
        counted = conn.execute(
            select(func.count()).select_from(q.order_by(None).limit(COUNT_CAP + 1).subquery())
        ).scalar_one()
        rows = [dict(r._mapping) for r in conn.execute(q.limit(limit).offset(offset))]
    return Page(rows, min(counted, COUNT_CAP), limit, offset, counted > COUNT_CAP)


def like(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere (its own % and _ escaped with a backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
