"""The UI in a real headless Chromium (Debian's `chromium`, driven by Playwright): a sales user
fixes an exception and sees the deal turn ready; finance sees the new task; the dashboard renders
its charts (screenshots in test-artifacts/)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from handoff.users.service import Role
from tests.e2e.conftest import EMAILS, PASSWORDS, Site

CHROMIUM = os.environ.get("HANDOFF_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)),
    reason=f"chromium not installed at {CHROMIUM} (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def log_in(browser, site: Site, role: Role):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{site.url}/")
    assert "/login" in page.url  # not logged in: the login page
    page.fill("input[name=email]", EMAILS[role])
    page.fill("input[name=password]", PASSWORDS[role])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page


def test_sales_fixes_exception_finance_sees_task_dashboard(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    db = site.ctx.engine.dialect.name
    context, page = log_in(browser, site, Role.SALES)
    assert page.url.endswith("/exceptions")
    card = page.locator("#deal-D-2")
    expect(card).to_contain_text("po_number")
    expect(page.locator("#deal-D-3")).to_have_count(0)  # another owner's deal
    page.screenshot(path=str(ARTIFACTS / f"exceptions-{db}.png"), full_page=True)
    card.locator("input[name=po_number]").fill("PO-2026-77")
    card.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".flash-ok")).to_contain_text("D-2 is ready to bill")
    expect(page.locator("#deal-D-2")).to_have_count(0)
    expect(page.locator(".empty")).to_be_visible()
    page.goto(f"{site.url}/deals/D-2")
    expect(page.locator("h1 .badge")).to_have_text("ready · draft invoice")
    expect(page.locator("ol.timeline")).to_contain_text("by user:sales@acme.example")
    page.screenshot(path=str(ARTIFACTS / f"deal-{db}.png"), full_page=True)
    context.close()

    context, page = log_in(browser, site, Role.FINANCE)
    assert page.url.endswith("/tasks")
    task = page.locator("article.task[data-deal='D-2']")
    expect(task).to_contain_text("Blocked Sales AG")
    expect(task.locator("button", has_text="Issue invoice")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / f"tasks-{db}.png"), full_page=True)
    page.goto(f"{site.url}/dashboard")
    page.wait_for_load_state("networkidle")
    images = page.locator(".charts img")
    expect(images).to_have_count(6)
    for i in range(6):  # every chart was served and decoded
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    page.screenshot(
        path=str(ARTIFACTS / "dashboard.png" if db == "sqlite" else ARTIFACTS / f"dashboard-{db}.png"), full_page=True
    )
    page.goto(f"{site.url}/invoices")
    page.screenshot(path=str(ARTIFACTS / f"invoices-{db}.png"), full_page=True)
    context.close()


def test_finance_asks_for_a_credit_note_and_an_admin_approves_it(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    db = site.ctx.engine.dialect.name
    context, page = log_in(browser, site, Role.FINANCE)
    page.goto(f"{site.url}/invoices")
    page.click(f"text={site.issued_number}")
    credit = page.locator("#credit-notes")
    expect(credit).to_contain_text("None asked for.")
    credit.locator("input[name=reason]").fill("One licence returned")
    credit.locator("input[name=quantity_1]").fill("0.5")
    credit.locator("button", has_text="Request credit note").click()
    page.wait_for_load_state()
    expect(page.locator(".flash-ok")).to_contain_text("waits for another finance user or an admin")
    expect(credit).to_contain_text("waiting for approval")
    credit.screenshot(path=str(ARTIFACTS / f"invoice-credit-notes-{db}.png"))
    page.click("nav >> text=Approvals")
    card = page.locator("article.approval")
    expect(card).to_contain_text("One licence returned")
    expect(card).to_contain_text("someone else must approve it")
    expect(card.locator("button", has_text="Approve")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / f"approvals-own-{db}.png"), full_page=True)
    context.close()

    context, page = log_in(browser, site, Role.ADMIN)
    page.goto(f"{site.url}/approvals")
    card = page.locator("article.approval")
    card.locator("input[name=note]").first.fill("Return confirmed by support")
    card.locator("button", has_text="Approve").click()
    page.wait_for_load_state()
    expect(page.locator(".flash-ok")).to_contain_text(f"Credit note for {site.issued_number} approved")
    expect(page.locator("h1")).to_contain_text("Draft credit note")
    expect(page.locator("button", has_text="Issue and send credit note")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / f"credit-note-draft-{db}.png"), full_page=True)
    # approved by mistake after all: voided on its page, never to be issued
    page.fill("form.void input[name=reason]", "Customer kept the licence")
    page.click("form.void button")
    page.wait_for_load_state()
    expect(page.locator(".flash-ok")).to_contain_text("Credit-note draft voided")
    expect(page.locator("h1 .doc-void")).to_have_text("void")
    expect(page.locator("button", has_text="Issue and send")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / f"credit-note-void-{db}.png"))
    page.goto(f"{site.url}/approvals")
    expect(page.locator("table")).to_contain_text("Return confirmed by support")
    expect(page.locator("table")).to_contain_text("draft voided")
    page.screenshot(path=str(ARTIFACTS / f"approvals-decided-{db}.png"), full_page=True)
    context.close()
