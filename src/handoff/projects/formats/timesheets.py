"""Delivery files: time entries, expenses and milestone acceptances as CSV or JSON, read into the
input types of `projects.domain.signals` (TimeEntryInput, ExpenseInput, AcceptanceInput).

Formats (the column mappings are data: `mappings/<format>.yaml`, one per format, which also name
their sources):

- `csv`: handoff's own columns. Time: external_id, project, role, person, date (or work_date),
  hours, billable, notes, phase, updated_at, deleted. Expenses: external_id, project, person,
  spent_on (or date), amount, currency, category, description, receipt_ref, tax_category, billable,
  updated_at, deleted. Acceptances: external_id, project, milestone, accepted_on, accepted_by, evidence.
- `json`: a list of objects with the same keys, or {"time_entries": [...]} / {"expenses": [...]} /
  {"acceptances": [...]}. Numbers are read from their text, never through float.
- `harvest`: Harvest's Detailed time export (Date -> work_date, Project Code else Project -> project,
  Task -> role, First Name + Last Name -> person, Hours -> hours, Billable? -> billable, Notes ->
  notes; Hours Rounded, rates, amounts, Invoiced?/Approved? are not read: handoff rounds and rates
  itself) and its Detailed expense export (Date, Project Code/Project, Category, Notes ->
  description, Amount, Currency ("Euro - EUR" or "EUR"), Billable?, Receipt URL -> receipt_ref).
- `toggl`: Toggl Track's Detailed report CSV (Email else User -> person, Project, Task -> role,
  Description -> notes, Billable, Start date -> work_date, Duration h:mm:ss -> hours).
- `clockify`: Clockify's Detailed report CSV (Email else User, Project, Task -> role, Description,
  Billable, Start Date (MM/DD/YYYY by default) -> work_date, Duration (h) else Duration (decimal)).
- `tempo`: Tempo's worklog export (Worklog Id -> external_id when present, Account Key else Project
  Key -> project, Role -> role (map another column), Username else Full name -> person, Work date,
  Hours; Billed Hours, when the export has it, is what is billed: 0 makes the entry non-billable
  (its worked Hours kept), another value replaces Hours; notes = "Issue Key: Work Description").

`mapping={"role": "Roles"}` makes a field come from another column; `"=architect"` gives every
entry that value. Headers match without regard to case or spacing. Format "auto" reads JSON when
the name ends in .json or the text starts with [ or {, else CSV (comma, semicolon or tab, from the
header line) told apart by its header (`detect_format`).

Values: hours are Decimal, quantized to 0.0001 h half-up (h:mm:ss durations are seconds / 3600:
1:20:00 -> 1.3333); decimal commas are read ("7,5"); more than 0 and at most 24. Dates are ISO
(YYYY-MM-DD, also with a time after it) or, with `date_format="MM/DD/YYYY"` (or a strptime pattern),
that format as well; Clockify's default is MM/DD/YYYY. Currencies are ISO 4217 codes (pycountry).

Ids: Harvest, Toggl and Clockify exports carry no entry id (nor Tempo's without a Worklog Id column).
Their id is derived ("d-" + 32 hex digits of a SHA-256) from the entry's identity and its place among
entries of the same identity in the file: Harvest project, person, day and task (expenses: project,
person, day and category); Toggl and Clockify person, day and start time; Tempo person, day and
issue. A re-export of the same entries gives the same ids, and an entry whose hours, notes or
billable flag were edited keeps its id, so the edit is an edit (an adjustment if already invoiced).
The limits, stated: ids hold for the same mapping; an edit of an identity field (another day, task
or project, or a Harvest project given a code) reads as a new entry while the old one stays; an
entry deleted at the source is simply absent from the export, which by itself says nothing about
it (import a complete export of the period with `handoff time import --sync`, which deletes what
it no longer holds, or send `deleted` through the generic CSV/JSON); and entries of one identity
are told apart by their order in the export only (deleting the first makes the second take its id,
which a `--sync` import of the complete export turns into an edit of it and a deletion of the last).

Errors: every problem of a file is collected, each a `SignalError` naming the record ("harvest.csv
row 12": the row as a spreadsheet shows it, header = row 1, first entry = row 2; JSON: "x.json
item 3", counted from 1) and the field; the reader then raises one `SignalFileError` holding them
all, and returns nothing. Header problems are on row 1 (CSV) or the file (JSON).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import pycountry
import yaml

from handoff.invoicing.domain.tax import PRODUCT_CATEGORIES
from handoff.projects.domain.signals import AcceptanceInput, ExpenseInput, SignalError, TimeEntryInput

FORMATS = ("csv", "json", "harvest", "toggl", "clockify", "tempo")
DETECT_ORDER = ("tempo", "clockify", "toggl", "harvest", "csv")  # the most specific headers first
KINDS = ("time", "expense", "acceptance")
HOURS_PLACES = Decimal("0.0001")
MAX_HOURS = Decimal(24)
MAX_SHOWN = 50
JSON_KEYS = {"time": "time_entries", "expense": "expenses", "acceptance": "acceptances"}

# What each kind reads; the extras only help name an entry (identity) or bill it (billed_hours).
_KIND_FIELDS: dict[str, frozenset[str]] = {
    "time": frozenset(
        {"external_id", "project", "role", "person", "work_date", "hours", "billable", "notes", "phase"}
        | {"updated_at", "deleted", "billed_hours", "start_time", "issue"}
    ),
    "expense": frozenset(
        {"external_id", "project", "person", "spent_on", "amount", "currency", "category", "description"}
        | {"receipt_ref", "tax_category", "billable", "updated_at", "deleted"}
    ),
    "acceptance": frozenset({"external_id", "project", "milestone", "accepted_on", "accepted_by", "evidence"}),
}
_TRUE = frozenset({"yes", "y", "true", "1", "billable"})
_FALSE = frozenset({"no", "n", "false", "0", "non-billable", "not billable"})
_DURATION = re.compile(r"^([+-]?)(\d+):([0-5]\d)(?::([0-5]\d))?$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DATE_TOKENS = {"YYYY": "%Y", "YY": "%y", "MM": "%m", "DD": "%d", "M": "%m", "D": "%d"}

T = TypeVar("T")


class SignalFileError(ValueError):
    """A delivery file refused whole: every problem found, each a SignalError naming record and field."""

    def __init__(self, errors: list[SignalError]) -> None:
        self.errors = list(errors)
        shown = [str(e) for e in self.errors[:MAX_SHOWN]]
        more = f"\n  ... and {len(self.errors) - MAX_SHOWN} more" if len(self.errors) > MAX_SHOWN else ""
        super().__init__(f"{len(self.errors)} problem(s), nothing read:\n  " + "\n  ".join(shown) + more)


# --- the mappings (data) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Where a field comes from: the first non-empty of `columns`, or all of them joined, or a constant."""

    columns: tuple[str, ...] = ()
    join: bool = False
    sep: str = " "
    constant: str | None = None


