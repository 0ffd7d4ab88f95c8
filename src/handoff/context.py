"""What every use case needs, built once in the composition root (`handoff.bootstrap`): the
database engine, the business configuration, the clock and the runtime speed-ups.

Use cases see the speed-ups only through the small `Runtime` interface below; how they are done
(a paused cycle collector, forked helper processes) lives in `handoff.runtime`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine

from handoff.cash.domain.bank import BankLine
from handoff.cash.domain.matching import MatchPolicy, OpenInvoice, Reading
from handoff.config import BusinessConfig
from handoff.deals.domain.drafting import RenderedDraft
from handoff.deals.domain.orders import DealEvent
from handoff.invoicing.domain.sales_tax import SalesTaxEngine
from handoff.kernel.audit import NO_KEYS, AuditKeys
from handoff.kernel.storage.db import checkpoint, defer_checkpoints
from handoff.kernel.storage.unit_of_work import UnitOfWork


def utc_now() -> datetime:
    return datetime.now(UTC)


class DraftsAhead(Protocol):
    """Invoice drafts rendered ahead of a bulk import, taken one per event."""

    def take(self, source: str, event_id: str) -> RenderedDraft | None:
        """The draft rendered for this event, or None (the caller renders it itself)."""
        ...

    def close(self) -> None: ...


class Runtime(Protocol):
    """Speed-ups a use case may ask for without knowing how they are done. Each may do nothing:
    the results are the same either way, only the time differs."""

    def bulk(self, items: int) -> AbstractContextManager[None]:
        """Enter around bulk work of `items` items (a large import or cash run)."""
        ...

    def drafts_ahead(self, config: BusinessConfig, events: Sequence[DealEvent]) -> DraftsAhead | None:
        """Drafts of these events' new deals rendered meanwhile, or None."""
        ...

    def readings_ahead(
        self, invoices: Sequence[OpenInvoice], policy: MatchPolicy, lines: Sequence[BankLine]
    ) -> AbstractContextManager[Iterable[Reading | None]]:
        """One reading (or None: read it yourself) per bank line, in order."""
        ...


def default_runtime() -> Runtime:
    from handoff.runtime import Helpers

    return Helpers()


@dataclass(frozen=True)
class AppContext:
    engine: Engine
    config: BusinessConfig
    clock: Callable[[], datetime] = utc_now
    runtime: Runtime = field(default_factory=default_runtime)
    # outside US sales tax engines by name (`stripe_tax`), built by the composition root
    tax_engines: Mapping[str, SalesTaxEngine] = field(default_factory=dict)
    # the audit chain's keys, kept outside the database (`kernel.audit`); none: entries unkeyed
    audit_keys: AuditKeys = NO_KEYS

    def unit_of_work(self, durable: bool = True) -> UnitOfWork:
        return UnitOfWork(self.engine, durable, self.audit_keys.current)

    def defer_checkpoints(self) -> None:
        """See `kernel.storage.db.defer_checkpoints`: for a process that checkpoints from its own thread."""
        defer_checkpoints(self.engine)

    def checkpoint(self) -> None:
        checkpoint(self.engine)
