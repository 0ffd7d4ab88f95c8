"""The weekly exception digest: open exceptions by owner and age, orders by state, overdue invoices
(what is still open on them: gross - paid - credited, from invoicing's ledger).

Rendered as plain text (terminal, log) and as an HTML e-mail body from Jinja2 templates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from handoff.context import AppContext
from handoff.invoicing.service import ledger
from handoff.kernel.money import ZERO
from handoff.kernel.storage.unit_of_work import Notice
from handoff.reporting.repository import ReportingRepository

TEMPLATES = Path(__file__).parent.parent / "templates"
AGE_BUCKETS = ((0, 2, "0-2 days"), (3, 7, "3-7 days"), (8, 30, "8-30 days"), (31, 10**6, "over 30 days"))


@dataclass
class OwnerExceptions:
    owner: str
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Digest:
    generated_at: datetime
    by_owner: list[OwnerExceptions]
    ages: dict[str, int]
    states: dict[str, int]
    overdue: list[dict[str, Any]]
    overdue_total: dict[str, Decimal]

    @property
    def open_exceptions(self) -> int:
        return sum(len(o.items) for o in self.by_owner)


def build(ctx: AppContext) -> Digest:
    now = ctx.clock()
    repo = ReportingRepository(ctx.engine)
    owners: dict[str, OwnerExceptions] = {}
    ages = {label: 0 for *_, label in AGE_BUCKETS}
    for exception in repo.open_exceptions():
        age = (now - exception.opened_at).days
        label = next(lbl for lo, hi, lbl in AGE_BUCKETS if lo <= age <= hi)
        ages[label] += 1
        owners.setdefault(exception.owner, OwnerExceptions(exception.owner)).items.append(
            {
                "deal_id": exception.deal_id,
                "deal_name": exception.deal_name,
                "age_days": age,
                "fields": ", ".join(p.field for p in exception.problems),
                "problems": "; ".join(p.message for p in exception.problems),
            }
        )
    states = repo.orders_by_state()
    overdue: list[dict[str, Any]] = []
    totals: defaultdict[str, Decimal] = defaultdict(lambda: ZERO)
    late_first = sorted(ledger.overdue_invoices(ctx, now.date()), key=lambda i: (i.due_date or now.date(), i.id))
    for late in late_first:  # open = gross - paid - credited: a settled invoice is not among them
        open_amount = late.open_amount
        totals[late.currency] += open_amount
        overdue.append(
            {
                "number": late.number,
                "customer": late.customer_name,
                "currency": late.currency,
                "open": open_amount,
                "days": (now.date() - late.due_date).days if late.due_date else 0,
            }
        )
    return Digest(
        now,
        sorted(owners.values(), key=lambda x: (-len(x.items), x.owner)),
        ages,
        dict(sorted(states.items())),
        overdue,
        dict(totals),
    )


def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True
    )


def render_text(digest: Digest) -> str:
    return _env().get_template("digest/digest.txt").render(d=digest)


def render_html(digest: Digest) -> str:
    return _env().get_template("digest/digest.html").render(d=digest)


def send(ctx: AppContext, digest: Digest, recipients: list[str]) -> None:
    """Queue the digest e-mail; the key makes a second send in the same week a no-op."""
    week = digest.generated_at.strftime("%G-W%V")
    with ctx.unit_of_work() as uow:
        uow.notify(
            Notice(
                f"email:digest:{week}",
                "email",
                "digest",
                {
                    "to": recipients,
                    "subject": f"[handoff] Weekly billing digest {week}: {digest.open_exceptions} open exceptions",
                    "text": render_text(digest),
                    "html": render_html(digest),
                },
            ),
            digest.generated_at,
        )
        uow.commit()
