"""The forecasts learn from the recorder's statistics of the site's load and PV sensors."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.components.recorder.models import (
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import async_import_statistics
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.phoenyra_ems.const import (
    CONF_MODE,
    CONF_PV_FORECAST,
    CONF_SETPOINT_TARGET,
    CONF_SOLAR_FORECAST_ENTRIES,
    CONF_TRANSPORT,
    DOMAIN,
    MODE_LIVE,
    PV_FORECAST_SOLAR,
    SECTION_DEVICE,
    SECTION_FORECASTS,
    TARGET_NONE,
    TRANSPORT_ENTITIES,
)

from .conftest import site_input
from .test_forecasts import (
    NOW,
    add_solar_forecast,
    ask_alternatives,
    by_method,
    slot_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import entity_registry as er
    from pytest_homeassistant_custom_component.typing import WebSocketGenerator

    from custom_components.phoenyra_ems.engine.model import Battery


@pytest.fixture
async def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """Prepare the recorder's database before Home Assistant starts."""


def import_hourly(
    hass: HomeAssistant,
    statistic_id: str,
    unit: str,
    value_at: Callable[[int], float],
    today: Callable[[int], float] | None = None,
) -> None:
    """Three recorded days of a power sensor, each hour's mean ``value_at(local hour)`` (Vienna).

    ``today``: the hours of the last local day (12 May, until 12:00) instead.
    """
    first = datetime.fromisoformat("2026-05-09T10:00:00+00:00")
    hours = [first + timedelta(hours=k) for k in range(72)]
    metadata: Any = {
        "has_sum": False,
        "mean_type": StatisticMeanType.ARITHMETIC,
        "name": None,
        "source": "recorder",
        "statistic_id": statistic_id,
        "unit_of_measurement": unit,
    }
    # Newer recorders also want the unit's class.
    if "unit_class" in StatisticMetaData.__annotations__:
        metadata["unit_class"] = "power"
    # May in Vienna: UTC+2.
    means = [
        (today if today is not None and hour.day == 12 else value_at)(
            (hour.hour + 2) % 24
        )
        for hour in hours
    ]
    async_import_statistics(
        hass,
        metadata,
        [
            {"start": hour, "mean": mean, "min": 0.0, "max": max(means)}
            for hour, mean in zip(hours, means, strict=True)
        ],
    )


async def record_site_pv(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    today: Callable[[int], float] | None = None,
) -> None:
    """Three recorded days of the site's own PV sensor: 2 kW from 10 to 15 h local, none otherwise."""
    entity_registry.async_get_or_create(
        "sensor", DOMAIN, "test_site_pv_power", suggested_object_id="test_site_pv_power"
    )
    import_hourly(
        hass,
        "sensor.test_site_pv_power",
        "kW",
        lambda local_hour: 2.0 if 10 <= local_hour < 15 else 0.0,
        today,
    )
    await async_wait_recording_done(hass)


def import_evening_load(
    hass: HomeAssistant, statistic_id: str, unit: str, evening: float, night: float
) -> None:
    """Three recorded days of a load sensor: ``evening`` from 18 to 21 h local, ``night`` otherwise."""
    import_hourly(
        hass, statistic_id, unit, lambda hour: evening if 18 <= hour < 21 else night
    )


