"""A deal line drafting could not tax (no VAT rate for its tax category where it is taxed) is a
readiness problem against a real database (SQLite and PostgreSQL): the event is applied, not
failed; the deal waits in the exception queue on `lines[N].tax_category`; no draft is made; and a
corrected version from the CRM moves on to a draft."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handoff.context import AppContext
from handoff.deals.formats import read_deal_file
from handoff.deals.service.intake import ingest
from handoff.kernel.storage import schema
from tests.builders import GOOD, line, owner_user
from tests.integration.deals.test_intake_flow import count, state
from tests.integration.deals.test_readiness_gates import problems


def import_deals(ctx: AppContext, tmp_path: Path, deals: list[dict[str, Any]], name: str) -> Any:
    path = tmp_path / name
    path.write_text(json.dumps(deals), encoding="utf-8")
    _, report = ingest(ctx, read_deal_file(path, now=datetime(2026, 11, 1, tzinfo=UTC)), render_ahead=True)
    return report


def test_a_line_without_a_rate_waits_in_the_exception_queue(ctx: AppContext, tmp_path: Path) -> None:
    owner_user(ctx)
    untaxable = {**GOOD, "lines": [line(), line(tax_category="super_reduced"), line()]}  # no German super-reduced rate
    report = import_deals(ctx, tmp_path, [untaxable], "v1.json")
    assert (report.applied, report.failed) == (1, 0)
    assert count(ctx, schema.inbox, schema.inbox.c.status == "failed") == 0
    assert state(ctx) == "blocked"
    assert problems(ctx, "D-1") == [("invalid", "lines[1].tax_category")]
    assert count(ctx, schema.invoices) == 0

    fixed = {**GOOD, "updated_at": "2026-11-02T08:00:00Z", "lines": [line(), line(tax_category="reduced"), line()]}
    report = import_deals(ctx, tmp_path, [fixed], "v2.json")
    assert (report.applied, report.failed) == (1, 0)
    assert state(ctx) == "drafted"
    assert count(ctx, schema.invoices) == 1
