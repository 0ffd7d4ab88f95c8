"""Failed deal events brought back by a person (issue 16, item 11): `handoff inbox failed` and
`handoff inbox retry` as a user runs them (a real subprocess, SQLite), and the admins' page with a
Retry button per event (server-rendered forms over HTTP, with the CSRF secret), on both engines."""

from __future__ import annotations

import html
import json
import re
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import insert, select, update

from handoff.audit import service as audit
from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.invoicing.domain.tax import VatRates
from handoff.kernel.storage import schema
from handoff.users.service import Role
from tests.builders import GOOD, event
from tests.e2e.conftest import EMAILS, Site, csrf_of, login
from tests.e2e.test_cli import add_user, csv_file, run

T0 = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
UNREADABLE_LINES = [{"description": "x", "unit_prize": "12000.00"}]  # no version of handoff writes this key
REPAIRED_LINES = [{"description": "x", "unit_price": "12000.00"}]


# -- the command line


def _store_unreadable(db: Path, deal_id: str) -> None:
    """An event for `deal_id` whose stored payload cannot be read back (an old format, a hand edit)."""
    with sqlite3.connect(db) as conn:
        payload = json.dumps({**GOOD, "deal_id": deal_id, "lines": UNREADABLE_LINES})
        conn.execute(
            "INSERT INTO inbox (source, event_id, deal_id, occurred_at, received_at, payload, status) "
            "VALUES ('crm', 'bad-1', ?, '2026-10-30 09:00:00', '2026-10-30 09:00:00', ?, 'pending')",
            (deal_id, payload),
        )


