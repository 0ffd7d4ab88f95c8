"""A small services project for the delivery-health tests (integration and pages): the demo's
contract (four T&M roles at 160 / 130 / 110 / 90 EUR, milestones M1 and M2) bought by a customer with
a hostile name, planned in two phases, with 77 hours booked by 10 March 2027.

Worked by hand, as of ON (2027-03-10):
- discovery (1-28 Feb, M1; architect 20 h, analyst 20 h): elapsed in full; architect 4 x 8 = 32 h,
  analyst 5 h: 37 h of 40 h planned to date.
- build (1-31 Mar; architect 40 h): 10 of 31 days elapsed, 40 x 10/31 = 12.90 h planned to date;
  architect 5 x 8 = 40 h.
- total 77 h worked, 52.90 h planned to date: 145.56 % (above the 100 % threshold: a burn alert).
- unbilled (nothing approved needed, nothing posted): architect 72 h x 160 = 11,520.00, analyst
  5 h x 90 = 450.00: 11,970.00 (above 1,000: an alert), oldest 2 Feb, 36 days (above 10: an alert).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.contracts.service.contracts import lock
from handoff.demo import projects as demo
from handoff.projects.domain.signals import TimeEntryInput
from handoff.projects.service.delivery import record_time
from handoff.projects.service.projects import open_projects, set_plan

ACTOR = "system:test"
PID = demo.PROJECT_ID
ON = date(2027, 3, 10)
NOW = datetime(2027, 3, 10, 18, 0, tzinfo=UTC)
HOSTILE = '<!channel> <script>alert("x")</script> & Co'
NOTE = '<img src=x onerror="alert(1)"> fixed <b>it</b>'
MANAGER = "pm@acme.example"


def plan(manager: str = MANAGER, **settings: Any) -> dict[str, Any]:
    return {
        "manager_email": manager,
        "phases": [
            {
                "key": "discovery",
                "name": "Discovery <b>1</b>",
                "start": "2027-02-01",
                "end": "2027-02-28",
                "milestone": "M1",
                "budget": {"architect": "20", "analyst": "20"},
            },
            {
                "key": "build",
                "name": "Build",
                "start": "2027-03-01",
                "end": "2027-03-31",
                "milestone": "M2",
                "budget": {"architect": "40"},
            },
        ],
        "settings": {
            "approval_required": False,
            "burn_alert_percent": "100",
            "wip_alert_amount": "1000",
            "wip_alert_days": 10,
            **settings,
        },
    }


def _entry(n: int, role: str, day: str, hours: str, notes: str = "") -> TimeEntryInput:
    return TimeEntryInput(
        source="test",
        external_id=f"T-{n}",
        project=PID,
        role=role,
        person="jo@acme.example",
        work_date=date.fromisoformat(day),
        hours=Decimal(hours),
        notes=notes,
    )


ENTRIES = [
    *(_entry(i, "architect", d, "8") for i, d in enumerate(("2027-02-02", "2027-02-03", "2027-02-04", "2027-02-05"))),
    _entry(10, "analyst", "2027-02-10", "5", NOTE),
    *(
        _entry(20 + i, "architect", d, "8")
        for i, d in enumerate(("2027-03-01", "2027-03-02", "2027-03-03", "2027-03-04", "2027-03-05"))
    ),
]


def build_project(ctx: AppContext, manager: str = MANAGER, **settings: Any) -> None:
    """Lock the contract, open and plan its project, record the entries; the clock at NOW."""
    ctx.clock.now = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    buyer = dataclasses.replace(demo.BUYER, legal_name=HOSTILE)
    lock(ctx, demo.services_contract(), buyer, ACTOR, "won quote")
    assert open_projects(ctx, ACTOR) == [PID]
    set_plan(ctx, PID, plan(manager, **settings), ACTOR, "kick-off")
    ctx.clock.now = NOW  # type: ignore[attr-defined]
    report = record_time(ctx, ENTRIES, ACTOR)
    assert not report.errors and report.created == len(ENTRIES), report
