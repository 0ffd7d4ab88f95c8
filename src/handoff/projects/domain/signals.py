"""Delivery signals as they arrive, whatever their source: time entries, expenses, milestone acceptances.

Every reader (`projects.formats`: generic CSV/JSON and the export formats of Harvest, Toggl Track,
Clockify and Jira Tempo), the API and the webhook produce these; the service stores them. Each has
the source's own id (`external_id`): (source, external_id) names one signal for good, so a repeat
changes nothing and a later version of it (`updated_at`, else arrival) is an edit. `row` says where
the signal came from ("harvest.csv row 12") so that errors can name it.

`SignalError` names the record and the field: "harvest.csv row 12: hours is negative (-2.00)".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


class SignalError(ValueError):
    """A signal that cannot be taken; the message names the record and the field."""

    def __init__(self, record: str, field: str, problem: str) -> None:
        super().__init__(f"{record}: {field} {problem}")
        self.record, self.field, self.problem = record, field, problem


@dataclass(frozen=True, slots=True)
class TimeEntryInput:
    """Time someone worked on a project, as the time-tracking tool reported it."""

    source: str  # "harvest", "toggl", "clockify", "tempo", "csv", "json", "api", "webhook"
    external_id: str  # the source's id of the entry
    project: str  # the handoff project id, or the project's id in that source (project_external_ids)
    role: str  # a role of the project's rate card ("architect")
    person: str  # who worked (email or name)
    work_date: date
    hours: Decimal  # > 0, at most 24
    billable: bool = True
    notes: str = ""
    phase: str = ""  # a phase key of the project's plan; "" = the phase whose dates hold work_date
    updated_at: datetime | None = None  # the source's last change; an older version never overwrites a newer
    deleted: bool = False  # the source deleted the entry
    row: str = ""  # where it came from, for messages ("harvest.csv row 12")


@dataclass(frozen=True, slots=True)
class ExpenseInput:
    """An expense incurred for a project, billed on to the customer (pass-through or with markup)."""

    source: str
    external_id: str
    project: str
    person: str
    spent_on: date
    amount: Decimal  # as spent, net of recoverable VAT, in `currency`; > 0
    currency: str  # ISO 4217
    category: str  # "travel", "lodging", "meals", ... as the source names it
    description: str = ""
    receipt_ref: str = ""  # the receipt's reference or URL in the source
    tax_category: str = "standard"  # the product tax category it is re-invoiced under
    billable: bool = True
    updated_at: datetime | None = None
    deleted: bool = False
    row: str = ""


@dataclass(frozen=True, slots=True)
class AcceptanceInput:
    """The customer accepted a milestone: who, when, and the evidence (a sign-off URL or text)."""

    source: str
    external_id: str
    project: str
    milestone: str  # the milestone's key in the contract
    accepted_on: date
    accepted_by: str
    evidence: str = ""
    row: str = ""
