"""The Phoenyra EMS panel and cards in a real Home Assistant and a real browser.

Run by scripts/e2e (which starts Home Assistant); each test logs in through the login form.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from .browser import BASE_URL, SITE, VIEWER, call_ws, login, new_page

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Browser, Page

PANEL = f"{BASE_URL}/phoenyra-ems"
TABS = ("live", "analytics", "forecasts", "settings")
DASHBOARD = "phoenyra-e2e"
# The panel element, for page.evaluate and wait_for_function.
PANEL_JS = (
    "document.querySelector('home-assistant').shadowRoot"
    ".querySelector('home-assistant-main').shadowRoot.querySelector('phoenyra-ems-panel')"
)
# The synthetic weather entity of scripts/develop's configuration.
WEATHER = "weather.demo_sky"


def open_tab(page: Page, tab: str) -> None:
    """Open a tab by clicking it (the panel is loaded already) and wait until it shows."""
    page.locator(f"phoenyra-ems-panel [data-tab={tab}]").click()
    page.wait_for_url(f"**/phoenyra-ems/{tab}")
    page.locator(f"phoenyra-ems-panel [data-tab={tab}][aria-selected=true]").wait_for()


def chart_points(page: Page, name: str, timeout: float = 20_000) -> int:
    """Wait until the named chart shows data; return its number of data points."""
    chart = page.locator(f"phoenyra-ems-chart[data-chart={name}]")
    chart.wait_for(timeout=timeout)
    page.wait_for_function(
        "(name) => { const charts = [];"
        " const walk = (root) => { for (const el of root.querySelectorAll('*')) {"
        "   if (el.localName === 'phoenyra-ems-chart' && el.dataset.chart === name) charts.push(el);"
        "   if (el.shadowRoot) walk(el.shadowRoot); } };"
        " walk(document);"
        " return charts.some((c) => Number(c.dataset.points) > 0); }",
        arg=name,
        timeout=timeout,
    )
    points = int(chart.first.get_attribute("data-points") or 0)
    # A canvas that was drawn on is not blank: some pixel is not transparent.
    drawn = chart.first.evaluate(
        "(el) => { const c = el.shadowRoot.querySelector('canvas');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true; return false; }"
    )
    assert drawn, f"chart {name} is blank"
    return points


def kpi_text(page: Page, key: str) -> str:
    """Return the text of a KPI tile of the panel."""
    return page.locator(f"phoenyra-ems-panel [data-kpi={key}]").inner_text().strip()


def wait_live(page: Page) -> None:
    """Wait until the live state and both plan charts are there."""
    page.wait_for_function(
        "() => { const p = document.querySelector('home-assistant')?.shadowRoot"
        "?.querySelector('home-assistant-main')?.shadowRoot?.querySelector('phoenyra-ems-panel');"
        " return Boolean(p && p._feed && p._feed.state && p._feed.plan && p._feed.forecast); }",
        timeout=30_000,
    )
    page.locator("phoenyra-ems-panel [data-kpi=soc]").wait_for()
    assert kpi_text(page, "soc") != "–"


def series_labels(page: Page, kind: str) -> list[str]:
    """Return the legend labels of the Forecasts tab's load or PV chart."""
    return page.evaluate(
        f"(kind) => {PANEL_JS}.shadowRoot.querySelector('phoenyra-ems-forecasts').shadowRoot"
        ".querySelector(`[data-chart=forecast_${kind}]`).config.data.datasets.map((d) => d.label)",
        kind,
    )


def follow_restart(page: Page, resubscribed: int) -> None:
    """Wait until the site's subscription ended with its restart and the panel followed it again.

    Then new states arrive again (each newer than the last one before).
    """
    page.wait_for_function(
        f"(count) => {PANEL_JS}._feed.resubscriptions > count",
        arg=resubscribed,
        timeout=30_000,
    )
    time_before = page.locator("phoenyra-ems-panel phoenyra-ems-kpis").get_attribute(
        "data-state-time"
    )
    page.wait_for_function(
        f"(before) => {{ const feed = {PANEL_JS}._feed;"
        " return !feed.restarting && !feed.error && feed.state && feed.state.time !== before"
        " && Date.now() - Date.parse(feed.state.time) < 20000; }",
        arg=time_before,
        timeout=30_000,
    )


