"""Sessions, login throttling and passwords over real HTTP: a cookie stops working once its session
ends (logout, password change, deactivation), repeated failures answer 429 with Retry-After and
lock the account until it cools down or an admin unlocks it, and weak passwords are refused."""

from __future__ import annotations

import httpx

from handoff.users.domain import ACCOUNT_RULE
from handoff.users.service import Role
from tests.e2e.conftest import EMAILS, PASSWORDS, Site, csrf_of, login


def _stolen(site: Site, browser: httpx.Client) -> httpx.Client:
    """Another client holding a copy of the browser's session cookie (an attacker's, say)."""
    copy = httpx.Client(base_url=site.url, timeout=30, follow_redirects=False)
    copy.cookies.set("handoff_session", browser.cookies["handoff_session"])
    return copy


def _try_login(site: Site, email: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=site.url, timeout=30, follow_redirects=False) as client:
        csrf = csrf_of(client.get("/login").text)
        return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf})


def test_a_cookie_kept_after_logout_no_longer_works(site: Site) -> None:
    with login(site, Role.FINANCE) as browser, _stolen(site, browser) as copy:
        assert copy.get("/api/v1/me").json()["email"] == EMAILS[Role.FINANCE]
        assert copy.get("/tasks").status_code == 200
        csrf = csrf_of(browser.get("/account").text)
        assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
        assert copy.get("/api/v1/me").status_code == 401
        assert copy.get("/tasks").headers["location"].startswith("/login")


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(site: Site) -> None:
    sales_id = site.user_ids[Role.SALES]
    with login(site, Role.SALES) as browser, site.client(Role.ADMIN) as admin:
        assert browser.get("/api/v1/me").status_code == 200
        assert admin.patch(f"/api/v1/users/{sales_id}", json={"active": False}).status_code == 200
        assert admin.patch(f"/api/v1/users/{sales_id}", json={"active": True}).status_code == 200
        assert browser.get("/api/v1/me").status_code == 401
        assert browser.get("/exceptions").headers["location"].startswith("/login")


def test_changing_the_password_ends_the_other_sessions(site: Site) -> None:
    with login(site, Role.AUDITOR) as here, login(site, Role.AUDITOR) as elsewhere:
        csrf = csrf_of(here.get("/account").text)
        weak = here.post(
            "/account/password",
            data={
                "current": PASSWORDS[Role.AUDITOR],
                "password": "password",
                "confirm": "password",
                "csrf_token": csrf,
            },
        )
        assert weak.status_code == 303 and "too easy to guess" in here.get("/account").text
        new = "ledger lines never lie"
        changed = here.post(
            "/account/password",
            data={"current": PASSWORDS[Role.AUDITOR], "password": new, "confirm": new, "csrf_token": csrf},
        )
        assert changed.status_code == 303
        assert here.get("/api/v1/me").status_code == 200  # this browser got a fresh session
        assert elsewhere.get("/api/v1/me").status_code == 401
    assert _try_login(site, EMAILS[Role.AUDITOR], PASSWORDS[Role.AUDITOR]).status_code == 401
    assert _try_login(site, EMAILS[Role.AUDITOR], "ledger lines never lie").status_code == 303


def test_repeated_failures_answer_429_lock_and_an_admin_unlocks(site: Site) -> None:
    email = EMAILS[Role.FINANCE]
    statuses = []
    for i in range(40):
        statuses.append(_try_login(site, email, f"wrong-guess-{i}").status_code)
    assert statuses[0] == 401 and statuses[-1] == 429
    refused = _try_login(site, email, PASSWORDS[Role.FINANCE])  # the right one, too late
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "try again" in refused.text.lower()
    # waiting out the delays (the test clock moves), the account locks after repeated failures
    for i in range(2 * ACCOUNT_RULE.lock_after):
        site.ctx.clock.advance(minutes=10)  # type: ignore[attr-defined]
        if "locked" in _try_login(site, email, f"more-wrong-{i}").text:
            break
    locked = _try_login(site, email, PASSWORDS[Role.FINANCE])
    assert locked.status_code == 429 and "locked" in locked.text
    finance_id = site.user_ids[Role.FINANCE]
    with login(site, Role.ADMIN) as admin:
        page = admin.get("/admin/users")
        assert "locked until" in page.text and f"/admin/users/{finance_id}/unlock" in page.text
        with site.client(Role.ADMIN) as api:
            listed = {u["email"]: u for u in api.get("/api/v1/users").json()}
            assert listed[email]["locked_until"] is not None
            trail = [e["action"] for e in api.get(f"/api/v1/audit/user/{email}").json()]
            assert "login.locked" in trail
        unlocked = admin.post(f"/admin/users/{finance_id}/unlock", data={"csrf_token": csrf_of(page.text)})
        assert unlocked.status_code == 303
        assert "locked until" not in admin.get("/admin/users").text
    assert _try_login(site, email, PASSWORDS[Role.FINANCE]).status_code == 303
    with site.client(Role.ADMIN) as api:
        assert "login.unlocked" in [e["action"] for e in api.get(f"/api/v1/audit/user/{email}").json()]


def test_weak_passwords_are_refused_for_new_users(site: Site) -> None:
    with site.client(Role.ADMIN) as api:
        for weak in ("password", "aaaaaaaa", "        "):
            refused = api.post("/api/v1/users", json={"email": "boss@acme.example", "role": "admin", "password": weak})
            assert refused.status_code == 422 and refused.json()["error"]["field"] == "password", refused.text
        assert "boss@acme.example" not in [u["email"] for u in api.get("/api/v1/users").json()]
    with login(site, Role.ADMIN) as admin:
        csrf = csrf_of(admin.get("/admin/users").text)
        form = {"email": "boss@acme.example", "role": "admin", "password": "aaaaaaaa", "csrf_token": csrf}
        admin.post("/admin/users", data=form)
        page = admin.get("/admin/users").text
        assert "too easy to guess" in page and "boss@acme.example" not in page.split("</form>", 1)[1]
