"""The usage commands on SQLite and PostgreSQL (in process, on the test's context): a usage file
imported twice (the second run: every event a duplicate, nothing changes), its bad rows named with
file, row and field while the good ones are stored (exit 1), `--json`, metrics set and listed,
a usage price from a YAML file, current usage and a rating run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from handoff.context import AppContext
from handoff.usage import cli
from handoff.users import service as users
from handoff.users.service import Role
from tests.e2e.usage_builders import lock_usage_contract

FINANCE = "finance@acme.example"
EVENTS_CSV = """transaction_id,subscription,metric,timestamp,prop.region,prop.gb
c-1,D-1,api_calls,2026-11-01T10:00:00Z,eu,
c-2,D-1,api_calls,2026-11-01T11:00:00Z,us,
c-3,D-1,storage_gb,2026-11-01T12:00:00Z,,4.5
"""


@pytest.fixture
def run(ctx: AppContext) -> CliRunner:
    users.add_user(ctx, FINANCE, Role.FINANCE, "pw-finance-12345", actor="test")
    lock_usage_contract(ctx, FINANCE)
    return CliRunner()


def invoke(ctx: AppContext, runner: CliRunner, *args: str) -> tuple[int, str]:
    app = typer.Typer()
    cli.register(app, lambda db: ctx)
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_a_usage_file_imported_twice_is_all_duplicates_the_second_time(
    ctx: AppContext, run: CliRunner, tmp_path: Path
) -> None:
    file = tmp_path / "november.csv"
    file.write_text(EVENTS_CSV)
    code, said = invoke(ctx, run, "usage", "import", str(file))
    assert code == 0, said
    assert "3 events, 3 stored, 0 duplicates, 0 refused" in said
    code, said = invoke(ctx, run, "usage", "import", str(file), "--json")
    assert code == 0, said
    outcome = json.loads(said)
    assert (outcome["accepted"], outcome["duplicates"], outcome["refused"]) == (0, 3, 0)
    code, said = invoke(ctx, run, "usage", "current", "--json")
    lines = {u["metric"]: u for u in json.loads(said)["items"]}
    assert [(g["group_key"], g["events"]) for g in lines["api_calls"]["groups"]] == [("eu", 1), ("us", 1)]
    assert (lines["storage_gb"]["quantity"], lines["storage_gb"]["amount"]) == ("4.5", "2.25")  # 4.5 GB at 0.50


def test_bad_rows_are_named_and_the_good_ones_stored(ctx: AppContext, run: CliRunner, tmp_path: Path) -> None:
    file = tmp_path / "mixed.csv"
    file.write_text(
        EVENTS_CSV
        + "c-4,D-1,api_calls,2026-11-01 10:00,eu,\n"  # no UTC offset
        + "c-5,D-1,storage_gb,2026-11-01T12:00:00Z,,lots\n"  # not a number for a sum
        + "c-6,D-1,nope,2026-11-01T12:00:00Z,eu,\n"  # no such metric
    )
    code, said = invoke(ctx, run, "usage", "import", str(file), "--json")
    assert code == 1
    outcome = json.loads(said)
    assert (outcome["accepted"], outcome["refused"]) == (3, 3)
    named = {(e["record"], e["field"]) for e in outcome["errors"]}
    assert ("usage mixed.csv row 5 (txn c-4)", "timestamp") in named
    assert ("usage mixed.csv row 6 (txn c-5)", "properties.gb") in named
    assert ("usage mixed.csv row 7 (txn c-6)", "metric") in named
    code, said = invoke(ctx, run, "usage", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "no such file" in said


def test_metrics_prices_and_rating(ctx: AppContext, run: CliRunner, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.yaml"
    metrics.write_text("metrics:\n  - {code: seats, name: Active seats, aggregation: max, field: n}\n")
    code, said = invoke(ctx, run, "usage", "metrics", "set", "--file", str(metrics), "--actor", FINANCE)
    assert code == 0, said
    code, said = invoke(ctx, run, "usage", "metrics", "list", "--json")
    assert {m["code"] for m in json.loads(said)["metrics"]} >= {"seats", "api_calls", "storage_gb"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("code: seats\naggregation: count\nfield: n\n")
    code, said = invoke(ctx, run, "usage", "metrics", "set", "--file", str(bad), "--actor", FINANCE)
    assert code == 2 and "field" in said
    price = tmp_path / "price.yaml"
    price.write_text("model: volume\ntiers:\n  - {up_to: 100, unit_price: 0.10}\n  - {up_to: null, unit_price: 0.05}\n")
    code, said = invoke(ctx, run, "usage", "price", "D-1", "U1", "--file", str(price), "--actor", FINANCE)
    assert code == 0, said
    code, said = invoke(ctx, run, "usage", "price", "D-1", "U1", "--file", str(price), "--actor", "nobody@x.example")
    assert code == 2
    code, said = invoke(ctx, run, "usage", "rate", "--through", "2026-11-03")
    assert code == 0 and "usage rated through 2026-11-03" in said


def test_json_lines_with_a_reversal(ctx: AppContext, run: CliRunner, tmp_path: Path) -> None:
    lines = [
        {
            "transaction_id": "j-1",
            "subscription": "D-1",
            "metric": "storage_gb",
            "timestamp": "2026-11-01T10:00:00Z",
            "properties": {"gb": 3},
        },
        {
            "transaction_id": "j-2",
            "subscription": "D-1",
            "metric": "storage_gb",
            "timestamp": "2026-11-01T11:00:00Z",
            "properties": {"gb": 1.25},
        },
        {
            "transaction_id": "j-3",
            "subscription": "D-1",
            "metric": "storage_gb",
            "timestamp": "2026-11-01T12:00:00Z",
            "type": "reversal",
            "reverses": "j-1",
        },
    ]
    file = tmp_path / "platform.jsonl"
    file.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    code, said = invoke(ctx, run, "usage", "import", str(file), "--json")
    assert code == 0, said
    assert (json.loads(said)["format"], json.loads(said)["accepted"]) == ("jsonl", 3)
    code, said = invoke(ctx, run, "usage", "current", "--contract", "D-1", "--json")
    storage = {u["metric"]: u for u in json.loads(said)["items"]}["storage_gb"]
    assert storage["quantity"] == "1.25"  # 3 GB taken back by the reversal
