"""Alembic environment: runs against the engine handed over by `handoff.kernel.storage.db.upgrade`,
or `HANDOFF_DATABASE_URL` when Alembic is run by hand."""

from __future__ import annotations

import os

from alembic import context

from handoff.kernel.storage.db import make_engine
from handoff.kernel.storage.schema import metadata

config = context.config
engine = config.attributes.get("engine") or make_engine(os.environ.get("HANDOFF_DATABASE_URL", "sqlite:///handoff.db"))

with engine.connect() as connection:
    # SQLite alters a table by copying it and dropping the old one, which fails on any row that
    # another table refers to while foreign keys are enforced. The pragma only takes effect outside
    # a transaction, so it is set on the driver connection before ours begins; the keys are
    # checked once the migrations are done, before enforcement is back on.
    raw = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
    if raw is not None:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
            if raw is not None and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
                raise RuntimeError(f"migration left rows without their referenced row: {broken[:5]}")
        connection.commit()
    finally:
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")