@pytest.fixture
async def site_with_recorded_evenings(
    hass: HomeAssistant,
    recorder_mock: Any,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> MockConfigEntry:
    """A site whose own load sensor recorded 3 kW every evening, 0.3 kW otherwise."""
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to(NOW)
    entity_registry.async_get_or_create(
        "sensor",
        DOMAIN,
        "test_site_load_power",
        suggested_object_id="test_site_load_power",
    )
    import_evening_load(hass, "sensor.test_site_load_power", "kW", 3.0, 0.3)
    await async_wait_recording_done(hass)
    entry = MockConfigEntry(
        domain=DOMAIN, title="Test site", unique_id="test_site", data=site_input()
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_load_forecast_learns_from_the_recorder(
    site_with_recorded_evenings: MockConfigEntry,
) -> None:
    ems = site_with_recorded_evenings.runtime_data.ems
    assert ems.forecast_sources["load"] == "built-in, recorder"
    assert_evening_peak(site_with_recorded_evenings)


async def test_peak_shavings_held_limit_follows_the_recorded_days_and_the_battery(
    site_with_recorded_evenings: MockConfigEntry,
) -> None:
    entry = site_with_recorded_evenings
    forecaster = entry.runtime_data.ems.forecaster
    start = datetime.fromisoformat(NOW)

    def battery(capacity_kwh: float) -> Battery:
        return replace(
            entry.runtime_data.ems.site.battery,
            capacity_kwh=capacity_kwh,
            soc_min_pct=10.0,
            soc_max_pct=90.0,
            discharge_efficiency=0.95,
            max_discharge_kw=5.0,
        )

    # The two whole recorded days: 3 kW for three evening hours. A full battery holds the import
    # at 3 kW less what its window delivers over those hours (80 % of 4 kWh, 95 % efficient).
    small = await forecaster.async_held_peak(start, battery(4.0))
    assert small == pytest.approx(3.0 - 3.2 * 0.95 / 3, abs=0.02)
    # Another battery gets its own limit, not the one computed before (twice the window takes
    # twice as much off the evening).
    assert await forecaster.async_held_peak(start, battery(8.0)) == pytest.approx(
        3.0 - 6.4 * 0.95 / 3, abs=0.02
    )
    assert await forecaster.async_held_peak(start, battery(4.0)) == small


def assert_evening_peak(entry: MockConfigEntry) -> None:
    load = entry.runtime_data.ems.problem.load_kw
    assert load[slot_of(entry, "2026-05-13T19:00:00+02:00")] == pytest.approx(
        3.0, abs=0.3
    )
    assert load[slot_of(entry, "2026-05-13T03:00:00+02:00")] == pytest.approx(
        0.3, abs=0.1
    )


async def test_new_live_site_learns_from_its_load_sensors_history(
    hass: HomeAssistant, recorder_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A new live site has no history of its own; its inverter's load sensor has, in W."""
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to(NOW)
    import_evening_load(hass, "sensor.house_load", "W", 3000.0, 300.0)
    await async_wait_recording_done(hass)
    for entity_id, state, unit in (
        ("sensor.inverter_soc", "50", "%"),
        ("sensor.inverter_battery", "0", "W"),
        ("sensor.inverter_grid", "300", "W"),
        ("sensor.house_load", "300", "W"),
    ):
        hass.states.async_set(entity_id, state, {"unit_of_measurement": unit})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Test site",
        unique_id="test_site",
        data={
            **site_input(),
            CONF_MODE: MODE_LIVE,
            SECTION_DEVICE: {
                CONF_TRANSPORT: TRANSPORT_ENTITIES,
                CONF_SETPOINT_TARGET: TARGET_NONE,
                "soc_entity": "sensor.inverter_soc",
                "battery_power_entity": "sensor.inverter_battery",
                "grid_power_entity": "sensor.inverter_grid",
                "load_power_entity": "sensor.house_load",
            },
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ems = entry.runtime_data.ems
    assert ems.forecast_sources["load"] == "built-in, recorder, sensor.house_load"
    assert_evening_peak(entry)
    # Its PV comes from the demo household's days until it has its own; their spread says nothing
    # about this array, so the plan weighs none of their departures; its own recorded evenings
    # are alike, so there is no other outcome to weigh at all.
    assert ems.pv_outcomes_kw == ()
    assert ems.problem.net_load_outcomes_kw == ()


async def test_a_solar_forecast_is_averaged_with_the_arrays_recorded_days(
    hass: HomeAssistant,
    recorder_mock: Any,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    client = await hass_ws_client(hass)
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to(NOW)
    await record_site_pv(hass, entity_registry)
    # The solar forecast: 4 kW tomorrow from 12 to 13 h local, nothing else.
    solar = await add_solar_forecast(hass, {"2026-05-13T10:00:00+00:00": 4000})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Test site",
        unique_id="test_site",
        data=site_input(),
        options={
            SECTION_FORECASTS: {
                CONF_PV_FORECAST: PV_FORECAST_SOLAR,
                CONF_SOLAR_FORECAST_ENTRIES: [solar.entry_id],
            }
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ems = entry.runtime_data.ems
    assert ems.forecast_sources["pv"] == "solar forecast and recent days (recorder)"
    pv = ems.problem.pv_kw
    noon = slot_of(entry, "2026-05-13T12:00:00+02:00")
    assert pv[noon] == pytest.approx((4.0 + 2.0) / 2)
    assert pv[slot_of(entry, "2026-05-13T11:00:00+02:00")] == pytest.approx(1.0)
    assert pv[slot_of(entry, "2026-05-13T03:00:00+02:00")] == 0
    # The Forecasts tab shows the plan's average, and what it averaged.
    report = await ask_alternatives(client, entry)
    alternatives = report["alternatives"]["pv"]
    assert [(a["method"], a["used"], a["error"]) for a in alternatives] == [
        ("solar_forecast_blend", True, None),
        ("solar_forecast", False, None),
        ("recent_days", False, None),
    ]
    methods = by_method(alternatives)
    assert methods["solar_forecast_blend"]["kw"] == [
        slot["pv_kw"] for slot in report["slots"]
    ]
    assert methods["solar_forecast"]["kw"][noon] == pytest.approx(4.0)
    assert methods["recent_days"]["kw"][noon] == pytest.approx(2.0)
    assert methods["recent_days"]["detail"] == "recorder"


async def test_the_recent_days_pv_carries_a_cloudy_morning_into_the_afternoon(
    hass: HomeAssistant,
    recorder_mock: Any,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to(NOW)
    # The site's PV: 2 kW from 10 to 15 h local on the recorded days; this morning 1 kW.
    await record_site_pv(
        hass, entity_registry, today=lambda hour: 1.0 if 10 <= hour < 15 else 0.0
    )
    entry = MockConfigEntry(
        domain=DOMAIN, title="Test site", unique_id="test_site", data=site_input()
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    pv = entry.runtime_data.ems.problem.pv_kw
    # The profile of 10 to 12 h weighs today 1, the days before 0.7 and 0.49: 1.54 kW, of which the
    # morning measured 0.65; 0.8 of the way there, the afternoon's 2 kW become 1.44 kW.
    assert pv[slot_of(entry, "2026-05-12T13:00:00+02:00")] == pytest.approx(
        1.44, abs=0.03
    )
    assert pv[slot_of(entry, "2026-05-12T14:45:00+02:00")] == pytest.approx(
        1.44, abs=0.01
    )
    # Tomorrow is another day: its usual 2 kW.
    assert pv[slot_of(entry, "2026-05-13T13:00:00+02:00")] == pytest.approx(2.0)
    assert pv[slot_of(entry, "2026-05-12T16:00:00+02:00")] == 0
