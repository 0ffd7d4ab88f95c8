"""The commands that run or look after the system rather than one business capability: the worker, the web
server, the demo, schema migrations and the outbox of undeliverable notices.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from handoff.cli.common import closed_with_command, context, settings
from handoff.kernel.cli_support import DbOption, err, fail, out

if TYPE_CHECKING:
    from collections.abc import Mapping

    from handoff.context import AppContext
    from handoff.worker.scheduler import Job

UnkeyedAuditOption = Annotated[
    bool,
    typer.Option(
        "--insecure-unkeyed-audit",
        help="Run without an audit key (local use only: whoever can write the database can rewrite the audit trail).",
    ),
]


def _audit_key_or_refuse(ctx: AppContext, unkeyed: bool, command: str) -> None:
    """`handoff serve` and `worker` write the audit trail: refused without its key unless told
    (`--insecure-unkeyed-audit`), and refused in any case on a chain already keyed."""
    import logging

    from handoff.audit.service import head_key

    if ctx.audit_keys.current is not None:
        return
    keyed = head_key(ctx)
    if keyed or not unkeyed:
        reason = f"the audit trail is keyed (key {keyed})" if keyed else "the audit trail would not be keyed"
        fail(
            f"{reason} and no audit key is set: set HANDOFF_AUDIT_KEY or HANDOFF_AUDIT_KEY_FILE (in the environment "
            f"or HANDOFF_SECRETS_FILE)" + ("" if keyed else ", or pass --insecure-unkeyed-audit for local use")
        )
    warning = "the audit trail is NOT keyed: whoever can write the database can rewrite it (local use only)"
    err.print(f"[bold red]warning:[/] {warning}", highlight=False)
    logging.getLogger(f"handoff.{command}").warning(warning)


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
    insecure_unkeyed_audit: UnkeyedAuditOption = False,
) -> None:
    """Apply pending events, issue drafts (when automated), deliver notices, run scheduled jobs
    (with `exchange_rates_feed` in the business configuration: import the ECB rates daily; with
    HANDOFF_AUDIT_CHECKPOINTS: sign the audit chain's head there every
    HANDOFF_AUDIT_CHECKPOINT_MINUTES, default 15). Refuses to start without an audit key
    (HANDOFF_AUDIT_KEY) unless --insecure-unkeyed-audit."""
    import logging
    import signal
    import threading

    from handoff.bootstrap import build_channels, build_salesforce
    from handoff.deals.connectors.mapping_file import MappingFileError
    from handoff.worker import loop

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    ctx = context(db)
    current = settings(db)
    _audit_key_or_refuse(ctx, insecure_unkeyed_audit, "worker")
    try:
        channels = build_channels(current, ctx)
    except MappingFileError as exc:  # a CRM's mapping file (HANDOFF_<CRM>_MAPPING) that does not validate
        fail(str(exc))
    jobs = [*loop.DEFAULT_JOBS, *loop.configured_jobs(ctx)]
    checkpoints = current.env.get("HANDOFF_AUDIT_CHECKPOINTS", "")
    if checkpoints and ctx.audit_keys.current is None:
        fail("HANDOFF_AUDIT_CHECKPOINTS is set but there is no audit key to sign checkpoints with (HANDOFF_AUDIT_KEY)")
    if checkpoints:
        minutes = int(current.env.get("HANDOFF_AUDIT_CHECKPOINT_MINUTES", "15"))
        jobs.append(loop.checkpoint_job(Path(checkpoints), minutes))
    elif ctx.audit_keys.current is not None:
        logging.getLogger("handoff.worker").warning(
            "audit checkpoints are off (HANDOFF_AUDIT_CHECKPOINTS): a cut tail of the audit trail would not show"
        )
    try:
        salesforce = build_salesforce(current, ctx)
    except MappingFileError as exc:
        fail(str(exc))
    if salesforce is not None:  # configured by HANDOFF_SALESFORCE_INSTANCE_URL
        jobs.append(loop.polling_job(salesforce, int(current.env.get("HANDOFF_SALESFORCE_POLL_MINUTES", "5"))))
    jobs += _catalog_sync_jobs(current.env)
    name = worker_id or f"worker-{os.getpid()}"
    if once:
        out.print(f"{name}: {loop.one_pass(ctx, channels, name, jobs)}")
        return
    from handoff.invoicing.service import einvoicing

    einvoicing.warm_in_background()  # the e-invoice rule sets compile while the first passes run
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    loop.run(ctx, channels, name, interval, stop, jobs)


def _catalog_sync_jobs(env: Mapping[str, str]) -> list[Job]:
    """`catalog_sync`: hourly, once per hour across workers, pull the product catalog from each CRM
    the settings configure (none: no job). A CRM that fails is logged and tried again next hour;
    the others and the worker's other work go on."""
    import logging

    from handoff.contracts.service.catalog_sync import CatalogSyncError, configured_sources, sync_catalog
    from handoff.worker.scheduler import Job, hourly

    sources = configured_sources(env)
    if not sources:
        return []

    def run(ctx: AppContext) -> None:
        for source in sources:
            try:
                done = sync_catalog(ctx, source, env=env)
            except CatalogSyncError as exc:
                logging.getLogger("handoff.worker").error("catalog not synced (next run in an hour): %s", exc)
                continue
            counts = len(done.added), len(done.changed), done.prices_set
            logging.getLogger("handoff.worker").info("%s catalog: %d added, %d changed, %d prices set", source, *counts)

    return [Job("catalog_sync", hourly, run)]


