"""Shared fixtures. Integration tests run once on SQLite and once on PostgreSQL.

The schema is always built by the Alembic migrations: once per session into a template (a file
for SQLite, a database for PostgreSQL); each test then gets a fresh copy (SQLite) or emptied tables
(PostgreSQL). PostgreSQL comes from HANDOFF_TEST_PG_URL (default: the local server); it is
required unless HANDOFF_TEST_SKIP_PG=1.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from handoff.config import load_business_config
from handoff.context import AppContext
from handoff.kernel.audit import AuditKey, AuditKeys
from handoff.kernel.storage.db import make_engine, upgrade
from handoff.kernel.storage.schema import metadata

PG_ADMIN_URL = os.environ.get("HANDOFF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
# The audit chain's key in tests: `ctx` signs with it, and commands run in this process or as
# subprocesses find it in the environment, as an operator's would.
os.environ.setdefault("HANDOFF_AUDIT_KEY", "test-audit-key-" + "k" * 32)
AUDIT_KEYS = AuditKeys(AuditKey.of(os.environ["HANDOFF_AUDIT_KEY"]))


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards (skips without PostgreSQL)."""
    if os.environ.get("HANDOFF_TEST_SKIP_PG") == "1":
        pytest.skip("HANDOFF_TEST_SKIP_PG=1")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    with scratch_pg_database("handoff_test") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
    else:
        eng = make_engine(request.getfixturevalue("pg_database"))
        tables = ", ".join(t.name for t in metadata.sorted_tables if t.name != "audit_head")
        with eng.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            conn.execute(text("UPDATE audit_head SET seq = 0, hash = :h, key_id = ''"), {"h": "0" * 64})
    yield eng
    eng.dispose()


@pytest.fixture
def db_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def business_config():  # type: ignore[no-untyped-def]
    return load_business_config()


@pytest.fixture
def ctx(engine: Engine, clock: Clock, business_config) -> AppContext:  # type: ignore[no-untyped-def]
    return AppContext(engine, business_config, clock, audit_keys=AUDIT_KEYS)


# The third-party validation artefacts and sample files, found this one way by every test.
ORACLES = Path(os.environ.get("HANDOFF_ORACLES", SHARED / "oracles"))


@pytest.fixture(scope="session")
def oracles() -> Path:
    """Root of the third-party validation artefacts (never copied into the repository)."""
    if not ORACLES.is_dir():
        pytest.skip(f"validation artefacts not found at {ORACLES} (set HANDOFF_ORACLES)")
    return ORACLES.resolve()