def test_cli_lists_a_failed_event_refuses_what_is_not_failed_and_retries_it_once_repaired(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    url = f"sqlite:///{db}"
    assert run("import", str(csv_file(tmp_path, [GOOD])), "--db", url, cwd=tmp_path).returncode == 0
    _store_unreadable(db, "D-9")
    # the next import applies what is pending: the unreadable event fails alone, the new deal goes in
    second = run("import", str(csv_file(tmp_path, [{**GOOD, "deal_id": "D-2"}], "more.csv")), "--db", url, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "1 applied, 0 stale, 1 failed" in second.stdout

    listed = run("inbox", "failed", "--db", url, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [failed] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert set(failed) == {"id", "source", "event_id", "deal_id", "received_at", "failed_at", "error"}
    assert (failed["id"], failed["source"], failed["event_id"], failed["deal_id"]) == (2, "crm", "bad-1", "D-9")
    assert "inbox event 2 (crm/bad-1)" in failed["error"] and "lines[0]" in failed["error"]
    assert failed["received_at"] == "2026-10-30T09:00:00+00:00"
    table = run("inbox", "failed", "--db", url, cwd=tmp_path)
    assert "bad-1" in table.stdout and "D-9" in table.stdout and "1 failed" in table.stdout

    refused = run("inbox", "retry", "1", "--db", url, cwd=tmp_path)  # D-1's event was applied
    assert refused.returncode == 2
    said = "".join(refused.stderr.split("\n"))  # rich wraps long lines
    assert "inbox event 1 (file:deals.csv/" in said and ") is applied, not failed" in said
    assert run("inbox", "retry", "--db", url, cwd=tmp_path).returncode == 2  # neither an id nor --all

    again = run("inbox", "retry", "2", "--db", url, cwd=tmp_path)
    assert again.returncode == 1  # failed again: said, and the exit code tells a script
    assert "failed again" in again.stdout and "1 retried: 1 failed" in again.stdout

    with sqlite3.connect(db) as conn:
        payload = json.dumps({**GOOD, "deal_id": "D-9", "lines": REPAIRED_LINES})
        conn.execute("UPDATE inbox SET payload = ? WHERE id = 2", (payload,))
    add_user(url, "ops@acme.example", "admin", tmp_path)
    done = run(
        "inbox", "retry", "--all", "--db", url, "--actor", "ops@acme.example", "--reason", "payload repaired",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "inbox event 2 (crm/bad-1, deal D-9): applied" in done.stdout and "1 retried: 1 applied" in done.stdout
    assert run("inbox", "failed", "--db", url, "--json", cwd=tmp_path).stdout == ""
    assert "no failed inbox events" in run("inbox", "failed", "--db", url, cwd=tmp_path).stdout
    with sqlite3.connect(db) as conn:
        state = conn.execute("SELECT state FROM orders WHERE deal_id = 'D-9'").fetchone()
        retried = conn.execute(
            "SELECT actor, reason FROM audit_log WHERE action = 'inbox.retried' AND entity_id = 'D-9' ORDER BY seq"
        ).fetchall()
    assert state == ("drafted",)
    assert retried == [("operator@cli", "failed inbox event retried"), ("ops@acme.example", "payload repaired")]


# -- the admins' page


def _without_german_vat(ctx: AppContext) -> AppContext:
    rates = ctx.config.vat_rates
    broken = VatRates({cc: r for cc, r in rates.rates.items() if cc != "DE"}, rates.source, rates.as_of)
    return replace(ctx, config=replace(ctx.config, vat_rates=broken))


def _inbox_id(site: Site, event_id: str) -> int:
    with site.ctx.engine.connect() as conn:
        return int(conn.execute(select(schema.inbox.c.id).where(schema.inbox.c.event_id == event_id)).scalar_one())


def _post(client: httpx.Client, url: str, form: dict[str, str]) -> tuple[str, str]:
    """Post a form of the page as the browser does; the flash message shown after the redirect."""
    response = client.post(url, data={**form, "csrf_token": csrf_of(client.get("/admin/inbox").text)})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/admin/inbox"
    shown = client.get("/admin/inbox").text
    flash = re.search(r'<div class="flash flash-(\w+)" role="status">([^<]*)</div>', shown)
    assert flash, "no message shown"
    return flash.group(1), html.unescape(flash.group(2))


def test_admin_retries_failed_events_on_their_page(site: Site) -> None:
    # the app runs with the corrected configuration; these two failed before it was corrected
    _, report = ingest(
        _without_german_vat(site.ctx), [event("vat-1", T0, deal_id="D-7"), event("vat-2", T0, deal_id="D-8")]
    )
    assert report.failed == 2
    with site.ctx.engine.begin() as conn:  # and one whose stored payload cannot be read
        payload = {**GOOD, "deal_id": "D-9", "lines": UNREADABLE_LINES}
        row = {"source": "crm", "event_id": "bad", "deal_id": "D-9", "occurred_at": T0, "received_at": T0}
        conn.execute(insert(schema.inbox).values(**row, payload=payload, status="failed", error="TypeError: x"))
    first, second, bad = _inbox_id(site, "vat-1"), _inbox_id(site, "vat-2"), _inbox_id(site, "bad")

    with login(site, Role.ADMIN) as admin:
        home = admin.get("/dashboard").text
        assert 'href="/admin/inbox"' in home  # in the admins' navigation
        page = admin.get("/admin/inbox").text
        for inbox_id in (first, second, bad):
            assert f'action="/admin/inbox/{inbox_id}/retry"' in page
        assert "no VAT rate for DE" in page and "D-9" in page

        kind, told = _post(admin, f"/admin/inbox/{first}/retry", {"reason": "VAT rates restored"})
        assert (kind, told) == ("ok", "Event crm/vat-1 (deal D-7) was applied.")
        kind, told = _post(admin, f"/admin/inbox/{first}/retry", {})
        assert kind == "error" and f"inbox event {first} (crm/vat-1) is applied, not failed" in told
        kind, told = _post(admin, f"/admin/inbox/{bad}/retry", {})
        assert kind == "error" and told.startswith("Event crm/bad (deal D-9) failed again: UnreadablePayload")
        kind, told = _post(admin, "/admin/inbox/99999/retry", {})
        assert (kind, told) == ("error", "Not retried: there is no inbox event 99999.")

        # without the CSRF secret a retry is refused and nothing changes
        forged = admin.post(f"/admin/inbox/{second}/retry", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        assert f'action="/admin/inbox/{second}/retry"' in admin.get("/admin/inbox").text

        with site.ctx.engine.begin() as conn:
            payload = {**GOOD, "deal_id": "D-9", "lines": REPAIRED_LINES}
            conn.execute(update(schema.inbox).where(schema.inbox.c.id == bad).values(payload=payload))
        kind, told = _post(admin, "/admin/inbox/retry-all", {"reason": "payload repaired"})
        assert (kind, told) == ("ok", "2 events retried: 2 applied.")
        assert "No failed events" in admin.get("/admin/inbox").text

    entries = {
        deal: [
            (e["actor"], e["reason"]) for e in audit.history(site.ctx, "order", deal) if e["action"] == "inbox.retried"
        ]
        for deal in ("D-7", "D-8", "D-9")
    }
    admin_actor = f"user:{EMAILS[Role.ADMIN]}"
    assert entries == {
        "D-7": [(admin_actor, "VAT rates restored")],
        "D-8": [(admin_actor, "payload repaired")],
        "D-9": [(admin_actor, "failed inbox event retried"), (admin_actor, "payload repaired")],
    }


def test_only_admins_see_the_page_and_its_link(site: Site) -> None:
    with login(site, Role.FINANCE) as finance:
        assert 'href="/admin/inbox"' not in finance.get("/dashboard").text
        assert finance.get("/admin/inbox").status_code == 403
