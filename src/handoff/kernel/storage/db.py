"""Engines and schema upgrades.

SQLite (the embedded default) runs in WAL mode with `BEGIN IMMEDIATE` transactions, so several
processes can share a file without upgrade deadlocks; PostgreSQL is the production engine.
The schema is always built by the Alembic migrations, for the app and the tests alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent / "migrations"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        # 16 KiB pages (default 4): an invoice row with its document is about 2.5 KB, and a 4 KiB
        # page holds only one, leaving 40 % of the invoice table empty. Takes effect only when the
        # file is created (before WAL mode is set); an existing database keeps its page size.
        cur.execute("PRAGMA page_size=16384")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # an acknowledged event survives power loss
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # 64 MiB of page cache (default 2): a bulk import touches index pages all over the file
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def defer_checkpoints(engine: Engine) -> None:
    """SQLite: this engine's commits stop copying the WAL back into the database file (SQLite does
    that in whichever commit crosses 1,000 WAL pages, a stall of tens of milliseconds); the process
    calls `checkpoint` itself, off the path of the requests it answers. Call before first use."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")

    engine.dispose()  # a connection made before would keep checkpointing


def checkpoint(engine: Engine) -> None:
    """Copy what the WAL holds back into the SQLite file, as far as readers allow, without waiting
    for anyone (PASSIVE: writers go on meanwhile)."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # no BEGIN: a checkpoint cannot run inside a transaction
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        raw.close()


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
