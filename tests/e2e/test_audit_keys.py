"""`handoff serve` and `handoff worker` write the audit trail, so they start only with its key
(HANDOFF_AUDIT_KEY), or when told to run unkeyed for local use, and never unkeyed on a chain that is
keyed already. A worker with HANDOFF_AUDIT_CHECKPOINTS signs the chain's head there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from handoff.cli import app

KEY = "an-operators-audit-key-" + "o" * 32
PASSWORD = "correct horse battery staple 1987\n"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """`handoff serve` in this process with uvicorn.run replaced (`seen`: the app it would have served)."""
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    monkeypatch.setattr("gc.freeze", lambda: None)
    for name in ("HANDOFF_AUDIT_KEY", "HANDOFF_AUDIT_KEY_FILE", "HANDOFF_SECRETS_FILE", "HANDOFF_AUDIT_CHECKPOINTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HANDOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'ops.db'}")
    monkeypatch.setenv("HANDOFF_WEBHOOK_TOKEN", "t" * 32)
    return seen


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_refused_without_an_audit_key_unless_told(env: dict[str, Any], command: str) -> None:
    extra = ["--once"] if command == "worker" else []
    code, said = run(command, *extra)
    assert code == 2 and "HANDOFF_AUDIT_KEY" in said and "--insecure-unkeyed-audit" in said
    assert "app" not in env
    code, said = run(command, *extra, "--insecure-unkeyed-audit")
    assert code == 0 and "audit trail is NOT keyed" in said
    code, said = run(command, *extra, env={"HANDOFF_AUDIT_KEY": KEY})
    assert code == 0 and "NOT keyed" not in said


def test_a_keyed_chain_is_never_written_unkeyed(env: dict[str, Any], tmp_path: Path) -> None:
    add = ("users", "add", "--password-stdin")
    code, said = run(*add, "ann@acme.example", "--role", "admin", env={"HANDOFF_AUDIT_KEY": KEY}, stdin=PASSWORD)
    assert code == 0, said
    code, said = run("serve", "--insecure-unkeyed-audit")
    assert code == 2 and "the audit trail is keyed" in said and "app" not in env
    code, said = run(*add, "bo@acme.example", "--role", "finance", stdin=PASSWORD)
    assert code == 2 and "the audit trail is keyed" in said and "nothing was written" in said


def test_a_worker_signs_checkpoints_where_told(env: dict[str, Any], tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    told = ("worker", "--once", "--insecure-unkeyed-audit")
    code, said = run(*told, env={"HANDOFF_AUDIT_CHECKPOINTS": str(checkpoints)})
    assert code == 2 and "no audit key to sign checkpoints" in said
    code, said = run("worker", "--once", env={"HANDOFF_AUDIT_KEY": KEY, "HANDOFF_AUDIT_CHECKPOINTS": str(checkpoints)})
    assert code == 0 and "audit_checkpoint" in said
    assert len(list(checkpoints.glob("audit-checkpoint-*.json"))) == 1
    code, said = run("audit", "verify", env={"HANDOFF_AUDIT_KEY": KEY, "HANDOFF_AUDIT_CHECKPOINTS": str(checkpoints)})
    assert code == 0 and "held against 1 signed checkpoints" in said


def test_the_demo_keys_its_chain_and_serve_finds_the_key_beside_the_database(
    env: dict[str, Any], tmp_path: Path
) -> None:
    db = tmp_path / "demo.db"
    code, said = run("demo", "--db", str(db))
    assert code == 0 and "intact" in said and "demo.db.audit-key" in said
    key_file = tmp_path / "demo.db.audit-key"
    assert key_file.stat().st_mode & 0o077 == 0  # its owner's alone
    code, said = run("serve", "--db", f"sqlite:///{db}", "--insecure-open-intake")
    assert code == 0 and "NOT keyed" not in said and "app" in env
    code, said = run("audit", "verify", "--db", f"sqlite:///{db}")
    assert code == 0 and "entries verified (keyed)" in said
