"""Helpers of the end-to-end tests: where Home Assistant and the browser are, logging in, websocket calls.

Environment:
    PHOENYRA_E2E_URL          Home Assistant's address (http://localhost:8123)
    PHOENYRA_E2E_SCREENSHOTS  where screenshots go (phoenyra-ems-e2e in the temporary directory)
    PHOENYRA_E2E_CHROMIUM     the browser (/usr/bin/chromium)
"""

from __future__ import annotations

import os
from pathlib import Path
import sys
import tempfile
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# The demo site of scripts/develop: a second site is made of the same settings.
sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
from develop_setup import SITE

BASE_URL = os.environ.get("PHOENYRA_E2E_URL", "http://localhost:8123").rstrip("/")
SCREENSHOTS = Path(
    os.environ.get(
        "PHOENYRA_E2E_SCREENSHOTS", Path(tempfile.gettempdir()) / "phoenyra-ems-e2e"
    )
)
CHROMIUM = os.environ.get("PHOENYRA_E2E_CHROMIUM", "/usr/bin/chromium")
ADMIN = ("demo", "demo1234")
VIEWER = (
    "e2e-viewer",
    "viewer-e2e-1234",
)  # a throwaway non-admin user the tests create
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

__all__ = ["SITE"]


def login(page: Page, username: str, password: str) -> None:
    """Log in through Home Assistant's login form."""
    page.goto(f"{BASE_URL}/", wait_until="domcontentloaded")
    page.wait_for_url("**/auth/authorize**", timeout=30_000)
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_function(
        "() => !location.pathname.startsWith('/auth') && "
        "document.querySelector('home-assistant')?.hass?.connected && "
        "Boolean(document.querySelector('home-assistant').hass.user)",
        timeout=30_000,
    )


def new_page(browser: Browser, *, dark: bool = False, phone: bool = False) -> Page:
    """Open a page in a fresh browser context (no cache, no stored login), in Home Assistant's time zone."""
    context = browser.new_context(
        viewport=PHONE if phone else DESKTOP,
        color_scheme="dark" if dark else "light",
        locale="en-US",
        timezone_id="Europe/Vienna",
        # Home Assistant's service worker reloads a fresh page once it takes over: not wanted mid-test.
        service_workers="block",
    )
    return context.new_page()


def call_ws(page: Page, message: dict[str, Any]) -> Any:
    """Send a websocket command as the page's logged-in user."""
    return page.evaluate(
        "(msg) => document.querySelector('home-assistant').hass.callWS(msg)", message
    )