@dataclass(frozen=True, slots=True)
class KindSpec:
    fields: Mapping[str, FieldSpec]
    required: frozenset[str]
    identity: tuple[str, ...] = ()
    date_formats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FormatSpec:
    name: str
    title: str
    detect: tuple[frozenset[str], ...]
    kinds: Mapping[str, KindSpec]


def normalise_header(name: str) -> str:
    """`Start Date`, ` start  date ` and `START DATE` are one column."""
    return " ".join(name.replace("\ufeff", "").split()).casefold()


def _field_spec(raw: object, where: str) -> FieldSpec:
    if isinstance(raw, str):
        return FieldSpec(columns=(raw,))
    if isinstance(raw, list) and raw and all(isinstance(c, str) for c in raw):
        return FieldSpec(columns=tuple(raw))
    if isinstance(raw, dict) and isinstance(raw.get("join"), list):
        return FieldSpec(columns=tuple(str(c) for c in raw["join"]), join=True, sep=str(raw.get("sep", " ")))
    raise ValueError(f"{where}: a field is a column, a list of columns or {{join: [...]}}")


@cache
def format_spec(name: str) -> FormatSpec:
    """The column mapping of a format, from `mappings/<name>.yaml` (JSON shares the CSV's)."""
    file = "csv" if name == "json" else name
    text = resources.files("handoff.projects.formats").joinpath("mappings", f"{file}.yaml").read_text("utf-8")
    doc = yaml.safe_load(text)
    kinds: dict[str, KindSpec] = {}
    for kind in KINDS:
        section = doc.get(kind)
        if section is None:
            continue
        where = f"mappings/{file}.yaml {kind}"
        fields = {str(k): _field_spec(v, f"{where}.{k}") for k, v in section["fields"].items()}
        unknown = set(fields) - _KIND_FIELDS[kind]
        identity = tuple(section.get("identity", ()))
        required = frozenset(section.get("required", ()))
        if unknown or not set(identity) <= set(fields) or not required <= set(fields):
            raise ValueError(f"{where}: unknown fields {sorted(unknown | (set(identity) | required) - set(fields))}")
        kinds[kind] = KindSpec(fields, required, identity, tuple(section.get("date_formats", ())))
    detect = tuple(frozenset(normalise_header(c) for c in group) for group in doc["detect"])
    return FormatSpec(name, str(doc.get("title", name)), detect, kinds)


