"""Load and PV forecasts in a running site: demo replay, recorder history, Prophet, solar forecast
integrations and weather entities (Home Assistant's own machinery with test integrations)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from unittest.mock import Mock

from homeassistant.components.weather import (
    Forecast,
    WeatherEntity,
    WeatherEntityFeature,
)
from homeassistant.const import UnitOfTemperature
from homeassistant.setup import async_setup_component
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    mock_integration,
    mock_platform,
    setup_test_component_platform,
)

from custom_components.phoenyra_ems.const import (
    CONF_LOAD_FORECASTER,
    CONF_PV_FORECAST,
    CONF_PV_KWP,
    CONF_SOLAR_FORECAST_ENTRIES,
    CONF_WEATHER_ENTITY,
    DOMAIN,
    LOAD_FORECASTER_PROPHET,
    PV_FORECAST_SOLAR,
    PV_FORECAST_WEATHER,
    SECTION_FORECASTS,
)
from custom_components.phoenyra_ems.engine.forecast import Series
from custom_components.phoenyra_ems.forecasts import days_before

from .conftest import site_input

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import issue_registry as ir
    from pytest_homeassistant_custom_component.typing import WebSocketGenerator

NOW = "2026-05-12T10:00:00+00:00"


async def start_site(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    forecasts: dict[str, Any] | None = None,
) -> MockConfigEntry:
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to(NOW)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Test site",
        unique_id="test_site",
        data=site_input(),
        options={SECTION_FORECASTS: forecasts} if forecasts else {},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def slot_of(entry: MockConfigEntry, local: str) -> int:
    """Index of the plan slot that starts at a local wall-clock time (Vienna, UTC+2 in May)."""
    problem = entry.runtime_data.ems.problem
    when = datetime.fromisoformat(local)
    return int((when - problem.start) / timedelta(minutes=problem.slot_minutes))


async def add_solar_forecast(
    hass: HomeAssistant, hours: dict[str, float]
) -> MockConfigEntry:
    """Add a solar forecast integration as the Energy dashboard sees it (Wh per hour), one entry."""

    async def forecast(_hass: HomeAssistant, _entry_id: str) -> dict[str, Any]:
        return {"wh_hours": hours}

    mock_integration(
        hass, MockModule("sunny_forecast"), top_level_files={"__init__.py", "energy.py"}
    )
    mock_platform(
        hass, "sunny_forecast.energy", Mock(async_get_solar_forecast=forecast)
    )
    assert await async_setup_component(hass, "sunny_forecast", {})
    solar = MockConfigEntry(domain="sunny_forecast", title="Roof")
    solar.add_to_hass(hass)
    return solar


async def test_demo_forecasts_learn_from_the_replayed_past(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await start_site(hass, freezer)
    ems = entry.runtime_data.ems
    assert ems.forecast_sources == {
        "load": "built-in, demo replay",
        "pv": "demo replay",
    }
    problem = ems.problem
    # The plan runs on forecasts, not on the replay's future.
    _, true_load, _ = ems.series.window(problem.start, problem.slots, 15)
    assert np.abs(problem.load_kw - true_load).mean() > 0.01
    assert (problem.load_kw >= 0).all()
    # Peak shaving's cautious load forecast: never below the forecast, and a load the household
    # exceeds far less often.
    assert problem.load_high_kw is not None
    assert (problem.load_high_kw >= problem.load_kw).all()
    # Measured: the next 48 hours stay below it in 88 % of the slots, below the median in 53 %.
    assert (true_load <= problem.load_high_kw).mean() > 0.8
    assert (true_load <= problem.load_kw).mean() < 0.65
    night = slot_of(entry, "2026-05-13T02:00:00+02:00")
    noon = slot_of(entry, "2026-05-13T13:00:00+02:00")
    assert problem.pv_kw[night] == 0
    assert problem.pv_kw[noon] > 0.5
    # Beside the forecast the plan weighs each of the replayed week's days' departures from their
    # usual day: sunnier and duller noons than the forecast's, and at night no PV in any of them.
    outcomes = problem.net_load_outcomes_kw
    assert len(outcomes) == 7
    forecast = problem.load_kw - problem.pv_kw
    at_noon = [outcome[noon] for outcome in outcomes]
    assert min(at_noon) < forecast[noon] - 0.1
    assert max(at_noon) > forecast[noon] + 0.1
    assert all(outcome[night] >= 0 for outcome in outcomes)
    assert [pv[night] for pv in ems.pv_outcomes_kw] == [0] * 7


async def test_prophet_forecasts_the_load_where_installed(hass: HomeAssistant) -> None:
    # Real time: pandas, under Prophet, cannot handle the frozen test clock's datetimes.
    pytest.importorskip("prophet")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Test site",
        unique_id="test_site",
        data=site_input(),
        options={SECTION_FORECASTS: {CONF_LOAD_FORECASTER: LOAD_FORECASTER_PROPHET}},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ems = entry.runtime_data.ems
    assert ems.forecast_sources["load"] == "prophet, demo replay"
    assert (ems.problem.load_kw >= 0).all()
    assert ems.problem.load_kw.std() > 0.05


async def test_pv_from_solar_forecast_integrations(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    # Tomorrow 12-14h local.
    solar = await add_solar_forecast(
        hass,
        {"2026-05-13T10:00:00+00:00": 4000, "2026-05-13T11:00:00+00:00": 2500},
    )
    entry = await start_site(
        hass,
        freezer,
        {
            CONF_PV_FORECAST: PV_FORECAST_SOLAR,
            CONF_SOLAR_FORECAST_ENTRIES: [solar.entry_id, solar.entry_id],
        },
    )
    ems = entry.runtime_data.ems
    assert ems.forecast_sources["pv"] == "solar forecast"
    pv = ems.problem.pv_kw
    # The chosen entries add up (the same one twice here): 2 x 4 kW, then 2 x 2.5 kW.
    assert pv[slot_of(entry, "2026-05-13T12:00:00+02:00")] == pytest.approx(8.0)
    assert pv[slot_of(entry, "2026-05-13T13:45:00+02:00")] == pytest.approx(5.0)
    assert pv[slot_of(entry, "2026-05-13T15:00:00+02:00")] == 0


class SkyWeather(WeatherEntity):
    """A weather entity with an hourly forecast of one cloud cover."""

    _attr_supported_features = WeatherEntityFeature.FORECAST_HOURLY
    _attr_native_temperature_unit = UnitOfTemperature.CELSIUS
    _attr_native_temperature = 15.0
    _attr_condition = "sunny"

    def __init__(self, name: str, cloud_pct: float) -> None:
        self._attr_name = name
        self._attr_unique_id = name
        self._cloud = cloud_pct

    async def async_forecast_hourly(self) -> list[Forecast]:
        start = datetime.fromisoformat(NOW)
        return [
            Forecast(
                datetime=(start + timedelta(hours=k)).isoformat(),
                cloud_coverage=self._cloud,
                native_temperature=15.0,
                condition="sunny",
            )
            for k in range(48)
        ]


async def test_pv_from_the_weather_follows_the_clouds(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    hass.config.latitude, hass.config.longitude = 48.2, 16.4
    setup_test_component_platform(
        hass, "weather", [SkyWeather("Clear", 0), SkyWeather("Overcast", 100)]
    )
    assert await async_setup_component(
        hass, "weather", {"weather": {"platform": "test"}}
    )
    await hass.async_block_till_done()
    noon = {}
    for weather in ("weather.clear", "weather.overcast"):
        entry = await start_site(
            hass,
            freezer,
            {
                CONF_PV_FORECAST: PV_FORECAST_WEATHER,
                CONF_WEATHER_ENTITY: weather,
                CONF_PV_KWP: 5.0,
            },
        )
        ems = entry.runtime_data.ems
        assert ems.forecast_sources["pv"] == f"weather {weather}"
        noon[weather] = ems.problem.pv_kw[slot_of(entry, "2026-05-13T13:00:00+02:00")]
        assert ems.problem.pv_kw[slot_of(entry, "2026-05-13T02:00:00+02:00")] == 0
        await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
    # A clear May noon near Vienna: most of 5 kWp; under full cloud a fraction of it.
    assert 2.5 < noon["weather.clear"] <= 5.0
    assert noon["weather.overcast"] < 0.4 * noon["weather.clear"]


async def test_a_failing_pv_source_falls_back_and_says_so(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await start_site(
        hass,
        freezer,
        {CONF_PV_FORECAST: PV_FORECAST_WEATHER, CONF_WEATHER_ENTITY: "weather.gone"},
    )
    ems = entry.runtime_data.ems
    # The site plans on: with the recent days' PV instead, and tells why.
    assert ems.last_update_success
    assert ems.forecast_sources["pv"] == "demo replay (weather.gone failed)"
    assert "weather.gone" in ems.forecaster.errors["pv"]
    assert ems.problem.pv_kw[slot_of(entry, "2026-05-13T13:00:00+02:00")] > 0.5
    await ems.async_refresh()
    # Logged once, not once per plan.
    assert caplog.text.count("PV forecast from") == 1


async def test_forecast_sensors_show_the_plans_inputs(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await start_site(hass, freezer)
    problem = entry.runtime_data.ems.problem
    prices = hass.states.get("sensor.test_site_price_forecast")
    series = prices.attributes["prices"]
    assert len(series) == problem.slots == 192
    # Noon: today's prices are published, tomorrow's are forecast.
    assert [slot["forecast"] for slot in series].count(False) == 48
    assert prices.attributes["published_until"] == "2026-05-13T00:00:00+02:00"
    assert float(prices.state) == pytest.approx(
        np.mean([slot["import"] for slot in series]), abs=1e-4
    )
    load = hass.states.get("sensor.test_site_load_forecast_next_24_h")
    assert load.attributes["source"] == "built-in, demo replay"
    assert float(load.state) == pytest.approx(problem.load_kw[:96].sum() / 4, abs=1e-2)
    pv = hass.states.get("sensor.test_site_pv_forecast_next_24_h")
    assert float(pv.state) == pytest.approx(problem.pv_kw[:96].sum() / 4, abs=1e-2)
    assert len(pv.attributes["forecast"]) == 192
    price = hass.states.get("sensor.test_site_current_price")
    parts = price.attributes
    assert float(price.state) == pytest.approx(
        parts["spot_eur_kwh"] + parts["grid_fee_eur_kwh"] + parts["vat_eur_kwh"],
        abs=1e-4,
    )
    assert parts["is_forecast"] is False
    assert hass.states.get("binary_sensor.test_site_forecast_stale").state == "off"


async def test_a_failing_forecast_input_shows_as_stale(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await start_site(
        hass,
        freezer,
        {CONF_PV_FORECAST: PV_FORECAST_WEATHER, CONF_WEATHER_ENTITY: "weather.gone"},
    )
    stale = hass.states.get("binary_sensor.test_site_forecast_stale")
    assert stale.state == "on"
    assert "weather.gone" in stale.attributes["stale_inputs"]["pv"]


async def test_a_missing_weather_entity_raises_a_repair_issue_until_it_is_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    entry = await start_site(
        hass,
        freezer,
        {CONF_PV_FORECAST: PV_FORECAST_WEATHER, CONF_WEATHER_ENTITY: "weather.clear"},
    )
    issue_id = f"missing_source_{entry.entry_id}_weather.clear"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {
        "site": "Test site",
        "source": "weather.clear",
        "role": "weather entity",
    }
    setup_test_component_platform(hass, "weather", [SkyWeather("Clear", 0)])
    assert await async_setup_component(
        hass, "weather", {"weather": {"platform": "test"}}
    )
    await hass.async_block_till_done()
    await entry.runtime_data.ems.async_refresh()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert entry.runtime_data.ems.forecast_sources["pv"] == "weather weather.clear"


async def ask_alternatives(client: Any, entry: MockConfigEntry) -> dict[str, Any]:
    """Ask for the plan's forecasts with every alternative, as the panel's Forecasts tab does."""
    await client.send_json_auto_id(
        {"type": f"{DOMAIN}/forecast", "entry_id": entry.entry_id, "alternatives": True}
    )
    answer = await client.receive_json()
    assert answer["success"], answer
    return answer["result"]


def by_method(alternatives: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {alternative["method"]: alternative for alternative in alternatives}


async def test_forecast_alternatives_are_computed_only_when_asked(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_ws_client: WebSocketGenerator,
) -> None:
    # Connected before the clock is frozen (the login token must not be from the future).
    client = await hass_ws_client(hass)
    entry = await start_site(hass, freezer)
    ems = entry.runtime_data.ems
    await client.send_json_auto_id(
        {"type": f"{DOMAIN}/forecast", "entry_id": entry.entry_id}
    )
    plain = (await client.receive_json())["result"]
    assert "alternatives" not in plain
    # Each slot carries the cautious load peak shaving plans on, as the plan's problem has it.
    assert [slot["load_high_kw"] for slot in plain["slots"]] == pytest.approx(
        ems.problem.load_high_kw.tolist(), abs=1e-4
    )
    assert all(slot["load_high_kw"] >= slot["load_kw"] for slot in plain["slots"])
    # And the sunniest and dullest of the recent days' PV the plan weighs.
    assert [slot["pv_high_kw"] for slot in plain["slots"]] == pytest.approx(
        np.max(ems.pv_outcomes_kw, axis=0).tolist(), abs=1e-4
    )
    assert [slot["pv_low_kw"] for slot in plain["slots"]] == pytest.approx(
        np.min(ems.pv_outcomes_kw, axis=0).tolist(), abs=1e-4
    )
    assert all(
        slot["pv_low_kw"] <= slot["pv_kw"] <= slot["pv_high_kw"]
        for slot in plain["slots"]
    )
    assert any(slot["pv_high_kw"] > slot["pv_kw"] + 0.1 for slot in plain["slots"])
    # Nobody asked: nothing was computed.
    assert ems.forecaster._alternatives is None

    report = await ask_alternatives(client, entry)
    slots = len(report["slots"])
    load = report["alternatives"]["load"]
    # The built-in forecaster alone: the plan's own load forecast.
    assert [(a["method"], a["label"], a["used"]) for a in load] == [
        ("built_in", "Built-in", True)
    ]
    assert load[0]["kw"] == [slot["load_kw"] for slot in report["slots"]]
    pv = report["alternatives"]["pv"]
    assert [(a["method"], a["label"], a["used"]) for a in pv] == [
        ("recent_days", "Recent days (demo replay)", True)
    ]
    assert len(pv[0]["kw"]) == slots
    # Asked again for the same plan: the same answer, not computed again.
    task = ems.forecaster._alternatives[1]
    assert await ask_alternatives(client, entry) == report
    assert ems.forecaster._alternatives[1] is task
    # A new plan asks anew.
    await ems.async_refresh()
    await ask_alternatives(client, entry)
    assert ems.forecaster._alternatives[1] is not task


async def test_forecast_alternatives_compare_built_in_and_prophet(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    # Real time: pandas, under Prophet, cannot handle the frozen test clock's datetimes.
    pytest.importorskip("prophet")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Test site",
        unique_id="test_site",
        data=site_input(),
        options={SECTION_FORECASTS: {CONF_LOAD_FORECASTER: LOAD_FORECASTER_PROPHET}},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    client = await hass_ws_client(hass)
    report = await ask_alternatives(client, entry)
    load = by_method(report["alternatives"]["load"])
    assert list(load) == ["built_in", "prophet"]
    assert load["prophet"]["label"] == "Prophet"
    assert load["built_in"]["label"] == "Built-in"
    # The plan ran on Prophet's forecast; the built-in one is there to compare, over the same horizon.
    assert load["prophet"]["used"] is True
    assert load["built_in"]["used"] is False
    assert load["prophet"]["kw"] == [slot["load_kw"] for slot in report["slots"]]
    assert len(load["built_in"]["kw"]) == len(report["slots"])
    assert load["built_in"]["kw"] != load["prophet"]["kw"]
    assert min(load["built_in"]["kw"]) >= 0


async def test_forecast_alternatives_show_every_pv_source(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_ws_client: WebSocketGenerator,
) -> None:
    hass.config.latitude, hass.config.longitude = 48.2, 16.4
    setup_test_component_platform(hass, "weather", [SkyWeather("Clear", 0)])
    assert await async_setup_component(
        hass, "weather", {"weather": {"platform": "test"}}
    )
    solar = await add_solar_forecast(hass, {"2026-05-13T10:00:00+00:00": 4000})
    client = await hass_ws_client(hass)
    # The plan follows the weather; the solar forecast entry is configured as well.
    entry = await start_site(
        hass,
        freezer,
        {
            CONF_PV_FORECAST: PV_FORECAST_WEATHER,
            CONF_WEATHER_ENTITY: "weather.clear",
            CONF_SOLAR_FORECAST_ENTRIES: [solar.entry_id],
            CONF_PV_KWP: 5.0,
        },
    )
    report = await ask_alternatives(client, entry)
    slots = len(report["slots"])
    pv = report["alternatives"]["pv"]
    assert [(a["method"], a["label"], a["used"]) for a in pv] == [
        ("weather", "Weather-based (weather.clear)", True),
        ("solar_forecast", "Solar forecast (Roof)", False),
        ("recent_days", "Recent days (demo replay)", False),
    ]
    assert all(len(a["kw"]) == slots and a["error"] is None for a in pv)
    # What each ran on, for the panel to show with its (translated) name.
    assert [a["detail"] for a in pv] == ["weather.clear", "Roof", "demo replay"]
    methods = by_method(pv)
    assert methods["weather"]["kw"] == [slot["pv_kw"] for slot in report["slots"]]
    noon = slot_of(entry, "2026-05-13T12:00:00+02:00")
    assert methods["solar_forecast"]["kw"][noon] == pytest.approx(4.0)
    assert methods["recent_days"]["kw"][noon] > 0.5
    # Load: the built-in forecaster is the only one chosen.
    assert [a["method"] for a in report["alternatives"]["load"]] == ["built_in"]


async def test_forecast_alternatives_say_why_a_source_failed(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_ws_client: WebSocketGenerator,
    issue_registry: ir.IssueRegistry,
) -> None:
    solar_id = "0123456789abcdef0123456789abcdef"
    client = await hass_ws_client(hass)
    entry = await start_site(
        hass,
        freezer,
        {
            CONF_PV_FORECAST: PV_FORECAST_WEATHER,
            CONF_WEATHER_ENTITY: "weather.gone",
            CONF_SOLAR_FORECAST_ENTRIES: [solar_id],
        },
    )
    report = await ask_alternatives(client, entry)
    pv = report["alternatives"]["pv"]
    # The plan ran on the recent days; the chosen source and the other configured one failed.
    assert [(a["method"], a["used"]) for a in pv] == [
        ("recent_days", True),
        ("solar_forecast", False),
        ("weather", False),
    ]
    methods = by_method(pv)
    assert methods["weather"]["kw"] is None
    assert "weather.gone" in methods["weather"]["error"]
    assert methods["solar_forecast"]["kw"] is None
    assert f"{solar_id} does not exist" in methods["solar_forecast"]["error"]
    # A source that only the comparison uses raises no repair issue.
    assert (
        issue_registry.async_get_issue(
            DOMAIN, f"missing_source_{entry.entry_id}_{solar_id}"
        )
        is None
    )


def test_recent_days_end_where_the_plan_starts() -> None:
    # A recorded history read 45 minutes before the plan starts (it is read at most hourly).
    start = datetime.fromisoformat("2026-05-10T00:00:00+00:00")
    history = Series(start=start, slot_minutes=15, values=np.arange(96.0 * 2))
    plan_start = history.end + timedelta(minutes=45)
    window = days_before(history, plan_start, 2)
    # Two whole days ending at the plan's start: the unread last 45 minutes unknown, the rest
    # where it belongs in the day.
    assert len(window) == 2 * 96
    assert np.isnan(window[-3:]).all()
    assert window[-4] == history.values[-1]
    assert window[0] == history.values[3]
    # Before the history began: unknown too.
    longer = days_before(history, plan_start, 3)
    assert np.isnan(longer[: 96 - 3]).all()
    assert longer[96 - 3] == history.values[0]
    # A history that ends after the plan starts (read a moment ago) is cut at the start.
    assert (
        days_before(history, history.end - timedelta(hours=1), 1)[-1]
        == (history.values[-5])
    )
