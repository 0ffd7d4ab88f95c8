"""Fixtures of the storage tests: a database with no tables, for the migrations to build."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from handoff.kernel.storage.db import make_engine
from tests.conftest import scratch_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    with scratch_pg_database("handoff_migrate") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()