def detect_format(header: Sequence[str]) -> str:
    """The export a CSV header comes from: "tempo", "clockify", "toggl", "harvest", "csv", or "unknown"."""
    keys = {normalise_header(h) for h in header}
    for name in DETECT_ORDER:
        if any(group <= keys for group in format_spec(name).detect):
            return name
    return "unknown"


# --- reading the file into a table ----------------------------------------------------------------


@dataclass
class _Table:
    header: list[str]  # as written
    rows: list[tuple[str, list[str] | str]]  # (record, cells aligned with the header, or what is wrong)
    header_record: str


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SignalFileError([SignalError(f"{name} row {line}", "file", "is not UTF-8 text")]) from None


def _csv_table(text: str, name: str, errors: list[SignalError]) -> _Table | None:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    number = 1
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            errors.append(SignalError(f"{name} row 1", "header", "is missing: the file is empty"))
            return None
        rows: list[tuple[str, list[str] | str]] = []
        for number, cells in enumerate(reader, start=2):
            if not "".join(cells).strip():
                continue
            record = f"{name} row {number}"
            if len(cells) != len(header):
                rows.append((record, f"has {len(cells)} cells, the header has {len(header)}"))
                continue
            rows.append((record, cells))
    except csv.Error as exc:
        errors.append(SignalError(f"{name} row {number + 1}", "row", f"is not well-formed CSV ({exc})"))
        return None
    return _Table(header, rows, f"{name} row 1")


