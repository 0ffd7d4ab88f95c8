"""The project pages and the health API over HTTP, on SQLite and PostgreSQL: the list with its health
flags, the project page with its two charts (SVG) and every user text escaped (a hostile customer
name, phase name and entry note), the approve form (CSRF; finance, admins and the project's manager
only), and who may read the health JSON."""

from __future__ import annotations

import re

import httpx

from handoff.users.service import Role
from tests.e2e.conftest import EMAILS, SALES, Site, csrf_of, login
from tests.integration.projects.health_setup import NOTE, PID, build_project

F, S, A, D = Role.FINANCE, Role.SALES, Role.AUDITOR, Role.ADMIN
PAGE = f"/projects/{PID}"


def _flash(client: httpx.Client, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return client.get(response.headers["location"]).text


def test_the_project_page_charts_and_escaping(site: Site) -> None:
    build_project(site.ctx, approval_required=True)
    with login(site, F) as finance:
        listed = finance.get("/projects")
        assert listed.status_code == 200 and f'href="{PAGE}"' in listed.text
        assert 'class="badge flag-burn"' in listed.text and "<script>alert" not in listed.text
        assert 'href="/projects"' in listed.text.split("</nav>")[0]
        page = finance.get(PAGE)
        assert page.status_code == 200
        text = page.text
        assert f'src="{PAGE}/charts/plan-vs-actual.svg"' in text and f'src="{PAGE}/charts/burn.svg"' in text
        # user text escaped: the customer's name, the phase name, the entry's note
        assert "<script>" not in text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in text
        assert "<b>1</b>" not in text and "Discovery &lt;b&gt;1&lt;/b&gt;" in text
        assert NOTE not in text and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; fixed &lt;b&gt;it&lt;/b&gt;" in text
        assert "145.56%" in text and "11,970.00 EUR" not in text  # nothing approved: no unbilled work yet
        for name in ("plan-vs-actual", "burn"):
            chart = finance.get(f"{PAGE}/charts/{name}.svg")
            assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
            assert chart.text.lstrip().startswith("<?xml") and "<svg" in chart.text
        svg = finance.get(f"{PAGE}/charts/plan-vs-actual.svg").text
        assert "<b>" not in svg and "Discovery &lt;b&gt;1&lt;/b&gt;" in svg
        assert finance.get(f"{PAGE}/charts/nope.svg").status_code == 404
        assert finance.get("/projects/PRJ-NOPE").status_code == 404
        # the approve form: CSRF checked, ids checked, then the ticked entries approved
        ticks = re.findall(r'name="entry" value="(time:\d+)"', text)
        assert len(ticks) == 10
        csrf = csrf_of(text)
        url = f"{PAGE}/approve"
        assert finance.post(url, data={"entry": ticks[:2]}).status_code == 403  # no CSRF
        assert "names no time entry" in _flash(finance, finance.post(url, data={"csrf_token": csrf, "entry": "x:1"}))
        assert "tick the entries" in _flash(finance, finance.post(url, data={"csrf_token": csrf}))
        done = _flash(finance, finance.post(url, data={"csrf_token": csrf, "entry": ticks[:2]}))
        assert "2 entries approved" in done
        assert len(re.findall(r'name="entry" value="time:\d+"', done)) == 8
        assert "2,560.00 EUR" in done  # two approved architect days, 16 h x 160, now unbilled
    with login(site, A) as auditor:
        page = auditor.get(PAGE)
        assert page.status_code == 200 and 'name="entry"' not in page.text  # no approve form
        refused = auditor.post(f"{PAGE}/approve", data={"csrf_token": csrf_of(page.text), "entry": ticks[2]})
        assert refused.status_code == 403
    with login(site, S) as sales:  # neither owner nor manager
        assert sales.get(PAGE).status_code == 403
        assert sales.get(f"{PAGE}/charts/burn.svg").status_code == 403
        assert f'href="{PAGE}"' not in sales.get("/projects").text


def test_the_manager_approves_and_reads_the_health_api(site: Site) -> None:
    build_project(site.ctx, manager=SALES, approval_required=True)
    with login(site, S) as manager:
        assert f'href="{PAGE}"' in manager.get("/projects").text
        page = manager.get(PAGE).text
        tick = re.findall(r'name="entry" value="(time:\d+)"', page)[0]
        done = manager.post(f"{PAGE}/approve", data={"csrf_token": csrf_of(page), "entry": tick})
        assert "1 entry approved" in _flash(manager, done)
    url = f"/api/v1/projects/{PID}/health?on=2027-03-10"
    with site.client(F) as finance:
        body = finance.get(url).json()
    assert body["total"]["actual_hours"] == "77.00" and body["burn_percent_of_plan"] == "145.56"
    assert [p["key"] for p in body["phases"]] == ["discovery", "build"]
    assert body["phases"][1]["total"]["eac_hours"] == "124.00" and body["wip_amount"] == "1280.00"
    assert [a["kind"] for a in body["alerts"]] == ["burn", "wip_amount", "wip_age"]
    assert body["milestones"][0] == {
        "key": "M1",
        "name": "Blueprint accepted",
        "planned": "2027-02-28",
        "accepted": None,
    }
    with site.client(S) as sales:  # the manager
        assert sales.get(url).status_code == 200
    with site.client(A) as auditor:
        assert auditor.get(url).status_code == 200
        assert auditor.get("/api/v1/projects/PRJ-NOPE/health").status_code == 404
    with site.client() as anonymous:
        assert anonymous.get(url).status_code == 401
    assert EMAILS[S] == SALES


def test_sales_who_neither_own_nor_manage_get_403_from_the_api(site: Site) -> None:
    build_project(site.ctx)
    with site.client(S) as sales:
        refused = sales.get(f"/api/v1/projects/{PID}/health")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
