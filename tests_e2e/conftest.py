"""End-to-end fixtures: a real Chromium (Debian's) driven by Playwright against a running Home Assistant.

scripts/e2e starts Home Assistant (./scripts/develop --detach) and runs these tests; they are not part of the
unit-test suite (tests/), whose plugin blocks sockets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.sync_api import sync_playwright
import pytest

from .browser import ADMIN, CHROMIUM, SCREENSHOTS, login, new_page

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import Browser, Page, Playwright


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """Run Playwright (its driver only: the browser is Debian's)."""
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Launch headless Chromium once for all tests."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Return the folder the screenshots go to."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("failed-*.png"):
        old.unlink()
    return SCREENSHOTS


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    """Remember each phase's outcome on the test, for the fixtures' teardown."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def admin_page(
    browser: Browser, request: pytest.FixtureRequest, screenshots: Path
) -> Iterator[Page]:
    """Return a desktop page logged in as the administrator (demo); a failed test leaves a screenshot."""
    page = new_page(browser)
    # What the browser reported, shown when the test fails.
    log: list[str] = []
    page.on(
        "console", lambda message: log.append(f"console {message.type}: {message.text}")
    )
    page.on("pageerror", lambda error: log.append(f"page error: {error}"))
    page.on(
        "requestfailed",
        lambda req: log.append(f"request failed: {req.url} ({req.failure})"),
    )
    page.on(
        "response",
        lambda response: log.append(f"HTTP {response.status}: {response.url}")
        if response.status >= 400
        else None,
    )
    login(page, *ADMIN)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        page.screenshot(path=str(screenshots / f"failed-{request.node.name}.png"))
        print("\n".join(["browser log:", *log[-60:]]))  # noqa: T201 - the run's log
    page.context.close()
