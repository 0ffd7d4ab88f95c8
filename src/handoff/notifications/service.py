"""The notices the flow sends: who hears of what, rendered for e-mail and the log channel."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from handoff.context import AppContext
from handoff.deals.domain.readiness import Problem
from handoff.kernel.storage.unit_of_work import Notice, UnitOfWork


@dataclass(frozen=True, slots=True)
class Reply:
    """Where a decision made in a chat tool is answered: the outbox channel that delivers the
    answer, its address there (Slack: the click's response_url) and what the channel needs to
    show it in place (Slack: the message clicked in)."""

    channel: str
    address: str
    context: Mapping[str, Any] = field(default_factory=dict)


def answer(
    uow: UnitOfWork,
    at: datetime,
    reply: Reply,
    key: str,
    text: str,
    *,
    in_place: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The answer to a decision, through the outbox: in place of what was clicked, or (`in_place`
    False) to the clicker alone."""
    payload = {"address": reply.address, "text": text, **(reply.context if in_place else {}), **(extra or {})}
    if not in_place:
        payload["ephemeral"] = True
    uow.notify(Notice(f"{reply.channel}:{key}", reply.channel, "answer", payload), at)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def send(
    uow: UnitOfWork,
    ctx: AppContext,
    at: datetime,
    *,
    key: str,
    topic: str,
    to: list[str],
    subject: str,
    text: str,
    channels: list[str],
    html: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    for channel in channels:
        payload: dict[str, Any] = {"to": to, "subject": subject, "text": text, **(extra or {})}
        if html is not None and channel == "email":
            payload["html"] = html
        uow.notify(Notice(f"{channel}:{key}", channel, topic, payload), at)


def exception_opened(
    uow: UnitOfWork,
    ctx: AppContext,
    at: datetime,
    deal_id: str,
    deal_name: str,
    owner: str,
    problems: tuple[Problem, ...],
) -> None:
    lines = "\n".join(f"- {p.field}: {p.message}" for p in problems)
    key = f"exception:{deal_id}:{_digest(*(f'{p.code}{p.field}{p.message}' for p in problems))}"
    send(
        uow,
        ctx,
        at,
        key=key,
        topic="exception",
        to=[owner],
        subject=f"[handoff] Deal {deal_id} cannot be invoiced yet",
        text=f"Deal {deal_id} ({deal_name}) is blocked until these are fixed:\n{lines}\n",
        channels=list(ctx.config.model.notifications.exception_channels),
    )


def task_opened(
    uow: UnitOfWork, ctx: AppContext, at: datetime, deal_id: str, deal_name: str, version_event: str
) -> None:
    finance = ctx.config.model.notifications.finance_email
    send(
        uow,
        ctx,
        at,
        key=f"task:{deal_id}:{_digest(version_event)}",
        topic="task",
        to=[finance],
        subject=f"[handoff] Deal {deal_id} is ready to invoice",
        text=f"Deal {deal_id} ({deal_name}) has complete billing data; its invoice draft awaits review.\n",
        channels=list(ctx.config.model.notifications.task_channels),
    )


def payment_status(
    uow: UnitOfWork,
    ctx: AppContext,
    at: datetime,
    owner: str,
    invoice_number: str,
    state: str,
    paid: str,
    gross: str,
    currency: str,
    *,
    deal_id: str = "",
    due_date: date | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Payment status back to the sales side (paid, partial, unpaid after an undo, overdue,
    reminded): an e-mail and log line to the deal owner, and a generic `status` object in the
    payload for a CRM write-back connector consuming topic `payment_status`."""
    status = {
        "invoice_number": invoice_number,
        "deal_id": deal_id,
        "state": state,
        "paid": paid,
        "gross": gross,
        "currency": currency,
        "due_date": due_date.isoformat() if due_date else None,
        "at": at.isoformat(),
        **(extra or {}),
    }
    detail = f" (reminder level {extra['level']})" if extra and "level" in extra else ""
    for channel in ("email", "log"):
        payload = {
            "to": [owner],
            "subject": f"[handoff] Invoice {invoice_number} is {state}",
            "text": f"Invoice {invoice_number}: {paid} of {gross} {currency} received ({state}{detail}).\n",
            "status": status,
        }
        suffix = f":{extra['level']}" if extra and "level" in extra else ""
        key = f"{channel}:payment:{invoice_number}:{state}:{paid}{suffix}:{deal_id}"
        uow.notify(Notice(key, channel, "payment_status", payload), at)
