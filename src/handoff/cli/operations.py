"""The commands that run or look after the system rather than one business capability: the worker, the web
server, the demo, schema migrations and the outbox of undeliverable notices.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from handoff.cli.common import closed_with_command, context, settings
from handoff.kernel.cli_support import DbOption, fail, out


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
    outbox = typer.Typer(help="Outgoing notices: dead letters and replay.", no_args_is_help=True)
    app.add_typer(db_app, name="db")
    app.add_typer(outbox, name="outbox")
    app.command()(worker)
    app.command()(serve)
    app.command()(demo)
    db_app.command("upgrade")(db_upgrade)
    outbox.command("dead")(outbox_dead)
    outbox.command("replay")(outbox_replay)


def worker(
    db: DbOption = None,
    once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False,
    interval: float = 2.0,
    worker_id: Annotated[Optional[str], typer.Option("--id")] = None,
) -> None:
    """Apply pending events, issue drafts (when automated), deliver notices, run scheduled jobs."""
    import logging
    import signal
    import threading

    from handoff.bootstrap import build_channels, build_salesforce
    from handoff.worker import loop

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    ctx = context(db)
    current = settings(db)
    channels = build_channels(current, ctx)
    jobs = list(loop.DEFAULT_JOBS)
    salesforce = build_salesforce(current, ctx)
    if salesforce is not None:  # configured by HANDOFF_SALESFORCE_INSTANCE_URL
        jobs.append(loop.polling_job(salesforce, int(current.env.get("HANDOFF_SALESFORCE_POLL_MINUTES", "5"))))
    name = worker_id or f"worker-{os.getpid()}"
    if once:
        out.print(f"{name}: {loop.one_pass(ctx, channels, name, jobs)}")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    loop.run(ctx, channels, name, interval, stop, jobs)


def serve(db: DbOption = None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the web app: the UI, the JSON API (/api/v1, OpenAPI at /api/v1/openapi.json) and webhook intake."""
    from functools import partial

    import uvicorn

    from handoff.bootstrap import build_context, build_crm_sources, build_slack_signing_secret
    from handoff.web.app import create_app

    current = settings(db)
    # the applier process (SQLite) builds its own context: from the same settings, already migrated
    api = create_app(context(db), make_context=partial(build_context, current, migrate=False))
    api.state.crm_sources = build_crm_sources(current)
    api.state.public_url = current.env.get("HANDOFF_PUBLIC_URL", "")
    api.state.slack_signing_secret = build_slack_signing_secret(current)
    # What exists now (modules, the app, the schema) lives as long as the process: kept out of the
    # cycle collector's full runs, which would otherwise walk it all and stall requests.
    gc.freeze()
    uvicorn.run(api, host=host, port=port, log_level="info")


def demo(db: Annotated[Path, typer.Option(help="SQLite file to create (replaced).")] = Path("handoff-demo.db")) -> None:
    """The whole flow on bundled sample data, into a fresh SQLite file."""
    from handoff.demo.run import run_demo

    run_demo(db, out)


def db_upgrade(db: DbOption = None) -> None:
    """Apply the schema migrations (Alembic) to the database."""
    from handoff.kernel.storage.db import make_engine, upgrade

    url = settings(db).database_url
    engine = closed_with_command(make_engine(url))
    upgrade(engine)
    out.print(f"schema up to date: {url.split('@')[-1]}")


def outbox_dead(db: DbOption = None) -> None:
    """Notices that could not be delivered, with their reason."""
    from handoff.worker.outbox import dead_letters

    table = Table("id", "key", "channel", "attempts", "last error")
    for r in dead_letters(context(db)):
        table.add_row(str(r["id"]), r["key"], r["channel"], str(r["attempts"]), r["last_error"] or "")
    out.print(table)


def outbox_replay(outbox_id: int, db: DbOption = None, actor: str = "operator@cli") -> None:
    """Send a dead letter again."""
    from handoff.worker.outbox import replay

    if not replay(context(db), outbox_id, actor):
        fail(f"outbox row {outbox_id} is not a dead letter")
    out.print(f"outbox row {outbox_id} queued again")
