"""Usage event files, read into `usage.domain.events.UsageEvent`s: CSV, JSON lines or a JSON array.

- CSV (comma, semicolon or tab, told from the header line; UTF-8, a byte-order mark allowed): the
  columns `transaction_id`, `subscription`, `customer`, `metric`, `timestamp`, `reverses`, `type`
  (`usage`, the default, or `reversal`: then `reverses` must name the cancelled id), and one
  column `prop.<name>` per property (`prop.region`, `prop.bytes`); headers match without regard to
  case or surrounding spaces (a property's name is kept as written). An empty property cell means
  the event has no such property. Any other column refuses the file (a typo would drop data).
- JSON lines (`.jsonl`/`.ndjson`, or text whose first line is one object): one event object per
  line. JSON array: `[{...}, ...]` or `{"events": [...]}`. An event object has the keys above, with
  `properties` an object of plain values; numbers keep their text (never read through float).

`timestamp` is ISO 8601 with its UTC offset (`2027-01-31T23:59:59Z`, `...+01:00`), taken as UTC; a
time without an offset is refused (it would be a guess). Each event names where it came from
(`events.csv row 3`, `events.json item 3`, `events.jsonl line 3`, counted from 1, the CSV header
being row 1). A row that cannot be read becomes a `UsageError(record, field, problem)`; every such
row is collected (the file's other events are still returned, as the API stores a batch's valid
events). A file that cannot be read at all (not UTF-8, not JSON, no or a wrong header) raises
`UsageFileError` holding every problem found. The checks that need the metric or the store
(unknown metric, non-numeric value, the future tolerance, repeats) are the service's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from handoff.usage.domain.events import UsageError, UsageEvent

FORMATS = ("auto", "csv", "jsonl", "json")
FIELDS = ("transaction_id", "subscription", "customer", "metric", "timestamp", "reverses", "type")
TYPES = ("usage", "reversal")
PROPERTY_PREFIX = "prop."
MAX_SHOWN = 20  # problems listed in a UsageFileError's message (all are in `.errors`)
MAX_TEXT = 500  # a value longer than this is refused (ids are checked to their own bounds by the domain)


class UsageFileError(ValueError):
    """A usage file that cannot be read at all: every problem found, each naming the file and field."""

    def __init__(self, errors: Sequence[UsageError]) -> None:
        self.errors = list(errors)
        shown = [str(e) for e in self.errors[:MAX_SHOWN]]
        more = f"\n  ... and {len(self.errors) - MAX_SHOWN} more" if len(self.errors) > MAX_SHOWN else ""
        super().__init__(f"{len(self.errors)} problem(s), nothing read:\n  " + "\n  ".join(shown) + more)


@dataclass(frozen=True)
class UsageFile:
    """What a file held: the events read, and the rows refused (each naming its row and field)."""

    name: str
    format: str
    events: list[UsageEvent] = field(default_factory=list)
    errors: list[UsageError] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Events in the file: read and refused."""
        return len(self.events) + len({e.record for e in self.errors})


class _Bad(Exception):
    """A value that cannot be read: (field, problem)."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(problem)
        self.field, self.problem = field_name, problem


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 instant with its offset, in UTC; ValueError naming the problem otherwise."""
    value = text.strip()
    if not value:
        raise ValueError("is missing")
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"is not an ISO 8601 instant ({value[:40]!r})") from None
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValueError(f"has no UTC offset ({value[:40]!r}): write it as 2027-01-31T23:59:59Z")
    try:
        return stamp.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"is out of range ({value[:40]!r})") from None