def _json_text(value: object) -> str | None:
    """A JSON value as the text a CSV cell would hold; None for an object or a list."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return None
    return str(value)


def _json_table(text: str, name: str, kind: str, errors: list[SignalError]) -> _Table | None:
    try:
        doc = json.loads(text, parse_float=str)  # numbers keep their text: hours and money never pass float
    except json.JSONDecodeError as exc:
        errors.append(SignalError(name, "json", f"is not valid JSON: {exc.msg} (line {exc.lineno})"))
        return None
    except RecursionError:
        errors.append(SignalError(name, "json", "is nested too deeply"))
        return None
    key = JSON_KEYS[kind]
    if isinstance(doc, dict) and key in doc:
        doc = doc[key]
    if not isinstance(doc, list):
        errors.append(SignalError(name, "json", f'must be a list of objects or {{"{key}": [...]}}'))
        return None
    header: list[str] = []
    seen: set[str] = set()
    items: list[tuple[str, dict[str, str]]] = []
    for number, item in enumerate(doc, start=1):
        record = f"{name} item {number}"
        if not isinstance(item, dict):
            errors.append(SignalError(record, "item", "is not an object"))
            continue
        values: dict[str, str] = {}
        for k, v in item.items():
            value = _json_text(v)
            if value is None:
                errors.append(SignalError(record, str(k), "must be a plain value, not a list or object"))
                continue
            values[str(k)] = value
            if str(k) not in seen:
                seen.add(str(k))
                header.append(str(k))
        items.append((record, values))
    rows: list[tuple[str, list[str] | str]] = [
        (record, [values.get(h, "") for h in header]) for record, values in items
    ]
    return _Table(header, rows, name)


# --- values ---------------------------------------------------------------------------------------


class _Bad(Exception):
    """A value that cannot be read; the message is the problem ("is not a date: ...")."""


def _number(text: str) -> Decimal:
    """A decimal number as spreadsheets write it: "7.5", "7,5", "1,234.50", "1.234,50"."""
    t = text.strip().replace(" ", "").replace("\u00a0", "").replace("'", "")
    if "," in t and "." in t:
        t = t.replace(".", "").replace(",", ".") if t.rfind(",") > t.rfind(".") else t.replace(",", "")
    elif t.count(",") == 1:
        t = t.replace(",", ".")
    if not _NUMBER.match(t):
        raise _Bad(f"is not a number: {text!r}")
    try:
        return Decimal(t)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise _Bad(f"is not a number: {text!r}") from None


def parse_hours(text: str, *, allow_zero: bool = False) -> Decimal:
    """Hours as Decimal quantized to 0.0001 (half-up): decimal ("7.5", "7,5") or a duration
    ("1:30", "01:20:00" = 4800 s / 3600). More than 0 (or 0 when allowed) and at most 24."""
    raw = text.strip()
    match = _DURATION.match(raw)
    if match:
        sign, h, m, s = match.groups()
        value = Decimal(int(h) * 3600 + int(m) * 60 + int(s or 0)) / Decimal(3600)
        value = -value if sign == "-" else value
    else:
        try:
            value = _number(raw)
        except _Bad:
            raise _Bad(f"is not a number of hours: {text!r}") from None
    if value < 0:
        raise _Bad(f"is negative ({raw})")
    exact, value = value, value.quantize(HOURS_PLACES, rounding=ROUND_HALF_UP)
    if value == 0 and not allow_zero:
        raise _Bad("is zero" if exact == 0 else f"is zero once rounded to 0.0001 h ({raw})")
    if value > MAX_HOURS:
        raise _Bad(f"is more than 24 ({raw})")
    return value


def _shown(pattern: str) -> str:
    return pattern.replace("%Y", "YYYY").replace("%y", "YY").replace("%m", "MM").replace("%d", "DD")


def strptime_pattern(date_format: str) -> str:
    """`MM/DD/YYYY` (or a strptime pattern such as `%d.%m.%Y`) as a strptime pattern."""
    if "%" in date_format:
        return date_format
    return re.sub(r"YYYY|YY|MM|DD|M|D", lambda m: _DATE_TOKENS[m.group(0)], date_format)


def parse_day(text: str, formats: Sequence[str] = ()) -> date:
    """An ISO date (a time after it is ignored: Tempo writes "2027-01-15 00:00"), else one of `formats`."""
    raw = text.strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        pass
    if len(raw) > 10 and raw[10] in "T ":
        try:
            return datetime.fromisoformat(raw).date()
        except ValueError:
            pass
    for pattern in formats:
        try:
            return datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    expected = " or ".join(["YYYY-MM-DD", *(_shown(p) for p in formats)])
    raise _Bad(f"is not a date: {raw!r} (expected {expected})")


def _timestamp(text: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(f"is not an ISO 8601 date-time: {text!r}") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _flag(text: str, default: bool) -> bool:
    value = text.strip().casefold()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _Bad(f"is not yes or no: {text!r}")


def parse_currency(text: str) -> str:
    """An ISO 4217 code from "EUR", "eur" or Harvest's "Euro - EUR"."""
    code = text.strip()
    if " - " in code:
        code = code.rsplit(" - ", 1)[1]
    code = code.strip().upper()
    if len(code) == 3 and code.isalpha() and pycountry.currencies.get(alpha_3=code) is not None:
        return code
    raise _Bad(f"is not an ISO 4217 currency code: {text.strip()!r}")


