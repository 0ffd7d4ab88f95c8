"""The projects API on SQLite and PostgreSQL, over HTTP: a batch of time entries with a bad record
stores the good ones and names the bad one (index, record, field), a repeat changes nothing; roles
(sales reads its own projects, cannot post or store signals; the manager approves; the auditor
reads only; nobody unauthenticated); the plan changes with a version and refuses an unknown role
naming the field; a closed period refuses entries in it; the delivery webhook takes only requests
signed with its source's secret within the time window, and a redelivery changes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from handoff.projects.service.projects import set_plan
from handoff.users.service import Role
from handoff.web.webhooks import sign
from tests.e2e.conftest import EMAILS, OTHER, SALES, Site
from tests.e2e.project_builders import entry, open_services_project

F, S, A, D = Role.FINANCE, Role.SALES, Role.AUDITOR, Role.ADMIN
SECRET = "harvest-webhook-secret-0123456789"
FINANCE_EMAIL = EMAILS[Role.FINANCE]


@pytest.fixture
def project(site: Site) -> str:
    return open_services_project(site.ctx, "D-1", SALES)  # D-1: the sales user's deal, so its project too


def test_a_batch_stores_the_valid_entries_and_names_the_refused_one(site: Site, project: str) -> None:
    batch = [
        entry("h-1", project),
        entry("h-2", project, role="juggler"),  # no such role
        entry("h-3", project, role="developer", hours="3.25"),
        entry("h-4", project, hours="25"),  # more than a day
    ]
    with site.client(F) as api:
        first = api.post("/api/v1/time-entries", json=batch)
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["received"], body["created"], body["refused"]) == (4, 2, 2)
        refused = {e["index"]: e for e in body["errors"]}
        assert sorted(refused) == [1, 3]
        assert refused[1]["external_id"] == "h-2" and refused[1]["field"] == "role"
        assert "juggler" in refused[1]["message"] and refused[1]["record"] in refused[1]["message"]
        assert refused[3]["field"] == "hours"

        again = api.post("/api/v1/time-entries", json=batch[:1] + batch[2:3]).json()
        assert (again["created"], again["updated"], again["unchanged"], again["refused"]) == (0, 0, 2, 0)
        edited = api.post("/api/v1/time-entries", json=[entry("h-1", project, hours="8")]).json()
        assert (edited["created"], edited["updated"]) == (0, 1)

        detail = api.get(f"/api/v1/projects/{project}").json()
    assert detail["contract_id"] == "D-1" and [r["role"] for r in detail["roles"]] == ["architect", "developer"]
    assert detail["delivery"]["entries"]["time"]  # the two stored entries are counted


def test_malformed_batches_are_refused_whole(site: Site, project: str) -> None:
    with site.client(F) as api:
        assert api.post("/api/v1/time-entries", json=[]).status_code == 422
        assert api.post("/api/v1/time-entries", json=[entry("x", project, hours="-2")]).status_code == 422
        wrong = api.post("/api/v1/time-entries", json=[{**entry("x", project), "colour": "red"}])
        assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "0.colour"
        assert api.post("/api/v1/expenses", json=[{"external_id": "e"}]).status_code == 422


def test_roles(site: Site, project: str) -> None:
    with httpx.Client(base_url=site.url) as anonymous:
        assert anonymous.get("/api/v1/projects").status_code == 401
        assert anonymous.post("/api/v1/time-entries", json=[entry("a", project)]).status_code == 401
    with site.client(S) as api:
        assert [p["project_id"] for p in api.get("/api/v1/projects").json()["items"]] == [project]
        assert api.get(f"/api/v1/projects/{project}").status_code == 200
        assert api.post("/api/v1/time-entries", json=[entry("s-1", project)]).status_code == 403
        assert api.post("/api/v1/delivery/postings", json={"through": "2026-11-01"}).status_code == 403
        assert api.post(f"/api/v1/projects/{project}/close-period", json={"through": "2026-10-31"}).status_code == 403
        # the sales user manages the project (its contract's owner): approving is theirs
        approved = api.post(f"/api/v1/projects/{project}/approve", json={})
        assert approved.status_code == 200, approved.text
    with site.client(A) as api:
        assert api.get(f"/api/v1/projects/{project}").status_code == 200
        assert api.post(f"/api/v1/projects/{project}/approve", json={}).status_code == 403
        assert api.post("/api/v1/delivery/postings", json={"through": "2026-11-01"}).status_code == 403
    with site.client(F) as api:
        assert api.get("/api/v1/projects/PRJ-NOPE").status_code == 404
        posted = api.post("/api/v1/delivery/postings", json={"through": "2026-11-01"})
        assert posted.status_code == 200, posted.text
        far = api.post("/api/v1/delivery/postings", json={"through": "2099-01-01"})
        assert far.status_code == 422 and far.json()["error"]["field"] == "through"


def test_plan_and_closed_period(site: Site, project: str) -> None:
    plan = {
        "phases": [
            {
                "key": "design",
                "start": "2026-10-01",
                "end": "2026-10-31",
                "milestone": "M1",
                "budget": {"architect": "40"},
            },
            {"key": "build", "start": "2026-11-01", "end": "2026-12-31", "budget": {"developer": "200"}},
        ],
        "settings": {"rounding_increment": "0.25"},
    }
    with site.client(F) as api:
        changed = api.put(f"/api/v1/projects/{project}/plan", json={"plan": plan, "reason": "kick-off"})
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert body["plan_version"] == 2 and [p["key"] for p in body["phases"]] == ["design", "build"]
        assert body["settings"]["rounding_increment"] == "0.25"
        bad = {"phases": [{**plan["phases"][0], "budget": {"juggler": "5"}}]}
        refused = api.put(f"/api/v1/projects/{project}/plan", json={"plan": bad, "reason": "typo"})
        assert refused.status_code == 422 and "juggler" in refused.json()["error"]["message"]
        assert api.get(f"/api/v1/projects/{project}").json()["plan_version"] == 2  # nothing half-written

        closed = api.post(f"/api/v1/projects/{project}/close-period", json={"through": "2026-10-31"})
        assert closed.status_code == 200 and closed.json()["closed_through"] == "2026-10-31"
        late = api.post("/api/v1/time-entries", json=[entry("c-1", project)]).json()
        assert late["refused"] == 1 and late["errors"][0]["field"] == "work_date"
        reopen = api.post(f"/api/v1/projects/{project}/close-period", json={"through": "2026-10-01"})
        assert reopen.status_code == 409


def _signed(body: bytes, at: float, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(at))
    return {
        "X-Handoff-Timestamp": stamp,
        "X-Handoff-Signature": sign(secret, stamp, body),
        "Content-Type": "application/json",
    }


def test_delivery_webhook_is_signed_and_idempotent(site: Site, project: str) -> None:
    site.app.state.delivery_webhook_secrets = {"harvest": SECRET}
    now = site.ctx.clock().timestamp()  # the window is checked against the app's clock
    signals: list[dict[str, Any]] = [
        {"type": "time_entry", **entry("w-1", project)},
        {"type": "time_entry", **entry("w-2", project, role="developer", hours="2")},
    ]
    body = json.dumps(signals).encode()
    with httpx.Client(base_url=site.url) as hook:
        url = "/api/v1/webhooks/delivery/harvest"
        assert hook.post(url, content=body, headers={"Content-Type": "application/json"}).status_code == 401
        assert (
            hook.post(url, content=body, headers=_signed(body, now, "another-secret-0123456789abcdef")).status_code
            == 401
        )
        stale = hook.post(url, content=body, headers=_signed(body, now - 600))
        assert stale.status_code == 401 and "window" in stale.json()["error"]["message"]
        tampered = hook.post(url, content=body.replace(b'"2"', b'"9"'), headers=_signed(body, now))
        assert tampered.status_code == 401
        closed = hook.post("/api/v1/webhooks/delivery/toggl", content=body, headers=_signed(body, now))
        assert closed.status_code == 404  # no secret configured for it: closed

        taken = hook.post(url, content=body, headers=_signed(body, now))
        assert taken.status_code == 200, taken.text
        assert taken.json()["time_entries"]["created"] == 2
        again = hook.post(url, content=body, headers=_signed(body, now)).json()
        assert (again["time_entries"]["created"], again["time_entries"]["unchanged"]) == (0, 2)

        one = json.dumps({"type": "time_entry", **entry("w-3", project, role="juggler")}).encode()
        bad = hook.post(url, content=one, headers=_signed(one, now))
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "role"
    with site.client(F) as api:
        stored = api.get(f"/api/v1/projects/{project}").json()["delivery"]["entries"]["time"]
    assert stored.get("submitted", 0) + stored.get("approved", 0) == 2  # w-3 was not stored


def test_a_batch_may_be_larger_than_other_requests(site: Site, project: str) -> None:
    """10,000 entries do not fit the app's usual 1 MB: the batch paths take up to 8 MB."""
    batch = [entry(f"big-{i}", project, notes="n" * 480) for i in range(2_200)]
    body = json.dumps(batch).encode()
    assert len(body) > 1_000_000
    headers = {"Content-Type": "application/json"}
    with site.client(F) as api:
        taken = api.post("/api/v1/time-entries", content=body, headers=headers)
        assert taken.status_code == 200, taken.text[:300]
        assert (taken.json()["created"], taken.json()["refused"]) == (2_200, 0)
        elsewhere = api.post(f"/api/v1/projects/{project}/approve", content=body, headers=headers)
        assert elsewhere.status_code == 413