def _text(name: str, value: str) -> str:
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise _Bad(name, f"is longer than {MAX_TEXT} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _Bad(name, "holds control characters")
    return value


def _event(record: str, values: Mapping[str, str], properties: Mapping[str, str]) -> UsageEvent:
    """One event from its text values; _Bad for the first value that cannot be read. Missing ids,
    metrics and references are left to the domain's `check_event` (one wording for every intake)."""
    clean = {k: _text(k, values.get(k, "")) for k in FIELDS}
    try:
        stamp = parse_timestamp(clean["timestamp"])
    except ValueError as exc:
        raise _Bad("timestamp", str(exc)) from None
    kind = clean["type"].lower() or "usage"
    if kind not in TYPES:
        raise _Bad("type", f"is not one of {', '.join(TYPES)} ({clean['type'][:40]!r})")
    props = {k: _text(PROPERTY_PREFIX + k, v) for k, v in properties.items()}
    return UsageEvent(
        transaction_id=clean["transaction_id"],
        metric=clean["metric"],
        timestamp=stamp,
        subscription=clean["subscription"],
        customer=clean["customer"],
        properties={k: v for k, v in props.items() if v != ""},
        reverses=clean["reverses"],
        row=record,
        reversal=kind == "reversal",
    )


def _record(record: str, txn: str) -> str:
    """As `usage.domain.events.describe` names an event: "usage events.csv row 3 (txn t-9)"."""
    return f"usage {record} (txn {txn[:60]})" if txn else f"usage {record}"


def _read_one(out: UsageFile, record: str, values: Mapping[str, str], properties: Mapping[str, str]) -> None:
    try:
        out.events.append(_event(record, values, properties))
    except _Bad as bad:
        out.errors.append(UsageError(_record(record, values.get("transaction_id", "").strip()), bad.field, bad.problem))


# ---- CSV -------------------------------------------------------------------------------------------


def _header(cells: Sequence[str], name: str) -> tuple[dict[int, str], dict[int, str]]:
    """(column -> field, column -> property name); UsageFileError naming every bad column."""
    fields: dict[int, str] = {}
    props: dict[int, str] = {}
    errors: list[UsageError] = []
    seen: set[str] = set()
    for i, raw in enumerate(cells):
        title = raw.strip()
        key = title.lower()
        if key.startswith(PROPERTY_PREFIX) and len(title) > len(PROPERTY_PREFIX):
            prop = title[len(PROPERTY_PREFIX) :].strip()
            where, target = f"prop:{prop}", props
            value = prop
        elif key in FIELDS:
            where, target, value = key, fields, key
        else:
            known = ", ".join(FIELDS)
            errors.append(
                UsageError(f"{name} row 1", title or f"column {i + 1}", f"is not a usage column ({known}, prop.<name>)")
            )
            continue
        if where in seen:
            errors.append(UsageError(f"{name} row 1", title, "appears twice"))
            continue
        seen.add(where)
        target[i] = value
    for required in ("transaction_id", "metric", "timestamp"):
        if required not in fields.values():
            errors.append(UsageError(f"{name} row 1", required, "column is missing"))
    if "subscription" not in fields.values() and "customer" not in fields.values():
        errors.append(UsageError(f"{name} row 1", "subscription", "column is missing (or a customer column)"))
    if errors:
        raise UsageFileError(errors)
    return fields, props


def _read_csv(text: str, out: UsageFile) -> None:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    number = 1
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise UsageFileError([UsageError(f"{out.name} row 1", "header", "is missing: the file is empty")])
        fields, props = _header(header, out.name)
        txn_at = next((i for i, f in fields.items() if f == "transaction_id"), -1)

        def txn_cell(cells: Sequence[str]) -> str:
            return cells[txn_at].strip() if 0 <= txn_at < len(cells) else ""

        for number, cells in enumerate(reader, start=2):
            if not "".join(cells).strip():
                continue
            record = f"{out.name} row {number}"
            if len(cells) != len(header):
                problem = f"has {len(cells)} cells, the header has {len(header)}"
                out.errors.append(UsageError(_record(record, txn_cell(cells)), "row", problem))
                continue
            values = {f: cells[i] for i, f in fields.items()}
            _read_one(out, record, values, {p: cells[i] for i, p in props.items()})
    except csv.Error as exc:
        raise UsageFileError(
            [UsageError(f"{out.name} row {number + 1}", "row", f"is not well-formed CSV ({exc})")]
        ) from None


# ---- JSON ------------------------------------------------------------------------------------------


def _plain(value: Any) -> str | None:
    """A JSON value as text (numbers as written); None for an object or a list."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return None
    return str(value)


def _read_object(out: UsageFile, record: str, item: Any) -> None:
    if not isinstance(item, dict):
        out.errors.append(UsageError(_record(record, ""), "event", "is not an object"))
        return
    txn = _plain(item.get("transaction_id"))
    where = _record(record, txn or "")
    values: dict[str, str] = {}
    properties: dict[str, str] = {}
    for key, value in item.items():
        if key == "properties":
            if value is None:
                continue
            if not isinstance(value, dict):
                out.errors.append(UsageError(where, "properties", "must be an object of plain values"))
                return
            for name, prop in value.items():
                text = _plain(prop)
                if text is None:
                    out.errors.append(UsageError(where, f"properties.{name}", "must be a plain value"))
                    return
                properties[str(name)] = text
        elif key in FIELDS:
            text = _plain(value)
            if text is None:
                out.errors.append(UsageError(where, key, "must be a plain value, not a list or object"))
                return
            values[key] = text
        else:
            out.errors.append(
                UsageError(where, str(key)[:60], f"is not a usage event key ({', '.join(FIELDS)}, properties)")
            )
            return
    _read_one(out, record, values, properties)


def _loads(text: str) -> Any:
    # numbers keep their text: a summed value never passes through float
    return json.loads(text, parse_float=str, parse_int=str)


def _read_json(text: str, out: UsageFile) -> None:
    try:
        doc = _loads(text)
    except json.JSONDecodeError as exc:
        raise UsageFileError(
            [UsageError(out.name, "json", f"is not valid JSON: {exc.msg} (line {exc.lineno})")]
        ) from None
    except RecursionError:
        raise UsageFileError([UsageError(out.name, "json", "is nested too deeply")]) from None
    if isinstance(doc, dict):
        doc = doc["events"] if set(doc) == {"events"} else [doc]  # a batch, or one event
    if not isinstance(doc, list):
        raise UsageFileError([UsageError(out.name, "json", 'must be a list of events or {"events": [...]}')])
    for number, item in enumerate(doc, start=1):
        _read_object(out, f"{out.name} item {number}", item)


def _read_lines(text: str, out: UsageFile) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = f"{out.name} line {number}"
        try:
            item = _loads(line)
        except json.JSONDecodeError as exc:
            out.errors.append(UsageError(_record(record, ""), "json", f"is not a JSON object: {exc.msg}"))
            continue
        except RecursionError:
            out.errors.append(UsageError(_record(record, ""), "json", "is nested too deeply"))
            continue
        _read_object(out, record, item)


# ---- the file --------------------------------------------------------------------------------------


def detect_format(name: str, text: str) -> str:
    """csv, jsonl or json: from the name's ending, else from the text (starting with [, or one JSON
    document starting with {: JSON; objects one per line: JSON lines; else CSV)."""
    suffix = PurePath(name).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    start = text.lstrip()
    if start.startswith("["):
        return "json"
    if start.startswith("{"):
        try:  # a whole JSON document ({"events": [...]} or one event); else one object per line
            _loads(start)
        except (json.JSONDecodeError, RecursionError):
            return "jsonl"
        return "json"
    return "json" if suffix == ".json" else "csv"


def read_usage_file(data: bytes, name: str, format: str = "auto") -> UsageFile:
    """The events of a usage file and its refused rows (see the module's note). UsageFileError for
    a file that cannot be read at all."""
    if format not in FORMATS:
        raise UsageFileError([UsageError(name, "format", f"{format!r} is not one of {', '.join(FORMATS)}")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageFileError([UsageError(f"{name} row {line}", "file", "is not UTF-8 text")]) from None
    kind = detect_format(name, text) if format == "auto" else format
    out = UsageFile(name, kind)
    if kind == "csv":
        _read_csv(text, out)
    elif kind == "jsonl":
        _read_lines(text, out)
    else:
        _read_json(text, out)
    return out


def chunks(events: Sequence[UsageEvent], size: int = 10_000) -> Iterator[Sequence[UsageEvent]]:
    """The events in batches of `size` (the ingest service's batch), in file order."""
    for start in range(0, len(events), size):
        yield events[start : start + size]
