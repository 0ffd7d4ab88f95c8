"""Deal files: the generic deal CSV (shared/DESIGN.md columns) and its JSON form.

CSV: comma, semicolon or tab separated (from the header line); header names are matched without
regard to case, spaces or dashes (`Deal ID` is `deal_id`).

A file is read whole before anything is stored: a file that cannot be read or is wrongly shaped
(no `deal_id` column, a row with more or fewer cells than the header, broken JSON, a deal that is
not an object) raises `IntakeError` naming the file and line, and nothing is written. Bad values
inside a well-shaped row are not errors here: they become readiness problems on that deal.

Versions: a row's `updated_at` column (ISO 8601), when present, orders its versions; otherwise the
file's read time does, rows later in the file counting as newer. A row's event id is a hash of its
content, so importing the same file twice changes nothing.

JSON: a list of deals, `{"deals": [...]}`, or one object per line (JSON Lines); each deal is either
a flat object with the CSV's fields (plus optional `lines`: objects with `description`, `quantity`,
`unit_price`, `tax_category`, `supply`, `currency`, `discount` and `product` (a product code),
and for a line billed other than once its billing terms (`billing`, `frequency`, `timing`,
`start`, `end`, `term`, `periods`, `ramp`, `milestones`, `auto_renew`, `notice_days`,
`unit_code`: `orders.BILLING_LINE_FIELDS`), whose values readiness judges like the deal's) or an
event envelope
`{"event_id", "occurred_at", "deal": {...}}`. Numbers are kept as written (never via float).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from handoff.deals.domain.admission import LIMITS, ahead_of_clock, printable, refusal
from handoff.deals.domain.orders import BILLING_LINE_FIELDS, DealEvent, DealInput, LineInput

MAX_NESTING = 100  # a deal file is a few levels deep; a JSON text nested deeper is refused


class IntakeError(Exception):
    def __init__(self, file: str, line: int | None, message: str, field: str | None = None) -> None:
        self.file, self.line, self.message, self.field = file, line, message, field
        where = f"{file}, line {line}" if line is not None else file
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class DealRow:
    line: int
    raw: dict[str, Any]


def _event_id(source: str, raw: dict[str, Any]) -> str:
    body = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{source}\x1f{body}".encode()).hexdigest()


def parse_time(value: str, file: str, line: int | None, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        message = f"{field} {printable(value)!r} is not an ISO 8601 date-time"
        raise IntakeError(file, line, message, field) from None


def read_deal_rows(path: Path) -> list[DealRow]:
    """The raw deal objects in a file, by format (extension, else content)."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IntakeError(name, None, f"cannot read file: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise IntakeError(name, line, "not UTF-8 text") from exc
    suffix = path.suffix.lower()
    stripped = text.lstrip()
    if suffix in (".json", ".jsonl", ".ndjson") or (suffix != ".csv" and stripped[:1] in ("[", "{")):
        return _json_rows(name, text, jsonl=suffix in (".jsonl", ".ndjson"))
    return _csv_rows(name, text)


