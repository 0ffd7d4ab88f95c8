"""Writes the demo's services project files: `src/handoff/demo/services_time.csv` and
`services_expenses.csv`, three months (February to April 2027) of a four-person team's time and
expenses on the Nordlicht Logistik TMS rollout, in the columns of Harvest's detailed time and
detailed expense report exports.

Deterministic (a fixed seed): running it again writes the same bytes. The files are committed; the
demo (`handoff.demo.projects`) and the hand-calculated invoice test read them, so a change here
changes the test's expected lines too. Usage: `.venv/bin/python scripts/generate_services_demo.py`.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "src" / "handoff" / "demo"
CLIENT = "Nordlicht Logistik GmbH"
PROJECT = "TMS rollout"
PROJECT_CODE = "NL-TMS"
CURRENCY = "Euro - EUR"
FIRST, LAST = date(2027, 2, 1), date(2027, 4, 30)
HOLIDAYS = {date(2027, 3, 26), date(2027, 3, 29)}  # Good Friday, Easter Monday 2027
BUILD, ROLLOUT = date(2027, 3, 1), date(2027, 4, 19)  # phase starts (Discovery from FIRST)

# Harvest detailed time report export (support.getharvest.com, "Detailed time and detailed expense reports")
TIME_COLUMNS = (
    "Date",
    "Client",
    "Project",
    "Project Code",
    "Task",
    "Notes",
    "Hours",
    "Hours Rounded",
    "Billable?",
    "Invoiced?",
    "Approved?",
    "First Name",
    "Last Name",
    "Roles",
    "Employee?",
    "Billable Rate",
    "Billable Amount",
    "Cost Rate",
    "Cost Amount",
    "Currency",
    "External Reference URL",
)
# ... and detailed expense report export (Currency as accounts with several currencies show it)
EXPENSE_COLUMNS = (
    "Date",
    "Client",
    "Project",
    "Project Code",
    "Category",
    "Notes",
    "Amount",
    "Billable?",
    "Invoiced?",
    "First Name",
    "Last Name",
    "Receipt URL",
    "Currency",
)


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    role: str  # the project role (the contract line's product)
    rate: Decimal
    cost: Decimal
    # chance of working on the project on a working day, per phase (discovery, build, rollout)
    presence: tuple[float, float, float]
    tasks: tuple[str, ...]


TEAM = (
    Person("Anna", "Becker", "architect", Decimal(160), Decimal(95), (0.95, 0.5, 0.9), ("Architecture", "Workshops")),
    Person(
        "Jonas",
        "Weber",
        "senior-consultant",
        Decimal(130),
        Decimal(80),
        (0.9, 0.9, 0.9),
        ("Consulting", "Workshops", "Project management"),
    ),
    Person("Lea", "Schmidt", "consultant", Decimal(110), Decimal(65), (0.4, 1.0, 0.95), ("Configuration", "Testing")),
    Person("Tim", "Hoffmann", "analyst", Decimal(90), Decimal(55), (0.85, 0.6, 0.9), ("Analysis", "Data migration")),
)
NOTES = {
    "Architecture": ("target architecture", "integration design", "carrier API review", "hosting sizing"),
    "Workshops": ("process workshop", "stakeholder workshop", "cut-over planning session"),
    "Consulting": ("dispatch process", "tariff model", "warehouse interfaces", "status meeting"),
    "Project management": ("weekly steering", "plan update", "risk review"),
    "Configuration": ("route planning setup", "carrier master data", "freight rules", "EDI mapping"),
    "Testing": ("integration tests", "user acceptance tests", "defect retest"),
    "Analysis": ("as-is data analysis", "shipment volumes", "report requirements"),
    "Data migration": ("address cleansing", "migration dry run", "load validation"),
}
QUARTER = Decimal("0.25")


def _working_days() -> list[date]:
    days, day = [], FIRST
    while day <= LAST:
        if day.weekday() < 5 and day not in HOLIDAYS:
            days.append(day)
        day += timedelta(days=1)
    return days


def _phase(day: date) -> int:
    return 0 if day < BUILD else 1 if day < ROLLOUT else 2


def _rounded(hours: Decimal) -> Decimal:
    """Harvest's "round up to 15 minutes" setting, as its Hours Rounded column shows it."""
    return (hours / QUARTER).to_integral_value(ROUND_CEILING) * QUARTER


