"""The contract page in a real headless Chromium (Debian's `chromium`, driven by Playwright): a
finance user opens a contract, sees its three-year ramp as three cells of the subscription's row
of the schedule timeline and accepts a milestone through the page's form; a line description
holding markup is shown as text, never run (screenshots in test-artifacts/)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from handoff.users.service import Role
from tests.e2e.conftest import Site
from tests.e2e.contract_builders import lock
from tests.e2e.test_browser import ARGS, ARTIFACTS, CHROMIUM, log_in

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)),
    reason=f"chromium not installed at {CHROMIUM} (apt-get install chromium)",
)
MARKUP = '<script>document.title="owned"</script><b>Platform</b> subscription'


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def test_finance_sees_the_ramp_and_accepts_a_milestone(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    db = site.ctx.engine.dialect.name
    lock(site.ctx, "C-9")
    context, page = log_in(browser, site, Role.FINANCE)
    page.click("nav >> text=Contracts")
    page.click("text=C-9")
    page.wait_for_load_state()
    expect(page.locator("h1")).to_contain_text("Contract C-9")
    ramp = page.locator("table.timeline tr[data-line='L1'] .slot")
    expect(ramp).to_have_count(3)
    expect(ramp.nth(0)).to_contain_text("10,000.00 EUR")
    expect(ramp.nth(0)).to_have_class("slot st-due")  # its year began on 1 Oct; the clock is at 1 Nov
    expect(ramp.nth(1)).to_contain_text("12,000.00 EUR")
    expect(ramp.nth(1)).to_have_class("slot st-planned")
    expect(ramp.nth(2)).to_contain_text("15,000.00 EUR")
    expect(page.locator("tr[data-line='L3'] .slot.st-awaiting")).to_have_count(2)
    page.screenshot(path=str(ARTIFACTS / f"contract-{db}.png"), full_page=True)

    row = page.locator("#milestone-M1")
    row.locator("input[name=accepted_on]").fill("2026-10-30")
    row.locator("input[name=reason]").fill("Design signed off by the customer")
    row.locator("button", has_text="Accept M1").click()
    page.wait_for_load_state()
    expect(page.locator(".flash-ok")).to_contain_text("Milestone M1 accepted on 2026-10-30")
    expect(page.locator("#milestone-M1")).to_contain_text("accepted 30 Oct 2026")
    expect(page.locator("#milestone-M1 form")).to_have_count(0)
    expect(page.locator("#milestone-M2 form")).to_have_count(1)  # still waiting for its acceptance
    expect(page.locator("tr[data-line='L3'] .slot[data-period='milestone:M1']")).to_have_class("slot st-due")
    page.screenshot(path=str(ARTIFACTS / f"contract-accepted-{db}.png"), full_page=True)
    context.close()


def test_a_line_description_with_markup_is_shown_as_text(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    lock(site.ctx, "C-10", subscription=MARKUP)
    context, page = log_in(browser, site, Role.FINANCE)
    page.goto(f"{site.url}/contracts/C-10")
    expect(page.locator("#lines")).to_contain_text(MARKUP)  # the text as typed, tags and all
    expect(page.locator("tr[data-line='L1'] th")).to_contain_text(MARKUP)
    assert page.locator("main script").count() == 0 and page.locator("main b").count() == 0
    assert page.title() != "owned"
    context.close()