# --- rows -----------------------------------------------------------------------------------------


Extractor = Callable[[list[str]], str]


def _extractor(spec: FieldSpec, index: Mapping[str, int]) -> Extractor | None:
    """Reads the field from a row's cells; None when the header has none of its columns."""
    if spec.constant is not None:
        constant = spec.constant
        return lambda cells: constant
    present = [index[k] for k in (normalise_header(c) for c in spec.columns) if k in index]
    if not present:
        return None
    if spec.join:
        sep = spec.sep
        return lambda cells: sep.join(v for i in present if (v := cells[i].strip()))
    if len(present) == 1:
        only = present[0]
        return lambda cells: cells[only].strip()
    return lambda cells: next((v for i in present if (v := cells[i].strip())), "")


@dataclass
class _File:
    """One file being read: its extractors, options and the errors found so far."""

    name: str
    kind: str
    spec: KindSpec
    source: str
    extract: dict[str, Extractor]
    missing: set[str]  # required fields the header lacks (reported once, on the header)
    date_formats: tuple[str, ...]
    currency: str
    errors: list[SignalError]
    seen_ids: dict[str, str] = field(default_factory=dict)
    occurrences: dict[str, int] = field(default_factory=dict)


class _Row:
    __slots__ = ("cells", "failed", "file", "record")

    def __init__(self, file: _File, record: str, cells: list[str]) -> None:
        self.file, self.record, self.cells, self.failed = file, record, cells, False

    def bad(self, name: str, problem: str) -> None:
        self.file.errors.append(SignalError(self.record, name, problem))
        self.failed = True

    def text(self, name: str) -> str:
        get = self.file.extract.get(name)
        value = get(self.cells) if get is not None else ""
        if not value and name in self.file.spec.required:
            if name in self.file.missing:
                self.failed = True  # said once, on the header
            elif name != "external_id" or not self.file.spec.identity:
                self.bad(name, "is empty")
        return value

    def parsed(self, name: str, parse: Callable[[str], T], default: T) -> T:
        value = self.text(name)
        if not value:
            return default
        try:
            return parse(value)
        except _Bad as exc:
            self.bad(name, str(exc))
            return default

    def external_id(self, identity: Mapping[str, object]) -> str:
        """The source's id, or one derived from the entry's identity and its place among its likes."""
        given = self.text("external_id")
        if given:
            other = self.file.seen_ids.setdefault(given, self.record)
            if other != self.record:
                self.bad("external_id", f"{given!r} is also on {other.removeprefix(self.file.name + ' ')}")
            return given
        if not self.file.spec.identity:
            return ""
        parts = [self.file.kind, *(" ".join(str(identity[f]).split()).casefold() for f in self.file.spec.identity)]
        key = "\x1f".join(parts)
        occurrence = self.file.occurrences[key] = self.file.occurrences.get(key, 0) + 1
        return "d-" + hashlib.sha256(f"{key}\x1f{occurrence}".encode()).hexdigest()[:32]