def time_rows(rng: random.Random) -> list[list[str]]:
    rows: list[list[str]] = []
    ticket = 100
    for day in _working_days():
        for person in TEAM:
            if rng.random() >= person.presence[_phase(day)]:
                continue
            entries = 2 if rng.random() < 0.5 else 1
            for n in range(entries):
                task = rng.choice(person.tasks)
                ticket += 1
                hours = Decimal(rng.randint(50, 800 if entries == 1 else 400)) / 100
                billable = not (task == "Project management" and n == 1) and rng.random() > 0.02
                note = f"NL-{ticket}: {rng.choice(NOTES[task])}"
                rate = person.rate if billable else Decimal(0)
                rounded = _rounded(hours)
                rows.append(
                    [
                        day.isoformat(),
                        CLIENT,
                        PROJECT,
                        PROJECT_CODE,
                        task,
                        note,
                        f"{hours:.2f}",
                        f"{rounded:.2f}",
                        "Yes" if billable else "No",
                        "No",
                        "Yes",
                        person.first,
                        person.last,
                        person.role,
                        "Yes",
                        f"{rate:.2f}",
                        f"{rounded * rate:.2f}",
                        f"{person.cost:.2f}",
                        f"{rounded * person.cost:.2f}",
                        CURRENCY,
                        f"https://nordlicht.atlassian.example/browse/NL-{ticket}",
                    ]
                )
    return rows


# (day, person index, category, notes, amount, billable)
EXPENSES = (
    ("2027-02-02", 0, "Travel", "Train Berlin - Hamburg, kick-off", "89.90", True),
    ("2027-02-02", 1, "Travel", "Train Frankfurt - Hamburg, kick-off", "124.50", True),
    ("2027-02-03", 0, "Lodging", "Hotel Hamburg, 1 night", "139.00", True),
    ("2027-02-03", 1, "Lodging", "Hotel Hamburg, 1 night", "139.00", True),
    ("2027-02-10", 3, "Meals", "Workshop lunch with the dispatch team", "64.20", True),
    ("2027-02-17", 0, "Travel", "Flight Munich - Hamburg, design review", "212.35", True),
    ("2027-02-18", 0, "Lodging", "Hotel Hamburg, 1 night", "149.00", True),
    ("2027-02-25", 1, "Meals", "Team dinner after the blueprint sign-off", "186.40", False),
    ("2027-03-03", 2, "Travel", "Train Cologne - Hamburg, build sprint 1", "98.70", True),
    ("2027-03-04", 2, "Lodging", "Hotel Hamburg, 2 nights", "268.00", True),
    ("2027-03-10", 3, "Software", "Address validation service, 5,000 look-ups", "45.00", True),
    ("2027-03-17", 1, "Travel", "Train Frankfurt - Hamburg, steering committee", "124.50", True),
    ("2027-03-24", 2, "Mileage", "Car to the Bremen warehouse, 240 km", "72.00", True),
    ("2027-04-06", 2, "Travel", "Train Cologne - Hamburg, user acceptance tests", "98.70", True),
    ("2027-04-07", 2, "Lodging", "Hotel Hamburg, 3 nights", "417.00", True),
    ("2027-04-13", 3, "Meals", "Test day catering", "58.60", True),
    ("2027-04-20", 0, "Travel", "Train Berlin - Hamburg, go-live", "89.90", True),
    ("2027-04-20", 1, "Travel", "Train Frankfurt - Hamburg, go-live", "124.50", True),
    ("2027-04-21", 0, "Lodging", "Hotel Hamburg, 2 nights", "298.00", True),
    ("2027-04-22", 1, "Lodging", "Hotel Hamburg, 2 nights", "298.00", True),
)


def expense_rows() -> list[list[str]]:
    rows: list[list[str]] = []
    for n, (day, who, category, notes, amount, billable) in enumerate(EXPENSES, start=1):
        person = TEAM[who]
        rows.append(
            [
                day,
                CLIENT,
                PROJECT,
                PROJECT_CODE,
                category,
                notes,
                amount,
                "Yes" if billable else "No",
                "No",
                person.first,
                person.last,
                f"https://acme.harvestapp.example/expenses/receipts/NL-R{n:03d}.pdf",
                CURRENCY,
            ]
        )
    return rows


def _write(path: Path, columns: tuple[str, ...], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def main() -> None:
    rows = time_rows(random.Random(2027))
    _write(DEMO / "services_time.csv", TIME_COLUMNS, rows)
    _write(DEMO / "services_expenses.csv", EXPENSE_COLUMNS, expense_rows())
    print(f"{len(rows)} time rows, {len(EXPENSES)} expense rows written to {DEMO}")


if __name__ == "__main__":
    main()
