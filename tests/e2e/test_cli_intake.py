"""Hostile deal files and the open intake as an operator meets them on the command line (a real
subprocess, on SQLite and PostgreSQL): refused naming the line, exit code 2, no traceback, nothing
stored; `handoff serve` refuses to start without a webhook token unless told to, and says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from handoff.kernel.storage import schema
from tests.builders import GOOD
from tests.e2e.test_cli import HEADER, csv_file, run


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.inbox)).scalar_one())


def refused(result: Any, *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    said = " ".join(result.stderr.split())  # as printed, wrapped to the terminal's width
    for word in words:
        assert word in said, said


def test_deeply_nested_json_is_refused_naming_the_line(tmp_path: Path, engine: Engine, db_url: str) -> None:
    path = tmp_path / "deals.json"
    path.write_text('{"deals": [\n' + json.dumps(GOOD) + ",\n" + "[" * 100_000 + "]" * 100_000 + "\n]}\n")
    refused(run("import", str(path), "--db", db_url, cwd=tmp_path), "deals.json, line 3", "nested")
    lines = tmp_path / "deals.jsonl"
    lines.write_text(json.dumps(GOOD) + "\n" + '{"deal": ' * 50_000 + "{}" + "}" * 50_000 + "\n")
    refused(run("import", str(lines), "--db", db_url, cwd=tmp_path), "deals.jsonl, line 2", "nested")
    assert stored(engine) == 0


def test_a_nul_byte_in_a_csv_is_refused_naming_line_and_field(tmp_path: Path, engine: Engine, db_url: str) -> None:
    path = csv_file(tmp_path, [GOOD, {**GOOD, "deal_id": "D-2", "deal_name": "Kestrel\x00Labs"}])
    refused(run("import", str(path), "--db", db_url, cwd=tmp_path), "line 3", "deal_name", "NUL")
    assert stored(engine) == 0


def test_a_surrogate_or_overlong_value_in_a_json_file_is_refused(tmp_path: Path, engine: Engine, db_url: str) -> None:
    path = tmp_path / "deals.json"
    path.write_text(json.dumps([GOOD, {**GOOD, "deal_id": "D-2", "vat_note": "\udc80"}]))
    refused(run("import", str(path), "--db", db_url, cwd=tmp_path), "line 2", "vat_note", "surrogate")
    path.write_text(json.dumps([{**GOOD, "customer_legal_name": "K" * 301}]))
    refused(run("import", str(path), "--db", db_url, cwd=tmp_path), "line 1", "customer_legal_name", "300")
    assert stored(engine) == 0


def test_a_version_dated_in_the_future_is_refused(tmp_path: Path, engine: Engine, db_url: str) -> None:
    path = tmp_path / "deals.csv"
    path.write_text(f"{HEADER},updated_at\n" + ",".join(GOOD.values()) + ",2099-01-01T00:00:00Z\n")
    refused(run("import", str(path), "--db", db_url, cwd=tmp_path), "line 2", "updated_at", "ahead of the clock")
    assert stored(engine) == 0


# -- handoff serve: closed unless told otherwise


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """`handoff serve` in this process with uvicorn.run replaced: the app it would have served."""
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    monkeypatch.setattr("gc.freeze", lambda: None)
    for name in (
        "HANDOFF_WEBHOOK_TOKEN",
        "HANDOFF_SECRETS_FILE",
        "HANDOFF_HUBSPOT_CLIENT_SECRET",
        "HANDOFF_AUDIT_KEY_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HANDOFF_AUDIT_KEY", "audit-key-" + "0" * 32)  # serve also wants the audit trail keyed
    monkeypatch.setenv("HANDOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    return seen


def serve(*args: str, env: dict[str, str] | None = None) -> Any:
    from handoff.cli import app

    return CliRunner().invoke(app, ["serve", *args], env=env)


def test_serve_refuses_to_start_without_a_webhook_token(served: dict[str, Any]) -> None:
    result = serve()
    assert result.exit_code == 2, result.output
    assert "HANDOFF_WEBHOOK_TOKEN" in result.output and "--insecure-open-intake" in result.output
    assert "app" not in served


def test_serve_refuses_a_guessable_token(served: dict[str, Any]) -> None:
    result = serve(env={"HANDOFF_WEBHOOK_TOKEN": "s3cret"})
    assert result.exit_code == 2 and "at least 24 characters" in result.output
    assert "app" not in served


def test_serve_takes_the_token_from_the_environment_or_the_secrets_file(served: dict[str, Any], tmp_path: Path) -> None:
    assert serve(env={"HANDOFF_WEBHOOK_TOKEN": "t" * 32}).exit_code == 0
    assert served["app"].state.webhook_token == "t" * 32
    assert not served["app"].state.insecure_open_intake
    secrets = tmp_path / "secrets.env"
    secrets.write_text("HANDOFF_WEBHOOK_TOKEN=" + "f" * 32 + "\n")
    assert serve(env={"HANDOFF_SECRETS_FILE": str(secrets)}).exit_code == 0
    assert served["app"].state.webhook_token == "f" * 32


def test_serve_opens_the_intake_only_when_told_and_warns(served: dict[str, Any]) -> None:
    result = serve("--insecure-open-intake")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "intake is OPEN" in said and "local use only" in said
    assert served["app"].state.insecure_open_intake and served["app"].state.webhook_token == ""


def test_a_long_file_name_still_imports(tmp_path: Path, engine: Engine, db_url: str) -> None:
    path = csv_file(tmp_path, [GOOD], name="deals-exported-from-the-crm-on-2026-11-30-by-finance.csv")
    result = run("import", str(path), "--db", db_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stored(engine) == 1