def shoot(page: Page, screenshots: Path, name: str) -> None:
    """Save a screenshot of the whole page."""
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def test_live_values_follow_the_coordinator(
    admin_page: Page, screenshots: Path
) -> None:
    """The Live tab shows the state and the plan and follows every control tick within a second."""
    page = admin_page
    page.goto(f"{PANEL}/live")
    wait_live(page)
    assert (
        chart_points(page, "plan") > 100
    )  # battery, PV and load over a day and more of 15-minute slots
    assert chart_points(page, "price") > 100
    for key in ("soc", "battery", "strategy", "profit"):
        assert kpi_text(page, key) not in ("", "–"), key
    for key in ("grid", "pv", "load", "price"):
        assert (
            page.locator(f"phoenyra-ems-panel [data-status={key}]").inner_text().strip()
        )

    # Record when each new state reaches the page, and compare with the state's own time (the same clock).
    page.evaluate(
        "() => { window.__ticks = []; const kpis = document.querySelector('home-assistant').shadowRoot"
        ".querySelector('home-assistant-main').shadowRoot.querySelector('phoenyra-ems-panel')"
        ".shadowRoot.querySelector('phoenyra-ems-kpis');"
        " new MutationObserver(() => { const time = kpis.getAttribute('data-state-time');"
        "  const last = window.__ticks[window.__ticks.length - 1];"
        "  if (last && last.time === time) return;"
        "  window.__ticks.push({ at: Date.now(), time,"
        "   soc: kpis.shadowRoot.querySelector('[data-kpi=soc]').textContent,"
        "   battery: kpis.shadowRoot.querySelector('[data-kpi=battery]').textContent }); })"
        ".observe(kpis, { attributes: true, attributeFilter: ['data-state-time'] }); }"
    )
    before = (kpi_text(page, "soc"), kpi_text(page, "battery"))
    deadline = time.monotonic() + 20
    ticks: list[dict] = []
    while time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        ticks = page.evaluate("() => window.__ticks")
        if len(ticks) >= 2:
            break
    assert len(ticks) >= 2, "no live update within 20 s"
    assert len({tick["time"] for tick in ticks}) == len(ticks), (
        "each update is a new state"
    )
    delays = [
        tick["at"] - page.evaluate("(t) => Date.parse(t)", tick["time"])
        for tick in ticks
    ]
    assert all(delay < 1000 for delay in delays), f"updates arrived late: {delays} ms"
    after = (ticks[-1]["soc"], ticks[-1]["battery"])
    print(f"live: {before} -> {after}, delays {delays} ms")  # noqa: T201 - the run's log

    shoot(page, screenshots, "desktop-light-live")

    # Leaving the panel ends the subscription.
    page.evaluate(
        "() => { window.__panel = document.querySelector('home-assistant').shadowRoot"
        ".querySelector('home-assistant-main').shadowRoot.querySelector('phoenyra-ems-panel'); }"
    )
    assert page.evaluate("() => Boolean(window.__panel._feed._unsub)")
    page.evaluate(
        "() => { history.pushState(null, '', '/history');"
        " window.dispatchEvent(new CustomEvent('location-changed')); }"
    )
    page.wait_for_function(
        "() => !window.__panel.isConnected && !window.__panel._feed._unsub"
    )