def test_a_sales_user_lists_the_projects_they_own_or_manage(site: Site, project: str) -> None:
    ctx = site.ctx
    managed = open_services_project(ctx, "D-2", OTHER)  # another's contract, but SALES manages it
    owned = open_services_project(ctx, "D-3", SALES)  # SALES's contract, managed by another
    neither = open_services_project(ctx, "D-4", OTHER)
    set_plan(ctx, managed, {"manager_email": SALES}, FINANCE_EMAIL, "sales runs the delivery")
    set_plan(ctx, owned, {"manager_email": OTHER}, FINANCE_EMAIL, "handed over")
    with site.client(S) as api:
        items = api.get("/api/v1/projects").json()["items"]
        assert {p["project_id"]: (p["owner_email"], p["manager_email"]) for p in items} == {
            project: (SALES, SALES),
            managed: (OTHER, SALES),
            owned: (SALES, OTHER),
        }
        assert [p["project_id"] for p in api.get("/api/v1/projects", params={"limit": 2}).json()["items"]] == [
            project,
            managed,
        ]
        assert all(api.get(f"/api/v1/projects/{pid}").status_code == 200 for pid in (project, managed, owned))
        assert api.get(f"/api/v1/projects/{neither}").status_code == 403
    with site.client(F) as api:
        everything = api.get("/api/v1/projects").json()["items"]
    assert [(p["project_id"], p["owner_email"]) for p in everything] == [
        (project, SALES),
        (managed, OTHER),
        (owned, SALES),
        (neither, OTHER),
    ]
