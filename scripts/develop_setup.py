"""Onboards the development Home Assistant and creates the demo site, through Home Assistant's HTTP APIs.

Called by scripts/develop; safe to run again (it skips what is done already).
"""

from __future__ import annotations

import argparse
from http import HTTPStatus
import json
import os
from pathlib import Path
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

USERNAME = "demo"
PASSWORD = "demo1234"  # noqa: S105 - a documented login of a local development instance
SITE = {
    "site_name": "Demo site",
    "mode": "demo",
    "battery": {
        "capacity_kwh": 10.0,
        "max_charge_kw": 5.0,
        "max_discharge_kw": 5.0,
        "charge_efficiency": 0.95,
        "discharge_efficiency": 0.95,
        "soc_min_pct": 10.0,
        "soc_max_pct": 90.0,
    },
    "grid": {"max_import_kw": 17.0, "max_export_kw": 10.0},
    "tariff": {
        "price_source": "demo",
        "vat_pct": 20.0,
        "grid_fee_ct_kwh": 10.0,
        "export_mode": "spot",
        "feed_in_ct_kwh": 8.0,
    },
}


class Api:
    """A minimal client of Home Assistant's HTTP API."""

    def __init__(self, url: str) -> None:
        """Talk to the instance at ``url``."""
        self.url = url
        self.client_id = f"{url}/"
        self.token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        form: dict[str, str] | None = None,
    ) -> Any:
        """Send a request; JSON in and out, or a form."""
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, headers=headers, method=method
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def login(self) -> None:
        """Log in as the demo user through the login flow."""
        flow = self.call(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
        )
        result = self.call(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": USERNAME, "password": PASSWORD},
        )
        self.exchange(result["result"])

    def exchange(self, code: str) -> None:
        """Trade an authorization code for an access token."""
        tokens = self.call(
            "POST",
            "/auth/token",
            form={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.client_id,
            },
        )
        self.token = tokens["access_token"]


def wait_until_up(api: Api, pid: int, log: Path) -> None:
    """Wait for the HTTP server; fail with the log's end if Home Assistant dies first."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(
                f"Home Assistant stopped during start-up:\n{log.read_text()[-3000:]}"
            )
        try:
            api.call("GET", "/manifest.json")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
        else:
            return
    sys.exit("Home Assistant did not answer within 10 minutes")


def onboard(api: Api) -> bool:
    """Create the demo user and finish onboarding, or log in when that is done already.

    Returns whether onboarding happened now.
    """
    try:
        steps = {
            step["step"]: step["done"] for step in api.call("GET", "/api/onboarding")
        }
    except urllib.error.HTTPError as err:
        # Home Assistant removes the onboarding API once onboarding is complete.
        if err.code != HTTPStatus.NOT_FOUND:
            raise
        steps = {
            "user": True,
            "core_config": True,
            "analytics": True,
            "integration": True,
        }
    fresh = not steps.get("integration")
    if steps.get("user"):
        api.login()
    else:
        created = api.call(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": api.client_id,
                "name": "Demo",
                "username": USERNAME,
                "password": PASSWORD,
                "language": "en",
            },
        )
        api.exchange(created["auth_code"])
    if not steps.get("core_config"):
        api.call("POST", "/api/onboarding/core_config", {})
    if not steps.get("analytics"):
        api.call("POST", "/api/onboarding/analytics", {})
    if not steps.get("integration"):
        api.call(
            "POST",
            "/api/onboarding/integration",
            {"client_id": api.client_id, "redirect_uri": f"{api.url}/?auth_callback=1"},
        )
    return fresh


# Onboarding adds these on its own; each needs the internet and only fills the log with errors offline.
ONLINE_ONLY = {"met", "radio_browser", "google_translate"}


def remove_online_only_entries(api: Api, wait_s: float) -> None:
    """Remove what onboarding set up that cannot work offline.

    Onboarding creates them in the background, some seconds after it answers: look for ``wait_s``.
    """
    deadline = time.monotonic() + wait_s
    while True:
        for entry in api.call("GET", "/api/config/config_entries/entry"):
            if entry["domain"] in ONLINE_ONLY:
                api.call(
                    "DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}"
                )
                print(f"develop: removed {entry['title']} (needs the internet)")
        if time.monotonic() >= deadline:
            return
        time.sleep(1)


def create_demo_site(api: Api) -> None:
    """Create the demo site through the config flow, unless one exists."""
    entries = api.call("GET", "/api/config/config_entries/entry?domain=phoenyra_ems")
    if any(entry["domain"] == "phoenyra_ems" for entry in entries):
        print("develop: the demo site exists already")
        return
    flow = api.call(
        "POST", "/api/config/config_entries/flow", {"handler": "phoenyra_ems"}
    )
    result = api.call(
        "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", SITE
    )
    if result.get("type") != "create_entry":
        sys.exit(f"creating the demo site failed: {result}")
    print(f"develop: created the demo site '{result['title']}'")


def main() -> None:
    """Onboard and create the demo site."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    api = Api(args.url)
    wait_until_up(api, args.pid, args.log)
    fresh = onboard(api)
    create_demo_site(api)
    remove_online_only_entries(api, wait_s=15 if fresh else 0)


if __name__ == "__main__":
    main()
