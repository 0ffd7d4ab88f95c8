"""Runtime speed-ups kept out of the use cases: the cycle-collector pause for bulk work and the
forked helpers that render drafts and read bank lines ahead. Use cases reach them only through
`handoff.context.Runtime`; `Helpers` is the implementation every context gets by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager

from handoff.cash.domain.bank import BankLine
from handoff.cash.domain.matching import MatchPolicy, OpenInvoice, Reading
from handoff.config import BusinessConfig
from handoff.deals.domain.orders import DealEvent
from handoff.runtime import drafts_ahead, gc_pause, reading_ahead


class Helpers:
    """The collector paused for bulk work, and forked helpers where the platform allows them."""

    def bulk(self, items: int) -> AbstractContextManager[None]:
        return gc_pause.for_bulk(items)

    def drafts_ahead(self, config: BusinessConfig, events: Sequence[DealEvent]) -> drafts_ahead.DraftsAhead | None:
        if len(events) < gc_pause.BULK or not drafts_ahead.available():
            return None
        return drafts_ahead.DraftsAhead(config, events)

    def readings_ahead(
        self, invoices: Sequence[OpenInvoice], policy: MatchPolicy, lines: Sequence[BankLine]
    ) -> AbstractContextManager[Iterable[Reading | None]]:
        return reading_ahead.readings(invoices, policy, lines)
