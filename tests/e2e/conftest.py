"""Browser fixtures: the app served on a free local port, and Debian's Chromium driven by Playwright.

Never `playwright install`: the browser is the system's /usr/bin/chromium
(override with ECRF_CHROMIUM). Without it these tests are skipped, unless
ECRF_REQUIRE_REAL_PARTS=1 (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import REQUIRE_REAL_PARTS

CHROMIUM = os.environ.get("ECRF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if REQUIRE_REAL_PARTS:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def browser_as(browser, live_server):
    """Factory: a page in a browser context of its own, logged in as `email` (several users side by side)."""
    from tests.conftest import PASSWORD

    contexts = []

    def open_as(email: str):
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(live_server + "/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        return page

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture
def log_in(page, live_server):
    """Log the browser in through the log-in page."""
    from tests.conftest import PASSWORD

    def do(email: str) -> None:
        page.goto(live_server + "/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()

    return do