def serve(
    db: DbOption = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    insecure_open_intake: Annotated[
        bool,
        typer.Option(
            "--insecure-open-intake",
            help="Take deal webhooks without a token (local use only: anyone who reaches the server can post deals).",
        ),
    ] = False,
    insecure_unkeyed_audit: UnkeyedAuditOption = False,
) -> None:
    """Run the web app: the UI, the JSON API (/api/v1, OpenAPI at /api/v1/openapi.json) and webhook intake.
    Refuses to start without a webhook token (HANDOFF_WEBHOOK_TOKEN) unless --insecure-open-intake, and
    without an audit key (HANDOFF_AUDIT_KEY) unless --insecure-unkeyed-audit."""
    import logging
    from functools import partial

    import uvicorn

    from handoff.bootstrap import (
        build_context,
        build_crm_sources,
        build_delivery_webhook_secrets,
        build_slack_signing_secret,
        build_usage_webhook_secrets,
        build_webhook_tokens,
    )
    from handoff.deals.connectors.mapping_file import MappingFileError
    from handoff.kernel.connectors.secrets import SecretsError
    from handoff.web.app import create_app

    current = settings(db)
    try:
        tokens = build_webhook_tokens(current)
    except (ValueError, SecretsError) as exc:
        fail(str(exc))
    if not tokens and not insecure_open_intake:
        fail(
            "the deal webhook has no token, so anyone could post deals: set HANDOFF_WEBHOOK_TOKEN (in the "
            "environment or HANDOFF_SECRETS_FILE), or pass --insecure-open-intake for local use"
        )
    if insecure_open_intake and not tokens:
        warning = "webhook intake is OPEN: anyone who can reach this server can post deals (local use only)"
        err.print(f"[bold red]warning:[/] {warning}", highlight=False)
        logging.getLogger("handoff.serve").warning(warning)
    ctx = context(db)
    _audit_key_or_refuse(ctx, insecure_unkeyed_audit, "serve")
    # the applier process (SQLite) builds its own context: from the same settings, already migrated
    api = create_app(
        ctx,
        tokens,
        insecure_open_intake=insecure_open_intake,
        make_context=partial(build_context, current, migrate=False),
    )
    try:
        api.state.crm_sources = build_crm_sources(current, ctx=ctx)
    except MappingFileError as exc:  # a CRM's mapping file that does not validate
        fail(str(exc))
    api.state.public_url = current.env.get("HANDOFF_PUBLIC_URL", "")
    try:  # the time-tracking tools' delivery webhooks: closed for a source without its secret
        api.state.delivery_webhook_secrets = build_delivery_webhook_secrets(current, ctx)
        api.state.usage_webhook_secrets = build_usage_webhook_secrets(current, ctx)  # the usage platforms
    except (ValueError, SecretsError) as exc:
        fail(str(exc))
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


def outbox_replay(
    outbox_id: int,
    db: DbOption = None,
    actor: Annotated[
        Optional[str], typer.Option(help="Who replays (audited); an active admin user.", metavar="EMAIL")
    ] = None,
) -> None:
    """Send a dead letter again."""
    from handoff.users.service import Role, actor_email
    from handoff.worker.outbox import replay

    ctx = context(db)
    who = actor_email(ctx, actor, "operator@cli", (Role.ADMIN,))
    if not replay(ctx, outbox_id, who):
        fail(f"outbox row {outbox_id} is not a dead letter")
    out.print(f"outbox row {outbox_id} queued again")
