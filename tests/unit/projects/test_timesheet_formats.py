"""Delivery file readers: generic CSV/JSON and the exports of Harvest, Toggl Track, Clockify, Tempo."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from handoff.projects.domain.signals import SignalError
from handoff.projects.formats.timesheets import (
    FORMATS,
    SignalFileError,
    detect_format,
    format_spec,
    parse_hours,
    read_acceptance_file,
    read_expense_file,
    read_time_file,
)

HARVEST_HEADER = (
    "Date,Client,Project,Project Code,Task,Notes,Hours,Hours Rounded,Billable?,Invoiced?,Approved?,"
    "First Name,Last Name,Roles,Employee?,Billable Rate,Billable Amount,Cost Rate,Cost Amount,Currency,"
    "External Reference URL"
)
HARVEST_ROWS = [
    '2027-01-11,Acme GmbH,ERP rollout,PRJ-D-1,Architect,"Design workshop, day 1",7.5,7.5,Yes,No,Yes,'
    "Ada,Lovelace,Architect,Yes,180.00,1350.00,90.00,675.00,Euro - EUR,",
    "2027-01-11,Acme GmbH,ERP rollout,PRJ-D-1,Architect,Follow-up,1.25,1.5,Yes,No,Yes,"
    "Ada,Lovelace,Architect,Yes,180.00,225.00,90.00,112.50,Euro - EUR,",
    "2027-01-12,Acme GmbH,ERP rollout,PRJ-D-1,Developer,Interfaces,6,6,Yes,No,No,"
    "Grace,Hopper,Developer,Yes,120.00,720.00,60.00,360.00,Euro - EUR,https://tracker.example/T-7",
    "2027-01-12,Acme GmbH,Internal,,Project manager,Status meeting,0.75,1,No,No,No,"
    "Grace,Hopper,Developer,Yes,0,0,60.00,45.00,Euro - EUR,",
]


def harvest(*rows: str) -> bytes:
    return ("\n".join([HARVEST_HEADER, *rows]) + "\n").encode()


def problems(exc: pytest.ExceptionInfo[SignalFileError]) -> list[tuple[str, str]]:
    return [(e.record, e.field) for e in exc.value.errors]


# --- Harvest ----------------------------------------------------------------------------------------


def test_harvest_time_report_maps_every_column() -> None:
    entries = read_time_file(harvest(*HARVEST_ROWS), "harvest.csv")
    assert [e.row for e in entries] == [f"harvest.csv row {n}" for n in (2, 3, 4, 5)]
    first = entries[0]
    assert (first.source, first.project, first.role, first.person) == (
        "harvest",
        "PRJ-D-1",
        "Architect",
        "Ada Lovelace",
    )
    assert first.work_date == date(2027, 1, 11)
    assert first.hours == Decimal("7.5")
    assert first.notes == "Design workshop, day 1"
    assert first.billable is True
    assert [e.hours for e in entries] == [Decimal("7.5"), Decimal("1.25"), Decimal("6"), Decimal("0.75")]
    # no Project Code: the project's name; Billable? No
    assert (entries[3].project, entries[3].billable, entries[3].role) == ("Internal", False, "Project manager")
    assert all(e.external_id.startswith("d-") and len(e.external_id) == 34 for e in entries)
    # rows 2 and 3 share project, person, day and task: their place among their likes tells them apart
    assert len({e.external_id for e in entries}) == 4


def test_harvest_ids_are_stable_and_an_hours_edit_keeps_the_id() -> None:
    before = read_time_file(harvest(*HARVEST_ROWS), "harvest.csv")
    again = read_time_file(harvest(*HARVEST_ROWS), "january.csv")
    assert [e.external_id for e in again] == [e.external_id for e in before]
    edited = HARVEST_ROWS[2].replace("Interfaces,6,6", "Interfaces (fixed),6.5,6.5")
    assert edited != HARVEST_ROWS[2]
    after = read_time_file(harvest(HARVEST_ROWS[0], HARVEST_ROWS[1], edited, HARVEST_ROWS[3]), "harvest.csv")
    assert after[2].external_id == before[2].external_id
    assert after[2].hours == Decimal("6.5")
    # another task is another entry: the identity changed
    moved = HARVEST_ROWS[2].replace(",Developer,Interfaces", ",Architect,Interfaces")
    assert moved != HARVEST_ROWS[2]
    assert read_time_file(harvest(moved), "h.csv")[0].external_id != before[2].external_id
    # a period export holding only the second day gives the second day's entries the same ids
    second_day = read_time_file(harvest(HARVEST_ROWS[2], HARVEST_ROWS[3]), "h.csv")
    assert [e.external_id for e in second_day] == [before[2].external_id, before[3].external_id]


def test_harvest_roles_column_by_mapping_and_a_constant_role() -> None:
    entries = read_time_file(harvest(*HARVEST_ROWS), "harvest.csv", mapping={"role": "Roles"})
    assert [e.role for e in entries] == ["Architect", "Architect", "Developer", "Developer"]
    fixed = read_time_file(harvest(*HARVEST_ROWS), "harvest.csv", mapping={"role": "=consultant"})
    assert {e.role for e in fixed} == {"consultant"}


def test_harvest_dates_in_another_format_need_date_format() -> None:
    row = HARVEST_ROWS[0].replace("2027-01-11", "01/31/2027")
    with pytest.raises(SignalFileError) as exc:
        read_time_file(harvest(row), "harvest.csv")
    assert exc.value.errors[0].problem == "is not a date: '01/31/2027' (expected YYYY-MM-DD)"
    entries = read_time_file(harvest(row, HARVEST_ROWS[1]), "harvest.csv", date_format="MM/DD/YYYY")
    assert [e.work_date for e in entries] == [date(2027, 1, 31), date(2027, 1, 11)]  # ISO still read
    german = read_time_file(harvest(row.replace("01/31/2027", "31.01.2027")), "h.csv", date_format="%d.%m.%Y")
    assert german[0].work_date == date(2027, 1, 31)


def test_harvest_semicolon_export_with_decimal_commas() -> None:
    data = (
        "Date;Client;Project;Project Code;Task;Notes;Hours;Hours Rounded;Billable?;Invoiced?;First Name;Last Name\r\n"
        "2027-02-01;Mairie;Signage;MAI-1;Design;Point d'étape;1,5;1,5;Yes;No;Léa;Dubois\r\n"
    ).encode("utf-8-sig")
    (entry,) = read_time_file(data, "harvest.csv")
    assert (entry.hours, entry.person, entry.project) == (Decimal("1.5"), "Léa Dubois", "MAI-1")


HARVEST_EXPENSE_HEADER = (
    "Date,Client,Project,Project Code,Category,Notes,Amount,Billable?,Invoiced?,First Name,Last Name,Currency,"
    "Receipt URL"
)


def test_harvest_expense_export() -> None:
    data = (
        f"{HARVEST_EXPENSE_HEADER}\n"
        "2027-01-12,Acme GmbH,ERP rollout,PRJ-D-1,Travel,Train Berlin-Munich,149.90,Yes,No,Ada,Lovelace,"
        "Euro - EUR,https://receipts.example/1\n"
        '2027-01-13,Acme GmbH,ERP rollout,PRJ-D-1,Lodging,Hotel,"1,234.50",Yes,No,Ada,Lovelace,usd,\n'
    ).encode()
    first, second = read_expense_file(data, "expenses.csv")
    assert (first.source, first.project, first.person, first.category) == (
        "harvest",
        "PRJ-D-1",
        "Ada Lovelace",
        "Travel",
    )
    assert (first.spent_on, first.amount, first.currency) == (date(2027, 1, 12), Decimal("149.90"), "EUR")
    assert (first.receipt_ref, first.description, first.tax_category) == (
        "https://receipts.example/1",
        "Train Berlin-Munich",
        "standard",
    )
    assert (second.amount, second.currency) == (Decimal("1234.50"), "USD")
    assert read_expense_file(data, "expenses.csv")[1].external_id == second.external_id


def test_harvest_expenses_without_a_currency_column_take_the_given_one() -> None:
    header = HARVEST_EXPENSE_HEADER.replace(",Currency", "")
    data = f"{header}\n2027-01-12,Acme,ERP,PRJ-D-1,Meals,Lunch,18.40,Yes,No,Ada,Lovelace,\n".encode()
    with pytest.raises(SignalFileError) as exc:
        read_expense_file(data, "expenses.csv")
    assert problems(exc) == [("expenses.csv row 1", "currency")]
    (expense,) = read_expense_file(data, "expenses.csv", currency="CHF")
    assert expense.currency == "CHF"
    with pytest.raises(SignalFileError) as exc:
        read_expense_file(data, "expenses.csv", currency="XYZ")
    assert str(exc.value.errors[0]) == "expenses.csv: currency is not an ISO 4217 currency code: 'XYZ'"


# --- Toggl, Clockify, Tempo --------------------------------------------------------------------------

TOGGL = (
    "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,End time,Duration,Tags,"
    "Amount (EUR)\n"
    "Ada Lovelace,ada@example.test,Acme GmbH,PRJ-D-1,Architect,Review,Yes,2027-01-11,09:00:00,2027-01-11,10:20:00,"
    "01:20:00,,240.00\n"
    "Ada Lovelace,ada@example.test,Acme GmbH,PRJ-D-1,Architect,Call,No,2027-01-11,14:00:00,2027-01-11,16:30:00,"
    "02:30:00,,\n"
    "Grace Hopper,grace@example.test,Acme GmbH,PRJ-D-1,Developer,Tiny,Yes,2027-01-11,14:00:00,2027-01-11,14:00:01,"
    "00:00:01,,\n"
)


def test_toggl_detailed_report_durations_are_exact_hours() -> None:
    entries = read_time_file(TOGGL.encode(), "toggl.csv")
    assert [e.hours for e in entries] == [Decimal("1.3333"), Decimal("2.5"), Decimal("0.0003")]
    assert [e.person for e in entries] == ["ada@example.test", "ada@example.test", "grace@example.test"]
    assert [e.billable for e in entries] == [True, False, True]
    assert entries[0].source == "toggl" and entries[0].role == "Architect" and entries[0].notes == "Review"
    assert len({e.external_id for e in entries}) == 3
    # the id is the person's start: a changed duration or description is the same entry
    edited = TOGGL.replace(
        "Review,Yes,2027-01-11,09:00:00,2027-01-11,10:20:00,01:20:00",
        "Review v2,Yes,2027-01-11,09:00:00,2027-01-11,10:30:00,01:30:00",
    )
    assert edited != TOGGL
    again = read_time_file(edited.encode(), "toggl.csv")
    assert [e.external_id for e in again] == [e.external_id for e in entries]
    assert again[0].hours == Decimal("1.5")


CLOCKIFY = (
    "Project,Client,Description,Task,User,Group,Email,Tags,Billable,Start Date,Start Time,End Date,End Time,"
    "Duration (h),Duration (decimal),Billable Rate (EUR),Billable Amount (EUR)\n"
    "PRJ-D-1,Acme GmbH,Data migration,Developer,Grace Hopper,,grace@example.test,,Yes,01/15/2027,02:00 PM,"
    "01/15/2027,03:10 PM,01:10:00,1.17,120.00,140.00\n"
    "PRJ-D-1,Acme GmbH,Decimal only,Developer,Grace Hopper,,,,No,01/16/2027,09:00 AM,01/16/2027,09:45 AM,,0.75,0,0\n"
)


def test_clockify_detailed_report_prefers_the_exact_duration_and_reads_us_dates() -> None:
    first, second = read_time_file(CLOCKIFY.encode(), "clockify.csv")
    assert (first.source, first.work_date, first.hours) == ("clockify", date(2027, 1, 15), Decimal("1.1667"))
    assert (second.person, second.hours, second.billable) == ("Grace Hopper", Decimal("0.75"), False)
    assert read_time_file(CLOCKIFY.encode(), "c.csv")[0].external_id == first.external_id


TEMPO = (
    "Issue Key,Issue summary,Hours,Work date,Username,Full name,Account Key,Role,Work Description,Billed Hours,"
    "Worklog Id\n"
    "ERP-12,Interfaces,3.5,2027-01-14 00:00,grace,Grace Hopper,PRJ-D-1,Developer,Mapping spec,3,10021\n"
    "ERP-13,Internal sync,1,2027-01-14 00:00,grace,Grace Hopper,PRJ-D-1,Developer,,0,10022\n"
)


def test_tempo_worklogs_bill_the_billed_hours_and_keep_the_worklog_id() -> None:
    first, second = read_time_file(TEMPO.encode(), "tempo.csv")
    assert (first.external_id, first.hours, first.billable) == ("10021", Decimal("3"), True)
    assert (first.project, first.role, first.person, first.work_date) == (
        "PRJ-D-1",
        "Developer",
        "grace",
        date(2027, 1, 14),
    )
    assert first.notes == "ERP-12: Mapping spec"
    # billed 0: the worked hours, not billable
    assert (second.external_id, second.hours, second.billable, second.notes) == ("10022", Decimal("1"), False, "ERP-13")


def test_tempo_without_role_column_names_the_mapping_and_without_ids_derives_them() -> None:
    data = b"Issue Key,Hours,Work date,Full name,Account Key\nERP-12,2,2027-01-14,Grace Hopper,PRJ-D-1\n"
    with pytest.raises(SignalFileError) as exc:
        read_time_file(data, "tempo.csv")
    (error,) = exc.value.errors
    assert (error.record, error.field) == ("tempo.csv row 1", "role")
    assert "mapping={'role': 'Column'}" in error.problem
    (entry,) = read_time_file(data, "tempo.csv", mapping={"role": "=developer"})
    assert (entry.role, entry.person, entry.external_id[:2]) == ("developer", "Grace Hopper", "d-")


# --- generic CSV and JSON ----------------------------------------------------------------------------


def test_generic_csv_reads_every_column() -> None:
    data = (
        b"external_id;project;role;person;date;hours;billable;notes;phase;updated_at;deleted\n"
        b"T-1;PRJ-D-1;architect;ada@example.test;2027-01-11;7,25;true;Workshop;design;2027-01-12T08:30:00+01:00;\n"
        b"T-2;PRJ-D-1;developer;grace@example.test;2027-01-12;8;no;;build;2027-01-12T09:00:00;yes\n"
    )
    first, second = read_time_file(data, "time.csv")
    assert (first.source, first.external_id, first.hours, first.phase) == ("csv", "T-1", Decimal("7.25"), "design")
    assert first.updated_at == datetime(2027, 1, 12, 7, 30, tzinfo=UTC)
    assert (second.billable, second.deleted, second.updated_at) == (False, True, datetime(2027, 1, 12, 9, tzinfo=UTC))


def test_json_list_and_wrapped_forms_keep_numbers_exact() -> None:
    items = [
        {
            "external_id": "T-1",
            "project": "PRJ-D-1",
            "role": "architect",
            "person": "ada",
            "date": "2027-01-11",
            "hours": 7.1,
            "billable": True,
        },
        {
            "external_id": 2,
            "project": "PRJ-D-1",
            "role": "developer",
            "person": "grace",
            "work_date": "2027-01-12",
            "hours": "0.1",
            "billable": False,
            "notes": None,
        },
    ]
    as_list = read_time_file(json.dumps(items).encode(), "time.json")
    wrapped = read_time_file(json.dumps({"time_entries": items}).encode(), "export")
    assert [e.hours for e in as_list] == [Decimal("7.1"), Decimal("0.1")]
    assert [(e.external_id, e.billable, e.row) for e in as_list] == [
        ("T-1", True, "time.json item 1"),
        ("2", False, "time.json item 2"),
    ]
    assert [e.source for e in as_list] == ["json", "json"]
    assert [(e.external_id, e.hours) for e in wrapped] == [(e.external_id, e.hours) for e in as_list]


def test_generic_expenses_and_acceptances() -> None:
    expenses = json.dumps(
        {
            "expenses": [
                {
                    "external_id": "E-1",
                    "project": "PRJ-D-1",
                    "person": "ada",
                    "spent_on": "2027-01-12",
                    "amount": "86.00",
                    "currency": "EUR",
                    "category": "meals",
                    "tax_category": "reduced",
                    "receipt_ref": "R-77",
                }
            ]
        }
    ).encode()
    (expense,) = read_expense_file(expenses, "expenses.json")
    assert (expense.amount, expense.tax_category, expense.receipt_ref) == (Decimal("86.00"), "reduced", "R-77")
    data = (
        b"project,milestone,accepted_on,accepted_by,evidence\n"
        b"PRJ-D-1,M1,2027-02-01,cfo@acme.example,https://sign.example/acme-m1\n"
    )
    (acceptance,) = read_acceptance_file(data, "acceptances.csv")
    assert (acceptance.milestone, acceptance.accepted_on, acceptance.accepted_by) == (
        "M1",
        date(2027, 2, 1),
        "cfo@acme.example",
    )
    assert acceptance.external_id == read_acceptance_file(data, "again.csv")[0].external_id
    assert acceptance.evidence == "https://sign.example/acme-m1"


# --- errors ------------------------------------------------------------------------------------------


def test_every_problem_of_a_file_is_reported_together_with_row_and_field() -> None:
    rows = [
        HARVEST_ROWS[0].replace("7.5,7.5", "abc,7.5"),  # row 2: hours not a number
        HARVEST_ROWS[1].replace("1.25,1.5", "-2,0"),  # row 3: hours negative
        HARVEST_ROWS[2].replace("Interfaces,6,6", "Interfaces,0,0"),  # row 4: hours zero
        HARVEST_ROWS[3].replace("0.75,1", "25,25"),  # row 5: more than 24
        HARVEST_ROWS[0].replace("2027-01-11", "2027-02-30"),  # row 6: bad date
        HARVEST_ROWS[0].replace(',Architect,"Design', ',,"Design'),  # row 7: role empty
        HARVEST_ROWS[0].replace(",Yes,No,Yes,", ",Maybe,No,Yes,"),  # row 8: billable
        HARVEST_ROWS[0] + ",extra",  # row 9: too many cells
        HARVEST_ROWS[1],  # row 10: fine
    ]
    with pytest.raises(SignalFileError) as exc:
        read_time_file(harvest(*rows), "harvest.csv")
    assert problems(exc) == [
        ("harvest.csv row 2", "hours"),
        ("harvest.csv row 3", "hours"),
        ("harvest.csv row 4", "hours"),
        ("harvest.csv row 5", "hours"),
        ("harvest.csv row 6", "work_date"),
        ("harvest.csv row 7", "role"),
        ("harvest.csv row 8", "billable"),
        ("harvest.csv row 9", "row"),
    ]
    messages = [str(e) for e in exc.value.errors]
    assert messages[:4] == [
        "harvest.csv row 2: hours is not a number of hours: 'abc'",
        "harvest.csv row 3: hours is negative (-2)",
        "harvest.csv row 4: hours is zero",
        "harvest.csv row 5: hours is more than 24 (25)",
    ]
    assert messages[4] == "harvest.csv row 6: work_date is not a date: '2027-02-30' (expected YYYY-MM-DD)"
    assert "8 problem(s), nothing read" in str(exc.value)


def test_missing_columns_are_named_once_on_the_header_and_other_rows_still_checked() -> None:
    data = b"Day,Client,Project,Task,Notes,First Name,Last Name,Hours\n2027-01-11,A,P,,n,Ada,L,x\n"
    with pytest.raises(SignalFileError) as exc:
        read_time_file(data, "harvest.csv", format="harvest")
    assert problems(exc) == [
        ("harvest.csv row 1", "work_date"),
        ("harvest.csv row 2", "role"),
        ("harvest.csv row 2", "hours"),
    ]


def test_expense_errors_amount_and_currency() -> None:
    data = (
        f"{HARVEST_EXPENSE_HEADER}\n"
        "2027-01-12,Acme,ERP,PRJ-D-1,Travel,Train,-5,Yes,No,Ada,Lovelace,EUR,\n"
        "2027-01-12,Acme,ERP,PRJ-D-1,Travel,Train,12.00,Yes,No,Ada,Lovelace,Euros,\n"
        "2027-01-12,Acme,ERP,PRJ-D-1,Travel,Train,ten,Yes,No,Ada,Lovelace,,\n"
    ).encode()
    with pytest.raises(SignalFileError) as exc:
        read_expense_file(data, "x.csv")
    assert [str(e) for e in exc.value.errors] == [
        "x.csv row 2: amount is negative (-5)",
        "x.csv row 3: currency is not an ISO 4217 currency code: 'Euros'",
        "x.csv row 4: amount is not a number: 'ten'",
        "x.csv row 4: currency is empty (pass currency= for entries without one)",
    ]


def test_generic_errors_duplicate_ids_bad_timestamp_and_tax_category() -> None:
    data = (
        b"external_id,project,role,person,date,hours,updated_at\n"
        b"T-1,P,architect,ada,2027-01-11,2,2027-01-12T08:00:00Z\n"
        b"T-1,P,architect,ada,2027-01-11,3,yesterday\n"
        b",P,architect,ada,2027-01-11,3,\n"
    )
    with pytest.raises(SignalFileError) as exc:
        read_time_file(data, "time.csv")
    assert [str(e) for e in exc.value.errors] == [
        "time.csv row 3: updated_at is not an ISO 8601 date-time: 'yesterday'",
        "time.csv row 3: external_id 'T-1' is also on row 2",
        "time.csv row 4: external_id is empty",
    ]
    expenses = (
        b"external_id,project,person,spent_on,amount,currency,category,tax_category\n"
        b"E-1,P,ada,2027-01-12,10,EUR,meals,luxury\n"
    )
    with pytest.raises(SignalFileError) as exc:
        read_expense_file(expenses, "e.csv")
    assert problems(exc) == [("e.csv row 2", "tax_category")]


@pytest.mark.parametrize(
    ("data", "kind", "expected"),
    [
        (b"\xff\xfeD\x00a\x00", "time", [("bad.csv row 1", "file")]),
        (b"", "time", [("bad.csv row 1", "header")]),
        (b"Title,Due\nA,B\n", "time", [("bad.csv row 1", "header")]),
        (b'[{"external_id": "T-1", ', "time", [("bad.csv", "json")]),
        (b'{"entries": []}', "time", [("bad.csv", "json")]),
        (b'[1, {"external_id": {"x": 1}}]', "time", [("bad.csv item 1", "item"), ("bad.csv item 2", "external_id")]),
        (TOGGL.encode(), "expense", [("bad.csv", "format")]),
    ],
)
def test_unreadable_files(data: bytes, kind: str, expected: list[tuple[str, str]]) -> None:
    reader = read_time_file if kind == "time" else read_expense_file
    with pytest.raises(SignalFileError) as exc:
        reader(data, "bad.csv")
    assert problems(exc)[: len(expected)] == expected


def test_unknown_mapping_field_and_format() -> None:
    with pytest.raises(SignalFileError) as exc:
        read_time_file(harvest(*HARVEST_ROWS), "h.csv", mapping={"rate": "Billable Rate"})
    assert problems(exc) == [("h.csv", "mapping['rate']")]
    with pytest.raises(SignalFileError) as exc:
        read_time_file(harvest(*HARVEST_ROWS), "h.csv", format="xlsx")
    assert problems(exc) == [("h.csv", "format")]
    with pytest.raises(SignalFileError) as exc:
        read_time_file(harvest(*HARVEST_ROWS), "h.csv", mapping={"role": "Department"})
    assert problems(exc) == [("h.csv row 1", "role")]


# --- detection and values ----------------------------------------------------------------------------


def test_detect_format_from_headers() -> None:
    assert detect_format(HARVEST_HEADER.split(",")) == "harvest"
    assert detect_format(HARVEST_EXPENSE_HEADER.split(",")) == "harvest"
    assert detect_format(TOGGL.split("\n", 1)[0].split(",")) == "toggl"
    assert detect_format(CLOCKIFY.split("\n", 1)[0].split(",")) == "clockify"
    assert detect_format(TEMPO.split("\n", 1)[0].split(",")) == "tempo"
    assert detect_format(["External_ID", "Project", "Hours"]) == "csv"
    assert detect_format(["Title", "Due"]) == "unknown"


def test_every_mapping_ships_and_loads() -> None:
    for name in FORMATS:
        spec = format_spec(name)
        assert "time" in spec.kinds and spec.detect
    assert set(format_spec("harvest").kinds) == {"time", "expense"}


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("7.5", "7.5"),
        ("7,5", "7.5"),
        ("1:30", "1.5"),
        ("0:00:01", "0.0003"),
        ("00:20:00", "0.3333"),
        ("24", "24"),
        ("8.123456", "8.1235"),
        ("1.00005", "1.0001"),
        ("23:59:59", "23.9997"),
    ],
)
def test_hours_are_exact_decimals(text: str, hours: str) -> None:
    assert parse_hours(text) == Decimal(hours)


def test_signal_error_message_names_record_and_field() -> None:
    error = SignalError("harvest.csv row 12", "hours", "is negative (-2.00)")
    assert (
        str(SignalFileError([error])) == "1 problem(s), nothing read:\n  harvest.csv row 12: hours is negative (-2.00)"
    )
