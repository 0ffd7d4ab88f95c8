"""A bulk import with invoice drafts rendered ahead on a helper process writes exactly the rows an
import that renders every draft itself writes, also when the helper dies."""

from __future__ import annotations

import os
import shutil
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from handoff.config import BusinessConfig
from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent, DealInput
from handoff.deals.formats.files import read_deal_file
from handoff.deals.service import intake
from handoff.deals.service.intake import ingest
from handoff.demo.generate import deals, to_csv
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import make_engine
from handoff.runtime import drafts_ahead

pytestmark = pytest.mark.skipif(not drafts_ahead.available(), reason="needs fork and a second core")


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[DealEvent]:
    path = tmp_path_factory.mktemp("deals") / "deals.csv"
    path.write_text(to_csv(deals(1000, seed=11)))
    return read_deal_file(path, source="export")


def _drafts(ctx: AppContext) -> dict[str, tuple[Any, ...]]:
    inv, audit = schema.invoices, schema.audit_log
    with ctx.engine.connect() as conn:
        logged = {r.entity_id: r.after for r in conn.execute(select(audit).where(audit.c.action == "invoice.drafted"))}
        return {
            r.draft_key: (
                r.kind,
                r.legal_entity,
                r.customer_id,
                r.customer_name,
                r.currency,
                r.net_amount,
                r.tax_amount,
                r.gross_amount,
                r.document,
                logged[r.draft_key.removeprefix("order:")],
            )
            for r in conn.execute(select(inv))
        }


def _rendered_in_process(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Deal ids whose draft the importing process rendered itself."""
    rendered: list[str] = []
    render = intake.render_draft

    def counting(deal: DealInput, config: BusinessConfig) -> drafts_ahead.RenderedDraft:
        rendered.append(deal.deal_id)
        return render(deal, config)

    monkeypatch.setattr(intake, "render_draft", counting)
    return rendered


@pytest.fixture
def reference(ctx: AppContext, events: list[DealEvent], sqlite_template: Path, tmp_path: Path) -> dict[str, Any]:
    """The drafts of the same import with every draft rendered in process (on SQLite)."""
    shutil.copy(sqlite_template, tmp_path / "reference.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    plain = AppContext(engine, ctx.config, ctx.clock)
    ingest(plain, events)
    drafts = _drafts(plain)
    engine.dispose()
    assert len(drafts) > 600  # most generated deals are ready
    return drafts


def test_drafts_rendered_ahead_are_the_drafts_rendered_in_process(
    ctx: AppContext, events: list[DealEvent], reference: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered_here = _rendered_in_process(monkeypatch)
    _, report = ingest(ctx, events, render_ahead=True)
    assert report.failed == 0
    assert _drafts(ctx) == reference
    assert rendered_here == []  # every draft came from the helper


def test_when_the_helper_dies_the_import_renders_the_rest_itself(
    ctx: AppContext, events: list[DealEvent], reference: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies_after_one_message(conn: Connection, config: BusinessConfig, evs: list[DealEvent]) -> None:
        sent = []
        for e in evs[:50]:
            try:
                sent.append(((e.source, e.event_id), drafts_ahead.render_draft(e.deal, config)))
            except Exception:  # a deal with no draft
                continue
        conn.send((50, sent[:10]))
        os._exit(1)

    monkeypatch.setattr(drafts_ahead, "_render_ahead", dies_after_one_message)
    rendered_here = _rendered_in_process(monkeypatch)
    _, report = ingest(ctx, events, render_ahead=True)
    assert report.failed == 0
    assert _drafts(ctx) == reference
    assert 0 < len(rendered_here) < len(reference)  # some from the helper before it died, the rest here
