"""Tamper evidence: any direct edit, insertion or deletion of audit rows is found and named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select, text, update

from handoff.audit.service import history, verify
from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.kernel.storage import schema
from tests.builders import event

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def trail(ctx: AppContext) -> int:
    ingest(ctx, [event("e1", T0, po_number=""), event("e2", T0, deal_id="D-2")])
    count, broken = verify(ctx)
    assert broken is None and count >= 5
    return count


@pytest.mark.parametrize(
    "column,value", [("reason", "nothing to see"), ("actor", "mallory"), ("after", {"state": "paid"})]
)
def test_editing_any_column_of_any_row_is_named(ctx: AppContext, trail: int, column: str, value: object) -> None:
    for seq in (1, trail // 2, trail):
        with ctx.engine.begin() as conn:
            original = conn.execute(select(schema.audit_log).where(schema.audit_log.c.seq == seq)).one()
            conn.execute(update(schema.audit_log).where(schema.audit_log.c.seq == seq).values({column: value}))
        _, broken = verify(ctx)
        assert broken is not None and broken.seq == seq, (column, seq)
        with ctx.engine.begin() as conn:
            conn.execute(
                update(schema.audit_log)
                .where(schema.audit_log.c.seq == seq)
                .values({column: getattr(original, column)})
            )
        assert verify(ctx)[1] is None


def test_rehashing_an_edited_row_without_the_key_is_named(ctx: AppContext, trail: int) -> None:
    """The chain is keyed (HMAC): a row rehashed with plain SHA-256 no longer matches its own hash."""
    from handoff.kernel.audit import AuditEntry, entry_hash

    with ctx.engine.begin() as conn:
        r = conn.execute(select(schema.audit_log).where(schema.audit_log.c.seq == 2)).one()
        forged = AuditEntry(
            r.seq, r.at, "mallory", r.action, r.entity_type, r.entity_id, r.reason, r.before, r.after, r.prev_hash
        )
        conn.execute(
            update(schema.audit_log).where(schema.audit_log.c.seq == 2).values(actor="mallory", hash=entry_hash(forged))
        )
    _, broken = verify(ctx)
    assert broken is not None and broken.seq == 2 and "altered" in broken.reason


def test_deleting_a_row_or_the_tail_is_found(ctx: AppContext, trail: int) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(delete(schema.audit_log).where(schema.audit_log.c.seq == trail))
    _, broken = verify(ctx)
    assert broken is not None and "head records entry" in broken.reason
    with ctx.engine.begin() as conn:
        conn.execute(delete(schema.audit_log).where(schema.audit_log.c.seq == 2))
    _, broken = verify(ctx)
    assert broken is not None and broken.seq == 2 and "missing" in broken.reason


def test_history_tells_what_happened_to_a_deal(ctx: AppContext, trail: int) -> None:
    actions = [h["action"] for h in history(ctx, "order", "D-1")]
    assert actions == ["order.version_applied", "exception.opened"]
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.audit_log)).scalar_one() == trail
        assert conn.execute(text("SELECT seq FROM audit_head")).scalar_one() == trail


def test_cli_verify_names_the_altered_entry(ctx: AppContext, trail: int, db_url: str) -> None:
    from typer.testing import CliRunner

    from handoff.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--db", db_url])
    assert ok.exit_code == 0 and f"{trail} entries verified" in ok.output
    with ctx.engine.begin() as conn:
        conn.execute(update(schema.audit_log).where(schema.audit_log.c.seq == 3).values(reason="edited"))
    bad = runner.invoke(app, ["audit", "verify", "--db", db_url])
    assert bad.exit_code == 1
    assert "broken at entry 3" in bad.output and "altered" in bad.output