def normalise_header(name: str) -> str:
    """`Deal ID`, `deal-id` and ` DEAL_ID ` all mean `deal_id`."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _delimiter(first_line: str) -> str:
    # European exports often use ';' (the decimal comma takes ','); some tools write tabs.
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _csv_rows(name: str, text: str) -> list[DealRow]:
    if not text.strip():
        raise IntakeError(name, 1, "file is empty: expected a header row")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=_delimiter(text.split("\n", 1)[0]))
    try:
        header = [normalise_header(h) for h in next(reader)]
        if "deal_id" not in header:
            raise IntakeError(name, 1, "header has no deal_id column (is this a deal CSV?)")
        if len(set(header)) != len(header):
            dup = sorted({h for h in header if header.count(h) > 1})
            raise IntakeError(name, 1, f"header repeats column {', '.join(dup)}")
        rows = []
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise IntakeError(name, line, f"row has {len(cells)} cells, the header has {len(header)}")
            rows.append(DealRow(line, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        raise IntakeError(name, reader.line_num, f"malformed CSV: {exc}") from exc
    return rows


def _json_rows(name: str, text: str, jsonl: bool) -> list[DealRow]:
    items: list[tuple[int, Any]] = []
    if jsonl:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                items.append((number, _loads(name, line, number)))
    else:
        doc = _loads(name, text, None)
        if isinstance(doc, dict) and "deals" in doc:
            doc = doc["deals"]
        if isinstance(doc, dict):
            doc = [doc]
        if not isinstance(doc, list):
            raise IntakeError(name, 1, 'expected a list of deals or {"deals": [...]}')
        items = [(index, item) for index, item in enumerate(doc, start=1)]
    rows = []
    for where, item in items:
        if not isinstance(item, dict):
            raise IntakeError(name, where, f"deal #{where} is not an object")
        rows.append(DealRow(where, item))
    return rows


def _loads(name: str, text: str, line: int | None) -> Any:
    try:
        # parse_float keeps the number as written: money must never pass through float
        return json.loads(text, parse_float=str)
    except json.JSONDecodeError as exc:
        raise IntakeError(name, line or exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from exc
    except RecursionError:
        message = f"JSON nested more than {MAX_NESTING} levels deep: not a deal file"
        raise IntakeError(name, line or _too_deep(text), message) from None


def _too_deep(text: str) -> int | None:
    """The line on which the JSON text first nests deeper than MAX_NESTING (brackets in strings
    do not count)."""
    depth, line, in_string, escaped = 0, 1, False, False
    for char in text:
        if char == "\n":
            line += 1
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return line
        elif char in "]}":
            depth -= 1
    return None


def deal_input(name: str, row: DealRow) -> DealInput:
    raw = row.raw.get("deal") if isinstance(row.raw.get("deal"), dict) else row.raw
    assert isinstance(raw, dict)
    lines_raw = raw.get("lines") or []
    if not isinstance(lines_raw, list) or not all(isinstance(x, dict) for x in lines_raw):
        raise IntakeError(name, row.line, "`lines` must be a list of objects")
    lines = tuple(_line_input(name, row.line, index, x) for index, x in enumerate(lines_raw))
    for key, value in raw.items():
        if key != "lines" and isinstance(value, dict | list):
            message = f"field {printable(key)!r} must be a plain value, not {type(value).__name__}"
            raise IntakeError(name, row.line, message, printable(key))
    return DealInput.from_mapping(raw, lines)


# A line's fields with the value an absent key means (an explicit null or "" is kept empty).
_LINE_DEFAULTS = {
    "description": "",
    "quantity": "1",
    "unit_price": "",
    "tax_category": "standard",
    "supply": "services",
    "currency": "",
    "discount": "",
    "product": "",
}
_BILLING_KEYS = frozenset(BILLING_LINE_FIELDS)  # read only when given: most lines have none


def _line_input(name: str, line: int, index: int, raw: dict[str, Any]) -> LineInput:
    """A line's values as text, as written: readiness judges them (`lines[i].unit_price` ...)."""
    values = {}
    given = _BILLING_KEYS.intersection(raw)
    for key, default in (*_LINE_DEFAULTS.items(), *((k, "") for k in given)):
        value = raw.get(key, default)
        if isinstance(value, dict | list):
            raise IntakeError(name, line, f"lines[{index}].{key} must be a plain value, not {type(value).__name__}")
        if value is None:
            value = ""
        elif isinstance(value, bool):
            value = "true" if value else "false"
        values[key] = str(value).strip()
    return LineInput(**values)


def read_deal_file(
    path: Path, source: str | None = None, now: datetime | None = None, tolerance: timedelta | None = None
) -> list[DealEvent]:
    """Every deal in the file as an event, or IntakeError for the first thing that is wrong: also
    a value the inbox cannot store (`deals.domain.admission`) and, given a `tolerance`, a version
    time further than that ahead of `now`."""
    name = str(path)
    source = source or f"file:{path.name}"[: LIMITS["source"]]  # a long file name still fits the column
    now = now or datetime.now(UTC)
    events = []
    for position, row in enumerate(read_deal_rows(path)):
        deal = deal_input(name, row)
        if not deal.deal_id:
            raise IntakeError(name, row.line, "deal_id is empty: a deal needs its CRM id")
        envelope = row.raw if isinstance(row.raw.get("deal"), dict) else {}
        given_id = str(envelope.get("event_id") or "")
        if (refused := refusal(DealEvent(source, given_id, now, deal))) is not None:
            raise IntakeError(name, row.line, str(refused), refused.field)
        field = "occurred_at" if envelope.get("occurred_at") else "updated_at"
        stamp = str(envelope.get("occurred_at") or deal.custom.get("updated_at", ""))
        occurred = parse_time(stamp, name, row.line, field) if stamp else now + timedelta(microseconds=position)
        if stamp and tolerance is not None and (ahead := ahead_of_clock(occurred, now, tolerance, field)):
            raise IntakeError(name, row.line, str(ahead), field)
        events.append(DealEvent(source, given_id or _event_id(source, row.raw), occurred, deal))
    return events
