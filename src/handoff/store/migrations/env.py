"""Alembic environment: runs against the engine handed over by `handoff.store.db.upgrade`,
or `HANDOFF_DATABASE_URL` when Alembic is run by hand."""

from __future__ import annotations

import os

from alembic import context

from handoff.store.db import make_engine
from handoff.store.schema import metadata

config = context.config
engine = config.attributes.get("engine") or make_engine(os.environ.get("HANDOFF_DATABASE_URL", "sqlite:///handoff.db"))

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True)  # fmt: skip
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