def _time_entry(row: _Row) -> TimeEntryInput | None:
    f = row.file
    project, role, person = row.text("project"), row.text("role"), row.text("person")
    work_date = row.parsed("work_date", lambda t: parse_day(t, f.date_formats), date.min)
    billable = row.parsed("billable", lambda t: _flag(t, True), True)
    hours_field, hours_text = "hours", row.text("hours")
    billed_text = row.text("billed_hours")
    if billed_text:
        try:
            if parse_hours(billed_text, allow_zero=True) == 0:
                billable = False
            else:
                hours_field, hours_text = "billed_hours", billed_text
        except _Bad as exc:
            row.bad("billed_hours", str(exc))
    hours = Decimal(0)
    if hours_text:
        try:
            hours = parse_hours(hours_text)
        except _Bad as exc:
            row.bad(hours_field, str(exc))
    updated_at = row.parsed("updated_at", _timestamp, None)
    deleted = row.parsed("deleted", lambda t: _flag(t, False), False)
    identity = {
        "project": project,
        "role": role,
        "person": person,
        "work_date": work_date.isoformat(),
        "start_time": row.text("start_time"),
        "issue": row.text("issue"),
    }
    external_id = row.external_id(identity)
    if row.failed:
        return None
    return TimeEntryInput(
        source=f.source,
        external_id=external_id,
        project=project,
        role=role,
        person=person,
        work_date=work_date,
        hours=hours,
        billable=billable,
        notes=row.text("notes"),
        phase=row.text("phase"),
        updated_at=updated_at,
        deleted=deleted,
        row=row.record,
    )


def _amount(text: str) -> Decimal:
    value = _number(text)
    if value < 0:
        raise _Bad(f"is negative ({text.strip()})")
    if value == 0:
        raise _Bad("is zero")
    return value


def _tax_category(text: str) -> str:
    value = text.strip().lower()
    if value not in PRODUCT_CATEGORIES:
        raise _Bad(f"is not a product tax category: {text!r} (expected one of {', '.join(sorted(PRODUCT_CATEGORIES))})")
    return value


def _expense(row: _Row) -> ExpenseInput | None:
    f = row.file
    project, person, category = row.text("project"), row.text("person"), row.text("category")
    spent_on = row.parsed("spent_on", lambda t: parse_day(t, f.date_formats), date.min)
    amount = row.parsed("amount", _amount, Decimal(0))
    currency = row.parsed("currency", parse_currency, "")
    if not currency and not row.text("currency"):
        if f.currency:
            currency = f.currency
        elif "currency" in f.extract:
            row.bad("currency", "is empty (pass currency= for entries without one)")
        else:
            row.failed = True  # said once, on the header
    tax_category = row.parsed("tax_category", _tax_category, "standard")
    billable = row.parsed("billable", lambda t: _flag(t, True), True)
    updated_at = row.parsed("updated_at", _timestamp, None)
    deleted = row.parsed("deleted", lambda t: _flag(t, False), False)
    identity = {"project": project, "person": person, "spent_on": spent_on.isoformat(), "category": category}
    external_id = row.external_id(identity)
    if row.failed:
        return None
    return ExpenseInput(
        source=f.source,
        external_id=external_id,
        project=project,
        person=person,
        spent_on=spent_on,
        amount=amount,
        currency=currency,
        category=category,
        description=row.text("description"),
        receipt_ref=row.text("receipt_ref"),
        tax_category=tax_category,
        billable=billable,
        updated_at=updated_at,
        deleted=deleted,
        row=row.record,
    )


def _acceptance(row: _Row) -> AcceptanceInput | None:
    f = row.file
    project, milestone, accepted_by = row.text("project"), row.text("milestone"), row.text("accepted_by")
    accepted_on = row.parsed("accepted_on", lambda t: parse_day(t, f.date_formats), date.min)
    external_id = row.external_id({"project": project, "milestone": milestone})
    if row.failed:
        return None
    return AcceptanceInput(
        source=f.source,
        external_id=external_id,
        project=project,
        milestone=milestone,
        accepted_on=accepted_on,
        accepted_by=accepted_by,
        evidence=row.text("evidence"),
        row=row.record,
    )


_BUILDERS: dict[str, Callable[[_Row], Any]] = {"time": _time_entry, "expense": _expense, "acceptance": _acceptance}


