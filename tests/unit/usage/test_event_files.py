"""Usage event files: CSV with `prop.<name>` columns, JSON lines and JSON arrays read into events;
bad rows are refused one by one (file, row and field named, all of them) while the good ones are
read; a file that cannot be read at all is refused whole, naming every problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from handoff.usage.formats.events import UsageFileError, detect_format, read_usage_file

CSV = (
    "transaction_id,subscription,customer,metric,timestamp,prop.region,prop.bytes,reverses\n"
    "t-1,D-1,,api_calls,2027-01-05T10:00:00Z,eu,,\n"
    "t-2,,C-9,storage_gb,2027-01-05T11:00:00+01:00,us,12.500000,\n"
    "t-3,D-1,,api_calls,2027-01-05 10:00,eu,,\n"  # no offset: refused
    "t-4,D-1,,api_calls,2027-01-06T00:00:00Z,eu,,t-1\n"
    "t-5,D-1,,api_calls,yesterday,eu,,\n"  # not a timestamp: refused
)


def test_csv_reads_properties_and_refuses_bad_rows_by_name() -> None:
    found = read_usage_file(CSV.encode(), "events.csv")
    assert found.format == "csv" and found.rows == 5
    assert [e.transaction_id for e in found.events] == ["t-1", "t-2", "t-4"]
    first, second, reversal = found.events
    assert first.subscription == "D-1" and first.properties == {"region": "eu"}  # an empty cell: no property
    assert second.customer == "C-9" and second.properties == {"region": "us", "bytes": "12.500000"}
    assert second.timestamp == datetime(2027, 1, 5, 10, 0, tzinfo=UTC)  # +01:00 taken as UTC
    assert reversal.reverses == "t-1" and reversal.is_reversal
    assert first.row == "events.csv row 2"
    assert [(e.record, e.field) for e in found.errors] == [
        ("usage events.csv row 4 (txn t-3)", "timestamp"),
        ("usage events.csv row 6 (txn t-5)", "timestamp"),
    ]
    assert "has no UTC offset" in str(found.errors[0]) and "events.csv row 4" in str(found.errors[0])


def test_a_wrong_header_refuses_the_file_naming_every_column() -> None:
    with pytest.raises(UsageFileError) as refused:
        read_usage_file(b"txn,metric,colour\nx,api_calls,red\n", "bad.csv")
    problems = {(e.field, e.problem.split(" ")[0]) for e in refused.value.errors}
    assert ("txn", "is") in problems and ("colour", "is") in problems
    assert {"transaction_id", "timestamp", "subscription"} <= {e.field for e in refused.value.errors}
    with pytest.raises(UsageFileError, match="not UTF-8"):
        read_usage_file(b"transaction_id\n\xff\xfe", "latin.csv")
    with pytest.raises(UsageFileError, match="appears twice"):
        read_usage_file(b"transaction_id,metric,timestamp,customer,prop.a,PROP.a\n", "twice.csv")


def test_a_row_with_the_wrong_number_of_cells_is_named() -> None:
    data = b"transaction_id;customer;metric;timestamp\nt-1;C-1;api_calls;2027-01-05T10:00:00Z\nt-2;C-1\n"
    found = read_usage_file(data, "semi.csv")  # semicolons, told from the header line
    assert [e.transaction_id for e in found.events] == ["t-1"]
    assert [(e.record, e.field) for e in found.errors] == [("usage semi.csv row 3 (txn t-2)", "row")]


def test_json_lines_keep_numbers_as_text_and_name_the_line() -> None:
    lines = [
        {"transaction_id": "j-1", "customer": "C-1", "metric": "gb", "timestamp": "2027-01-05T10:00:00Z"},
        {"transaction_id": "j-2", "customer": "C-1", "metric": "gb", "timestamp": "2027-01-05T10:00:00Z"},
    ]
    text = json.dumps(lines[0]) + "\n" + json.dumps(lines[1])[:-1] + ', "properties": {"gb": 0.1}}\n'
    text += '{"transaction_id": "j-3", "colour": "red"}\n{"transaction_id": "j-4", "properties": [1]}\nnot json\n'
    found = read_usage_file(text.encode(), "events.jsonl")
    assert found.format == "jsonl"
    assert [e.transaction_id for e in found.events] == ["j-1", "j-2"]
    assert found.events[1].properties == {"gb": "0.1"}
    assert [(e.record, e.field) for e in found.errors] == [
        ("usage events.jsonl line 3 (txn j-3)", "colour"),
        ("usage events.jsonl line 4 (txn j-4)", "properties"),
        ("usage events.jsonl line 5", "json"),
    ]
    assert detect_format("upload", text) == "jsonl"  # objects one per line, whatever the name


def test_json_array_and_events_object() -> None:
    event = {
        "transaction_id": "a-1",
        "subscription": "D-1:L9",
        "metric": "api_calls",
        "timestamp": "2027-01-05T10:00:00Z",
        "properties": {"n": 12345678901234567890, "ok": True},
        "type": "reversal",
        "reverses": "a-0",
    }
    for doc in ([event], {"events": [event]}, event):
        found = read_usage_file(json.dumps(doc, indent=2).encode(), "upload.json")
        assert found.format == "json" and not found.errors
        (read,) = found.events
        assert read.properties == {"n": "12345678901234567890", "ok": "true"} and read.reversal
    with pytest.raises(UsageFileError, match="not valid JSON"):
        read_usage_file(b"[{", "broken.json")
    with pytest.raises(UsageFileError, match="list of events"):
        read_usage_file(b'"text"', "text.json")
    bad_type = read_usage_file(json.dumps([{**event, "type": "refund"}]).encode(), "t.json")
    assert [(e.record, e.field) for e in bad_type.errors] == [("usage t.json item 1 (txn a-1)", "type")]
