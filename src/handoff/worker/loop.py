"""The worker loop: apply inbox events, issue drafts when automated, deliver the outbox, run
scheduled jobs. Any number of workers may run against one PostgreSQL database; each step claims
its work with `SKIP LOCKED` or a once-per-period job row, so no work is done twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from handoff.audit import service as audit
from handoff.collections import service as dunning
from handoff.context import AppContext
from handoff.contracts.service import billing_run
from handoff.deals.connectors import PollingSource
from handoff.deals.service import crm_sync, tax_holds
from handoff.deals.service.intake import process_pending
from handoff.invoicing.service import exchange_rates
from handoff.invoicing.service.issuing import issue_all_drafts
from handoff.kernel.delivery import DeliveryError
from handoff.projects.service import health as delivery_health
from handoff.projects.service import posting
from handoff.projects.service import projects as project_service
from handoff.reporting.service import digest, metrics
from handoff.usage.service import rating as usage_rating
from handoff.worker.outbox import Channel, deliver_due
from handoff.worker.scheduler import Job, daily, every, hourly, run_due, weekly

log = logging.getLogger("handoff.worker")


def _send_digest(ctx: AppContext) -> None:
    digest.send(ctx, digest.build(ctx), [ctx.config.model.notifications.finance_email])


def _run_dunning(ctx: AppContext) -> None:
    dunning.run_dunning(ctx)


def _rate_usage(ctx: AppContext) -> None:
    today = ctx.clock().date()
    usage_rating.rate_usage(ctx, today)
    usage_rating.prune_usage_events(ctx, today)


def _retry_tax_engines(ctx: AppContext) -> None:
    """Deals held because a tax engine did not answer go through again (see `tax_holds`)."""
    tax_holds.retry(ctx, "automation:tax_retry", engine_only=True)


DEFAULT_JOBS = [
    Job("weekly_digest", weekly, _send_digest),
    Job("daily_dunning", daily, _run_dunning),
    Job("compact_state_counts", hourly, metrics.compact_state_counts),
    Job("tax_retry", every(15), _retry_tax_engines, lease=timedelta(minutes=15)),
    # services contracts open their projects; approved delivery of the months before this one is
    # posted to the contract schedules (late edits too, as adjustments) before the billing run bills it
    # (each new project is queued for the project tool, when one is configured, in the transaction
    # that opens it)
    Job("open_projects", hourly, lambda ctx: project_service.open_projects(ctx, "automation:projects")),
    Job("delivery_posting", daily, lambda ctx: posting.post_delivery(ctx, ctx.clock().date().replace(day=1))),
    # metered usage of the months whose grace ended is rated into the schedules (raw events past
    # the retention dropped) before the billing run bills it
    Job("usage_rating", daily, _rate_usage),
    Job("billing_run", daily, lambda ctx: billing_run.run_billing(ctx, ctx.clock().date(), "worker")),
    # projects whose burn or unbilled work crossed a threshold: alerts to owner, manager and finance, once
    Job("delivery_health", daily, lambda ctx: delivery_health.raise_alerts(ctx, ctx.clock().date())),
]


def polling_job(source: PollingSource, minutes: int = 5) -> Job:
    """Poll a CRM that sends no webhooks (Salesforce) once per `minutes` across all workers; the
    lease is one period, so a killed worker's poll is taken over in the next pass after it."""
    return Job(
        f"{source.name}_poll", every(minutes), lambda ctx: crm_sync.poll(ctx, source), lease=timedelta(minutes=minutes)
    )


def checkpoint_job(directory: Path, minutes: int = 15) -> Job:
    """Sign the audit chain's head into `directory` once per `minutes` across all workers (when
    anything was appended). A chain that no longer verifies is not signed: logged as an error in
    every period until it is looked into, without stopping the worker's other work."""

    def run(ctx: AppContext) -> None:
        try:
            audit.checkpoint(ctx, directory)
        except audit.AuditError as exc:
            log.error("audit checkpoint not written: %s", exc)

    return Job("audit_checkpoint", every(minutes), run, lease=timedelta(minutes=minutes))


def fx_rates_job(url: str) -> Job:
    """Fetch the ECB reference rates at `url` and import them (`exchange_rates.fetch_rates`) once a
    day across all workers. A file that cannot be fetched (after the HTTP helper's own retries) or
    read, or a rate that differs from the one stored, is logged and nothing is stored; the next
    day's run tries again, and the worker's other work goes on."""

    def run(ctx: AppContext) -> None:
        try:
            done = exchange_rates.fetch_rates(ctx, "automation:fx_rates", url)
        except (DeliveryError, exchange_rates.ExchangeRateError) as exc:
            log.error("ECB rates not imported from %s (next run tomorrow): %s", url, exc)
            return
        counts = done.added, done.unchanged
        log.info("ECB rates of %s..%s imported: %d added, %d unchanged", done.first_day, done.last_day, *counts)

    return Job("fx_rates", daily, run)


def configured_jobs(ctx: AppContext) -> list[Job]:
    """The jobs the business configuration turns on, beyond `DEFAULT_JOBS`: `fx_rates` when it names
    an `exchange_rates_feed` (off by default, so tests and offline installs never reach out)."""
    feed = ctx.config.model.exchange_rates_feed
    return [] if feed is None else [fx_rates_job(feed.url)]


@dataclass
class Pass:
    applied: int = 0
    issued: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    jobs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.applied or self.issued or self.delivered or self.retried or self.dead or self.jobs)


def one_pass(ctx: AppContext, channels: Mapping[str, Channel], worker_id: str, jobs: list[Job] | None = None) -> Pass:
    result = Pass()
    result.applied = process_pending(ctx).applied
    if ctx.config.model.automation.issue_drafts:
        failures: list[tuple[int, str]] = []
        result.issued = len(issue_all_drafts(ctx, actor=f"automation:{worker_id}", failures=failures))
        for invoice_id, reason in failures:
            log.warning("draft %s not issued: %s", invoice_id, reason)
    delivery = deliver_due(ctx, channels, worker_id)
    result.delivered, result.retried, result.dead = delivery.delivered, delivery.retried, delivery.dead
    result.jobs = run_due(ctx, DEFAULT_JOBS if jobs is None else jobs, worker_id)
    return result


def run(
    ctx: AppContext,
    channels: Mapping[str, Channel],
    worker_id: str,
    interval: float = 2.0,
    stop: threading.Event | None = None,
    jobs: list[Job] | None = None,
) -> None:
    """Loop until `stop` is set; sleep only when a pass found nothing to do."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            result = one_pass(ctx, channels, worker_id, jobs)
        except Exception:  # a transient database error must not end the worker; the next pass retries
            log.exception("worker pass failed")
            stop.wait(interval)
            continue
        if result.busy:
            log.info("%s: %s", worker_id, result)
        else:
            stop.wait(interval)