def test_tabs_show_their_data(admin_page: Page, screenshots: Path) -> None:
    """Analytics, Forecasts and Settings show their figures; every tab looks right light and dark, wide and narrow."""
    page = admin_page
    page.goto(f"{PANEL}/live")
    wait_live(page)

    open_tab(page, "analytics")
    page.locator("phoenyra-ems-panel [data-kpi=total_profit]").wait_for(timeout=20_000)
    for key in ("total_profit", "avg_profit", "cycles", "avg_soc"):
        assert kpi_text(page, key), key
    assert chart_points(page, "daily_profit") >= 1
    assert chart_points(page, "strategies") >= 1
    rows = page.locator("phoenyra-ems-panel table[data-table=runs] tbody tr")
    rows.first.wait_for()
    assert 1 <= rows.count() <= 15
    page.locator("phoenyra-ems-panel select[data-control=days]").select_option("7")
    page.wait_for_function(
        "() => { const a = document.querySelector('home-assistant').shadowRoot"
        ".querySelector('home-assistant-main').shadowRoot.querySelector('phoenyra-ems-panel')"
        ".shadowRoot.querySelector('phoenyra-ems-analytics');"
        " return a && a._data && a._data.first_day && a._days === 7; }"
    )

    open_tab(page, "forecasts")
    assert chart_points(page, "forecast_prices") > 100
    assert chart_points(page, "forecast_load") > 50
    assert chart_points(page, "forecast_pv") > 50
    # Every forecast comes labelled; the plan's own says so.
    assert any("used by the plan" in label for label in series_labels(page, "load"))
    assert "Cautious load (peak shaving plans on it)" in series_labels(page, "load")
    assert any("used by the plan" in label for label in series_labels(page, "pv"))
    assert "Sunniest recent day (the plan weighs it)" in series_labels(page, "pv")
    assert "Dullest recent day (the plan weighs it)" in series_labels(page, "pv")

    open_tab(page, "settings")
    settings = page.locator("phoenyra-ems-panel phoenyra-ems-settings")
    settings.wait_for()
    page.wait_for_function(
        "() => { const s = document.querySelector('home-assistant').shadowRoot"
        ".querySelector('home-assistant-main').shadowRoot.querySelector('phoenyra-ems-panel')"
        ".shadowRoot.querySelector('phoenyra-ems-settings');"
        " return s && (s._settings || s._error); }",
        timeout=20_000,
    )
    if page.locator("phoenyra-ems-panel phoenyra-ems-settings .error").count():
        pytest.skip(
            "no settings command yet: " + settings.locator(".error").inner_text()
        )
    assert page.locator("phoenyra-ems-panel [data-editable=true]").count() == 1
    fields = page.locator("phoenyra-ems-panel phoenyra-ems-settings [data-field]")
    assert fields.count() >= 5
    assert all(fields.nth(k).is_enabled() for k in range(fields.count()))
    # Labels are translated (not the option keys).
    text = settings.locator(".wrap").inner_text()
    assert "Optimization interval" in text
    assert "Safe fallback" in text
    assert "Translation error" not in text
    # The demo site's battery is simulated: no device to show or change.
    settings.locator("[data-device=demo] [data-note=simulated]").wait_for()
    assert settings.locator("[data-action=change-device]").count() == 0
    page.locator("phoenyra-ems-panel [data-action=save]").wait_for()

    # An invalid MQTT topic is refused with the options flow's translated message.
    topic = page.locator("phoenyra-ems-panel [data-field=mqtt_base_topic]")
    topic.fill("bad/#/topic")
    topic.dispatch_event("change")
    page.locator("phoenyra-ems-panel [data-action=save]").click()
    error = page.locator("phoenyra-ems-panel [data-error=mqtt_base_topic]")
    error.wait_for(timeout=20_000)
    assert error.inner_text().strip() == "This is not a valid MQTT topic."
    topic.fill("")
    topic.dispatch_event("change")

    # Changes are saved (a weather entity for the PV forecast to compare with); the site restarts
    # with them and the Live tab follows the restarted site by itself.
    control = page.locator("phoenyra-ems-panel [data-field=control_interval_seconds]")
    original = control.input_value()
    control.fill(str(int(float(original)) + 1))
    control.dispatch_event("change")
    weather = page.locator("phoenyra-ems-panel [data-field=weather_entity]")
    weather.fill(WEATHER)
    weather.dispatch_event("change")
    resubscribed = page.evaluate(f"() => {PANEL_JS}._feed.resubscriptions")
    page.locator("phoenyra-ems-panel [data-action=save]").click()
    page.locator("phoenyra-ems-panel [data-note=saved]").wait_for(timeout=20_000)
    open_tab(page, "live")
    follow_restart(page, resubscribed)

    # The Forecasts tab compares the weather-based PV forecast with the plan's (the recent days').
    open_tab(page, "forecasts")
    page.wait_for_function(
        f"() => Number({PANEL_JS}.shadowRoot.querySelector('phoenyra-ems-forecasts')"
        ".shadowRoot.querySelector('[data-chart=forecast_pv]').closest('[data-series]')"
        ".dataset.series) >= 2",
        timeout=30_000,
    )
    labels = series_labels(page, "pv")
    assert "Weather-based (weather.demo_sky)" in labels, labels
    assert "Recent days (demo replay) · used by the plan" in labels, labels
    assert chart_points(page, "forecast_pv") > 100

    # Every tab, desktop and phone, light and dark.
    for phone in (False, True):
        page.set_viewport_size(
            {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
        )
        for dark in (False, True):
            page.emulate_media(color_scheme="dark" if dark else "light")
            for tab in TABS:
                open_tab(page, tab)
                if tab in ("live", "forecasts"):
                    chart_points(page, "plan" if tab == "live" else "forecast_prices")
                name = f"{'phone' if phone else 'desktop'}-{'dark' if dark else 'light'}-{tab}"
                shoot(page, screenshots, name)

    # The settings as they were (without the weather entity).
    page.set_viewport_size({"width": 1280, "height": 900})
    page.emulate_media(color_scheme="light")
    open_tab(page, "settings")
    control.fill(original)
    control.dispatch_event("change")
    weather.fill("")
    weather.dispatch_event("change")
    resubscribed = page.evaluate(f"() => {PANEL_JS}._feed.resubscriptions")
    page.locator("phoenyra-ems-panel [data-action=save]").click()
    page.locator("phoenyra-ems-panel [data-note=saved]").wait_for(timeout=20_000)
    open_tab(page, "live")
    follow_restart(page, resubscribed)


def ensure_viewer(page: Page) -> None:
    """Create the non-admin user (once) through Home Assistant's websocket API, as the admin."""
    users = call_ws(page, {"type": "config/auth/list"})
    if any(user.get("username") == VIEWER[0] for user in users):  # type: ignore[union-attr]
        return
    user = call_ws(
        page,
        {
            "type": "config/auth/create",
            "name": "E2E viewer",
            "group_ids": ["system-users"],
            "local_only": False,
        },
    )
    call_ws(
        page,
        {
            "type": "config/auth_provider/homeassistant/create",
            "user_id": user["user"]["id"],  # type: ignore[index]
            "username": VIEWER[0],
            "password": VIEWER[1],
        },
    )


def test_non_admin_sees_settings_read_only(
    browser: Browser, admin_page: Page, screenshots: Path
) -> None:
    """A user who is not an administrator sees the panel, and the settings without a way to change them."""
    ensure_viewer(admin_page)
    page = new_page(browser, phone=True)
    try:
        login(page, *VIEWER)
        assert (
            page.evaluate(
                "() => document.querySelector('home-assistant').hass.user.is_admin"
            )
            is False
        )
        page.goto(f"{PANEL}/live")
        wait_live(page)
        assert page.locator("phoenyra-ems-panel [data-action=optimize]").count() == 0
        # This user reads German, with decimal commas.
        page.evaluate(
            "() => document.querySelector('home-assistant').hass.callWS({type: 'frontend/set_user_data',"
            " key: 'language', value: {language: 'de', number_format: 'language'}})"
        )
        page.reload()
        wait_live(page)
        page.locator(
            "phoenyra-ems-panel [data-tab=settings]", has_text="Einstellungen"
        ).wait_for()
        assert (
            "Ladezustand"
            in page.locator("phoenyra-ems-panel phoenyra-ems-kpis .kpis").inner_text()
        )
        assert "," in kpi_text(page, "soc")
        assert "." not in kpi_text(page, "soc")
        shoot(page, screenshots, "phone-light-live-german")
        open_tab(page, "settings")
        page.wait_for_function(
            "() => { const s = document.querySelector('home-assistant').shadowRoot"
            ".querySelector('home-assistant-main').shadowRoot.querySelector('phoenyra-ems-panel')"
            ".shadowRoot.querySelector('phoenyra-ems-settings');"
            " return s && (s._settings || s._error); }",
            timeout=20_000,
        )
        settings = page.locator("phoenyra-ems-panel phoenyra-ems-settings")
        if page.locator("phoenyra-ems-panel phoenyra-ems-settings .error").count():
            pytest.skip(
                "no settings command yet: " + settings.locator(".error").inner_text()
            )
        assert page.locator("phoenyra-ems-panel [data-editable=false]").count() == 1
        page.locator("phoenyra-ems-panel [data-note=readonly]").wait_for()
        # The device is shown to everyone, changed by nobody here.
        page.locator("phoenyra-ems-panel [data-device=demo]").wait_for()
        assert (
            page.locator("phoenyra-ems-panel [data-action=change-device]").count() == 0
        )
        fields = page.locator("phoenyra-ems-panel phoenyra-ems-settings [data-field]")
        assert fields.count() >= 5
        assert not any(fields.nth(k).is_enabled() for k in range(fields.count()))
        assert page.locator("phoenyra-ems-panel [data-action=save]").count() == 0
        page.locator(
            "phoenyra-ems-panel phoenyra-ems-settings label",
            has_text="Optimierungsintervall",
        ).wait_for()
        shoot(page, screenshots, "phone-light-settings-non-admin-german")
        # The backend refuses a change from this user all the same.
        entry_id = page.locator("phoenyra-ems-panel .content").get_attribute(
            "data-site"
        )
        refused = page.evaluate(
            "(id) => document.querySelector('home-assistant').hass.callWS("
            "{type: 'phoenyra_ems/settings/update', entry_id: id, options: {}})"
            ".then(() => 'accepted', (err) => err.code)",
            entry_id,
        )
        assert refused == "unauthorized"
    finally:
        page.context.close()


def test_cards_on_a_dashboard(admin_page: Page, screenshots: Path) -> None:
    """Both cards are offered in the card picker and work on a dashboard of their own."""
    page = admin_page
    # The cards come in the integration's module, which the frontend imports beside its own app: right
    # after the login it may not have run yet.
    page.wait_for_function(
        "() => ['phoenyra-ems-plan-card', 'phoenyra-ems-kpi-card']"
        ".every((tag) => customElements.get(tag))",
        timeout=30_000,
    )
    registered = page.evaluate("() => (window.customCards || []).map((c) => c.type)")
    assert {"phoenyra-ems-plan-card", "phoenyra-ems-kpi-card"} <= set(registered)
    sites = call_ws(page, {"type": "phoenyra_ems/sites"})
    entry_id = sites[0]["entry_id"]
    # The editor offers the sites (and "first site"), and tells the dashboard what was chosen.
    chosen = page.evaluate(
        "async (id) => { const card = customElements.get('phoenyra-ems-plan-card');"
        " const editor = card.getConfigElement(); editor.hass = document.querySelector('home-assistant').hass;"
        " editor.setConfig({ type: 'custom:phoenyra-ems-plan-card', ...card.getStubConfig() });"
        " document.body.appendChild(editor);"
        " for (let i = 0; i < 300 && !(editor.shadowRoot?.querySelectorAll('option').length >= 2); i++)"
        "   await new Promise((r) => setTimeout(r, 100));"
        " const select = editor.shadowRoot.querySelector('select');"
        " if (!select || select.options.length < 2) { editor.remove(); return 'the editor listed no sites'; }"
        " const changed = new Promise((r) => editor.addEventListener('config-changed', (e) => r(e.detail.config)));"
        " select.value = id; select.dispatchEvent(new Event('change'));"
        " const config = await changed; editor.remove(); return config; }",
        entry_id,
    )
    assert chosen == {"type": "custom:phoenyra-ems-plan-card", "entry_id": entry_id}  # type: ignore[index]
    dashboards = call_ws(page, {"type": "lovelace/dashboards/list"})
    created = None
    if not any(d["url_path"] == DASHBOARD for d in dashboards):  # type: ignore[union-attr]
        created = call_ws(
            page,
            {
                "type": "lovelace/dashboards/create",
                "url_path": DASHBOARD,
                "title": "EMS e2e",
                "mode": "storage",
                "show_in_sidebar": False,
                "require_admin": False,
            },
        )
    try:
        # The dashboard is a panel of its own: the frontend sends a page of an unknown panel to the
        # default dashboard, so the panel must be registered before the page is opened.
        deadline = time.monotonic() + 20
        while DASHBOARD not in call_ws(page, {"type": "get_panels"}):  # type: ignore[operator]
            assert time.monotonic() < deadline, (
                "the dashboard's panel was not registered"
            )
            page.wait_for_timeout(200)
        call_ws(
            page,
            {
                "type": "lovelace/config/save",
                "url_path": DASHBOARD,
                "config": {
                    "views": [
                        {
                            "title": "EMS",
                            "cards": [
                                {
                                    "type": "custom:phoenyra-ems-kpi-card",
                                    "entry_id": entry_id,
                                },
                                {"type": "custom:phoenyra-ems-plan-card"},
                            ],
                        }
                    ]
                },
            },
        )
        page.goto(f"{BASE_URL}/{DASHBOARD}/0")
        page.wait_for_function(
            "(path) => document.querySelector('home-assistant')?.hass?.panels?.[path]"
            " && location.pathname.startsWith(`/${path}`)",
            arg=DASHBOARD,
            timeout=30_000,
        )
        page.locator("phoenyra-ems-kpi-card [data-kpi=soc]").wait_for(timeout=30_000)
        page.wait_for_function(
            "() => { const find = (root) => { for (const el of root.querySelectorAll('*')) {"
            "  if (el.localName === 'phoenyra-ems-kpi-card') return el;"
            "  if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; } } };"
            " const card = find(document); return card && card._feed.state; }",
            timeout=30_000,
        )
        assert (
            page.locator("phoenyra-ems-kpi-card [data-kpi=soc]").inner_text().strip()
            != "–"
        )
        assert chart_points(page, "plan") > 100
        assert chart_points(page, "price") > 100
        shoot(page, screenshots, "desktop-light-cards")
        page.set_viewport_size({"width": 390, "height": 844})
        page.emulate_media(color_scheme="dark")
        page.wait_for_timeout(500)
        shoot(page, screenshots, "phone-dark-cards")
    except Exception:
        # What the page showed before the dashboard is removed (which sends it to the default one).
        shoot(page, screenshots, "failed-cards-before-cleanup")
        state = page.evaluate(
            "() => ({ defined: Boolean(customElements.get('phoenyra-ems-kpi-card')),"
            " imports: [...document.scripts].map((s) => s.textContent).filter((t) => t.includes('phoenyra')),"
            " loaded: performance.getEntriesByType('resource').filter((e) => e.name.includes('phoenyra'))"
            ".map((e) => `${e.name} ${Math.round(e.startTime)}-${Math.round(e.responseEnd)} ms`),"
            " navigations: performance.getEntriesByType('navigation').map((e) => e.type),"
            " since: Math.round(performance.now()) })"
        )
        print(f"cards: failed at {page.url}: {state}")  # noqa: T201 - the run's log
        raise
    finally:
        if created is not None:
            call_ws(
                page,
                {"type": "lovelace/dashboards/delete", "dashboard_id": created["id"]},
            )  # type: ignore[index]


def demo_sensors(page: Page) -> dict[str, str]:
    """Return the demo site's measured sensors by signal (what a live site can read as a device)."""
    entities = call_ws(page, {"type": "config/entity_registry/list"})
    found = {}
    for entity in entities:  # type: ignore[union-attr]
        if entity["platform"] != "phoenyra_ems" or not entity["entity_id"].startswith(
            "sensor."
        ):
            continue
        for signal in ("state_of_charge", "battery_power", "grid_power", "pv_power"):
            if entity["unique_id"] == f"demo_site_{signal}":
                found[signal] = entity["entity_id"]
    assert len(found) == 4, found
    return found


def create_live_site(page: Page) -> str:
    """Create a live site through the config flow: an advisory one that reads the demo site's sensors."""
    sensors = demo_sensors(page)
    steps = [
        {**SITE, "site_name": "E2E live site", "mode": "live"},
        {
            "transport": "entities",
            "setpoint_target": "none",
            "invert_setpoint": False,
            "write_deadband_kw": 0.05,
            "write_min_interval_seconds": 10,
        },
        {
            "soc_entity": sensors["state_of_charge"],
            "battery_power_entity": sensors["battery_power"],
            "grid_power_entity": sensors["grid_power"],
            "pv_power_entity": sensors["pv_power"],
            "invert_battery_power": False,
            "invert_grid_power": False,
        },
        {},  # the connection test's result: save
    ]
    flow = page.evaluate(
        "() => document.querySelector('home-assistant').hass.callApi("
        "'POST', 'config/config_entries/flow', {handler: 'phoenyra_ems'})"
    )
    result = flow
    for data in steps:
        assert result["type"] == "form", result
        result = page.evaluate(
            "([id, data]) => document.querySelector('home-assistant').hass.callApi("
            "'POST', `config/config_entries/flow/${id}`, data)",
            [flow["flow_id"], data],
        )
    assert result["type"] == "create_entry", result
    return result["result"]["entry_id"]


def test_cards_work_when_the_module_runs_before_the_app(
    admin_page: Page,
) -> None:
    """The cards' module may run before Home Assistant's app (e.g. from the browser's cache).

    The app then replaces window.customElements (a scoped-registry polyfill); elements defined before
    stayed invisible to it ("Custom element doesn't exist" until a reload: the once failing dashboard
    step on a fresh instance). Here the app is held back on purpose until the module has run.
    """
    page = admin_page
    app = page.evaluate(
        "() => [...document.scripts].map((s) => s.textContent)"
        '.join(\' \').match(/import\\("(\\/frontend_latest\\/app\\.[^"]+)"\\)/)[1]'
    )
    # The app's module, replaced by one that waits 1.5 s and then imports the real one.
    page.route(
        f"{BASE_URL}{app}",
        lambda route: route.fulfill(
            content_type="text/javascript",
            body="await new Promise((r) => setTimeout(r, 1500));"
            f' await import("{app}?late");',
        ),
    )
    page.reload()
    page.wait_for_function(
        "() => document.querySelector('home-assistant')?.hass?.connected",
        timeout=30_000,
    )
    page.wait_for_function(
        "() => ['phoenyra-ems-plan-card', 'phoenyra-ems-kpi-card', 'phoenyra-ems-panel']"
        ".every((tag) => customElements.get(tag))",
        timeout=30_000,
    )


def test_site_picker(admin_page: Page, screenshots: Path) -> None:
    """With two sites the panel offers a picker; the Live tab follows the chosen site.

    The second site is a live one (reading the demo site's sensors): Settings show its device.
    """
    page = admin_page
    sites = call_ws(page, {"type": "phoenyra_ems/sites"})
    added = None
    if len(sites) < 2:  # type: ignore[arg-type]
        added = create_live_site(page)
    try:
        page.goto(f"{PANEL}/live")
        wait_live(page)
        picker = page.locator("phoenyra-ems-panel select[data-control=site]")
        assert picker.locator("option").count() >= 2
        content = page.locator("phoenyra-ems-panel .content")
        first = content.get_attribute("data-site")
        other = next(
            value
            for value in picker.locator("option").evaluate_all(
                "(os) => os.map((o) => o.value)"
            )
            if value != first
        )
        picker.select_option(other)
        page.wait_for_function(
            "(id) => { const p = document.querySelector('home-assistant').shadowRoot"
            ".querySelector('home-assistant-main').shadowRoot.querySelector('phoenyra-ems-panel');"
            " return p._entryId === id && p._feed.state && p._feed.plan; }",
            arg=other,
            timeout=30_000,
        )
        assert content.get_attribute("data-site") == other
        assert chart_points(page, "plan") > 100
        shoot(page, screenshots, "desktop-light-live-second-site")
        if added is None:
            return

        # The live site's device: what the setup chose, with the flow's labels.
        open_tab(page, "settings")
        device = page.locator(
            "phoenyra-ems-panel phoenyra-ems-settings [data-device=live]"
        )
        device.wait_for(timeout=20_000)
        soc = device.locator("[data-device-field=soc_entity]")
        assert soc.inner_text().strip() == demo_sensors(page)["state_of_charge"]
        assert "Measurements from" in device.inner_text()
        shoot(page, screenshots, "desktop-light-settings-live-device")
        # Changing it is Home Assistant's own flow: the button opens the site's integration page.
        device.locator("[data-action=change-device]").click()
        page.wait_for_url(
            "**/config/integrations/integration/phoenyra_ems?config_entry=*"
        )
        assert other in page.url
        page.wait_for_function(
            "(id) => { const find = (root) => { for (const el of root.querySelectorAll('*')) {"
            "  if (el.dataset?.entryId === id) return el;"
            "  if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; } } };"
            " return Boolean(find(document)); }",
            arg=other,
            timeout=20_000,
        )
        shoot(page, screenshots, "desktop-light-integration-page")
    finally:
        if added is not None:
            page.evaluate(
                "(id) => document.querySelector('home-assistant').hass.callApi("
                "'DELETE', `config/config_entries/entry/${id}`)",
                added,
            )
