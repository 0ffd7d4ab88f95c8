"""A fake unit of work for use cases' unit tests: it hands out the fake repositories a test gives
it and records what the use case audits, notifies and commits, without a database."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from handoff.config import BusinessConfig, load_business_config
from handoff.kernel.storage.unit_of_work import Notice


@dataclass
class FakeUnitOfWork:
    repositories: Mapping[type, Any]
    audited: list[dict[str, Any]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    commits: int = 0
    open: bool = False

    def __enter__(self) -> FakeUnitOfWork:
        self.open = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.open = False

    def repository(self, kind: Callable[..., Any]) -> Any:
        return self.repositories[kind]  # type: ignore[index]

    def audit(self, **entry: Any) -> None:
        self.audited.append(entry)

    def notify(self, notice: Notice, at: datetime) -> None:
        self.notices.append(notice)

    def commit(self) -> None:
        assert self.open, "commit outside the unit of work"
        self.commits += 1


@dataclass
class FakeContext:
    """What a use case takes of `AppContext`, with the fake unit of work behind it."""

    uow: FakeUnitOfWork
    now: datetime
    config: BusinessConfig = field(default_factory=load_business_config)

    def clock(self) -> datetime:
        return self.now

    def unit_of_work(self, durable: bool = True) -> FakeUnitOfWork:
        return self.uow