def _read(
    kind: str,
    data: bytes,
    name: str,
    format: str,
    mapping: Mapping[str, str] | None,
    date_format: str,
    currency: str,
    source: str,
) -> list[Any]:
    errors: list[SignalError] = []
    if format != "auto" and format not in FORMATS:
        raise SignalFileError([SignalError(name, "format", f"{format!r} is not one of auto, {', '.join(FORMATS)}")])
    text = _decode(data, name)
    is_json = format == "json" or (
        format == "auto" and (name.lower().endswith(".json") or text.lstrip()[:1] in ("[", "{"))
    )
    table = _json_table(text, name, kind, errors) if is_json else _csv_table(text, name, errors)
    if table is None:
        raise SignalFileError(errors)
    fmt = "json" if is_json else (format if format != "auto" else detect_format(table.header))
    if fmt == "unknown":
        known = ", ".join(format_spec(n).title for n in DETECT_ORDER)
        errors.append(SignalError(table.header_record, "header", f"is not one of a known export ({known})"))
        raise SignalFileError(errors)
    spec = format_spec(fmt).kinds.get(kind)
    if spec is None:
        errors.append(SignalError(name, "format", f"{format_spec(fmt).title} has no {kind} export"))
        raise SignalFileError(errors)
    fields = dict(spec.fields)
    for key, column in (mapping or {}).items():
        if key not in _KIND_FIELDS[kind]:
            errors.append(SignalError(name, f"mapping[{key!r}]", f"is not a field of a {kind} entry"))
        elif column.startswith("="):
            fields[key] = FieldSpec(constant=column[1:].strip())
        else:
            fields[key] = FieldSpec(columns=(column,))
    index: dict[str, int] = {}
    for position, column in enumerate(table.header):
        key = normalise_header(column)
        if key and key in index:
            errors.append(SignalError(table.header_record, column, "is a column named twice"))
        index.setdefault(key, position)
    extract: dict[str, Extractor] = {}
    missing: set[str] = set()
    for key, fspec in fields.items():
        get = _extractor(fspec, index)
        if get is not None:
            extract[key] = get
            continue
        overridden = key in (mapping or {})
        if overridden or (key in spec.required and not (key == "external_id" and spec.identity)):
            missing.add(key)
            wanted = " or ".join(repr(c) for c in fspec.columns)
            hint = "" if overridden else f"; map another with mapping={{{key!r}: 'Column'}}"
            errors.append(SignalError(table.header_record, key, f"column is missing (expected {wanted}{hint})"))
    currency_default = ""
    if kind == "expense" and currency:
        try:
            currency_default = parse_currency(currency)
        except _Bad as exc:
            errors.append(SignalError(name, "currency", str(exc)))
    elif kind == "expense" and "currency" not in extract:
        missing.add("currency")
        errors.append(SignalError(table.header_record, "currency", "column is missing (or pass currency=)"))
    formats = (strptime_pattern(date_format),) if date_format else spec.date_formats
    file = _File(name, kind, spec, source or fmt, extract, missing, formats, currency_default, errors)
    build = _BUILDERS[kind]
    out = []
    for record, cells in table.rows:
        if isinstance(cells, str):
            errors.append(SignalError(record, "row", cells))
            continue
        built = build(_Row(file, record, cells))
        if built is not None:
            out.append(built)
    if errors:
        raise SignalFileError(errors)
    return out


def read_time_file(
    data: bytes,
    name: str,
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    date_format: str = "",
    source: str = "",
) -> list[TimeEntryInput]:
    """The time entries of a delivery file (`source` defaults to the format's name: "harvest", ...).
    SignalFileError lists every problem of the file; nothing is returned then."""
    return _read("time", data, name, format, mapping, date_format, "", source)


def read_expense_file(
    data: bytes,
    name: str,
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    date_format: str = "",
    currency: str = "",
    source: str = "",
) -> list[ExpenseInput]:
    """The expenses of a delivery file; `currency` is used for rows (or files) without one."""
    return _read("expense", data, name, format, mapping, date_format, currency, source)


def read_acceptance_file(
    data: bytes,
    name: str,
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    date_format: str = "",
    source: str = "",
) -> list[AcceptanceInput]:
    """The milestone acceptances of a delivery file (generic CSV/JSON)."""
    return _read("acceptance", data, name, format, mapping, date_format, "", source)
