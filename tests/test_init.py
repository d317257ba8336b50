"""Setup, the plan and control loop, the entities, and a clean unload."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from unittest.mock import patch

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.components.select import (
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_OPTION,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache,
)

from custom_components.phoenyra_ems.const import (
    CONF_CAPACITY_KWH,
    DOMAIN,
    SECTION_BATTERY,
    SECTION_STRATEGIES,
)
from custom_components.phoenyra_ems.engine.optimizer import SolverError

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory

SOC = "sensor.test_site_state_of_charge"
BATTERY_POWER = "sensor.test_site_battery_power"
SETPOINT = "sensor.test_site_battery_setpoint"
GRID = "sensor.test_site_grid_power"
PV = "sensor.test_site_pv_power"
LOAD = "sensor.test_site_load_power"
PRICE = "sensor.test_site_current_price"
PROFIT = "sensor.test_site_expected_profit_next_24_h"
ACTIVE = "sensor.test_site_active_strategy"
SELECT = "select.test_site_strategy"
SWITCH = "switch.test_site_ems_enabled"
BUTTON = "button.test_site_optimize_now"


def value(hass: HomeAssistant, entity_id: str) -> float:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return float(state.state)


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float
) -> None:
    """Move the clock on in control-interval steps, firing the timers due on the way."""
    steps = int(seconds // 5)
    for _ in range(steps):
        freezer.tick(timedelta(seconds=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


async def test_setup_creates_a_working_demo_site(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = init_integration
    # Data files and the solver's import run in the executor: no blocking call on the event loop.
    assert "Detected blocking call" not in caplog.text
    assert entry.state is ConfigEntryState.LOADED
    plan = entry.runtime_data.ems.data.plan
    # At noon tomorrow's prices are not published yet: 48 hours, today's 12 hours at published
    # prices, the rest at forecast prices.
    assert plan.slots == 48 * 4
    forecast = entry.runtime_data.ems.price_is_forecast
    assert not forecast[: 12 * 4].any()
    assert forecast[12 * 4 :].all()
    assert plan.status == "optimal"

    for entity_id in (SOC, BATTERY_POWER, SETPOINT, GRID, PV, LOAD, PRICE, PROFIT):
        value(hass, entity_id)
    assert value(hass, SOC) == pytest.approx(50.0)
    # A sunny May noon with negative prices: the plan earns money over the day.
    assert value(hass, PROFIT) > 0
    # Automatic selection chose the cheapest strategy (ties within a cent may go either way).
    active = hass.states.get(ACTIVE)
    costs = active.attributes["strategy_costs_eur"]
    assert costs[active.state] <= min(costs.values()) + 0.01
    assert hass.states.get(SELECT).state == "auto"
    assert hass.states.get(SWITCH).state == "on"

    soc = hass.states.get(SOC)
    assert soc.attributes["unit_of_measurement"] == "%"
    assert soc.attributes["device_class"] == "battery"
    assert soc.attributes["state_class"] == "measurement"
    power = hass.states.get(BATTERY_POWER)
    assert power.attributes["unit_of_measurement"] == "kW"
    assert power.attributes["device_class"] == "power"
    assert hass.states.get(PRICE).attributes["unit_of_measurement"] == "EUR/kWh"
    profit = hass.states.get(PROFIT)
    assert profit.attributes["device_class"] == "monetary"
    assert "state_class" not in profit.attributes


async def test_entities_belong_to_one_device_with_translated_names(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    devices = dr.async_entries_for_config_entry(
        device_registry, init_integration.entry_id
    )
    assert len(devices) == 1
    device = devices[0]
    assert device.identifiers == {(DOMAIN, "test_site")}
    assert device.name == "Test site"
    assert device.manufacturer == "Phoenyra"
    entities = er.async_entries_for_config_entry(
        entity_registry, init_integration.entry_id
    )
    assert len(entities) == 29
    assert {entity.device_id for entity in entities} == {device.id}
    assert all(entity.unique_id.startswith("test_site_") for entity in entities)
    assert all(entity.translation_key for entity in entities)
    assert (
        hass.states.get(PROFIT).attributes["friendly_name"]
        == "Test site Expected profit next 24 h"
    )


async def test_control_loop_follows_the_plan(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    coordinator = init_integration.runtime_data.ems
    await advance(hass, freezer, 60)
    plan = coordinator.data.plan
    index = plan.slot_index(coordinator.measurement.time)
    measured = coordinator.measurement
    # The battery takes up the difference between measured and forecast net load, so that the
    # grid exchange is the planned one.
    expected = plan.setpoint_kw(index, measured.load_kw - measured.pv_kw)
    assert value(hass, SETPOINT) == pytest.approx(expected, abs=1e-3)
    if abs(expected) < 5:
        assert value(hass, BATTERY_POWER) == pytest.approx(expected, abs=1e-3)
        planned_grid = float(plan.grid_import_kw[index] - plan.grid_export_kw[index])
        assert value(hass, GRID) == pytest.approx(planned_grid, abs=1e-3)
    # The site's power balance holds in what the sensors show.
    balance = (
        value(hass, LOAD)
        - value(hass, PV)
        - value(hass, BATTERY_POWER)
        - value(hass, GRID)
    )
    assert abs(balance) < 1e-3

    soc_before = value(hass, SOC)
    discharged_before = value(hass, "sensor.test_site_energy_discharged")
    charged_before = value(hass, "sensor.test_site_energy_charged")
    await advance(hass, freezer, 600)
    soc_after = value(hass, SOC)
    net_out = (
        value(hass, "sensor.test_site_energy_discharged") - discharged_before
    ) - (value(hass, "sensor.test_site_energy_charged") - charged_before)
    # The state of charge moves the way the battery's energy flowed.
    assert soc_after != pytest.approx(soc_before, abs=1e-3)
    assert (soc_after < soc_before) == (net_out > 0)


async def test_replans_every_optimization_interval(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    coordinator = init_integration.runtime_data.ems
    first = coordinator.data
    await advance(hass, freezer, 15 * 60 + 5)
    assert coordinator.data is not first
    assert coordinator.data.plan.start - first.plan.start == timedelta(minutes=15)
    # Tomorrow is still unpublished: the plan keeps looking 48 hours ahead.
    assert coordinator.data.plan.slots == first.plan.slots == 192


async def test_switch_off_holds_the_battery_idle(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )
    assert hass.states.get(SWITCH).state == STATE_OFF
    await advance(hass, freezer, 30)
    assert value(hass, SETPOINT) == 0
    assert value(hass, BATTERY_POWER) == 0
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )
    assert hass.states.get(SWITCH).state == "on"
    assert init_integration.runtime_data.ems.enabled


async def test_switch_state_survives_a_restart(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    mock_restore_cache(hass, [State(SWITCH, STATE_OFF)])
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert not mock_config_entry.runtime_data.ems.enabled


async def test_strategy_select_applies_without_reload(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    coordinator = init_integration.runtime_data.ems
    await advance(hass, freezer, 120)
    soc = value(hass, SOC)
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: SELECT, ATTR_OPTION: "peak_shaving"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert hass.states.get(SELECT).state == "peak_shaving"
    assert hass.states.get(ACTIVE).state == "peak_shaving"
    assert init_integration.options[SECTION_STRATEGIES]["selection_mode"] == "manual"
    assert (
        init_integration.options[SECTION_STRATEGIES]["manual_strategy"]
        == "peak_shaving"
    )
    # Same coordinator, same simulated battery: no reload happened.
    assert init_integration.runtime_data.ems is coordinator
    plan = coordinator.data.plan
    assert plan.strategy == "peak_shaving"
    # Peak shaving keeps the battery for import above what it held on the demo's past days.
    held = await coordinator.forecaster.async_held_peak(
        plan.start, coordinator.site.battery
    )
    assert held is not None and held > 0
    assert plan.reserve_for_peaks
    assert plan.peak_limit_kw is not None and plan.peak_limit_kw >= held - 1e-6
    assert value(hass, SOC) == pytest.approx(soc, abs=0.01)

    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: SELECT, ATTR_OPTION: "auto"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert hass.states.get(SELECT).state == "auto"
    assert init_integration.options[SECTION_STRATEGIES]["selection_mode"] == "auto"


async def test_optimize_now_replans(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    coordinator = init_integration.runtime_data.ems
    first = coordinator.data
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
    )
    assert coordinator.data is not first
    assert coordinator.data.plan.status == "optimal"


async def test_failed_plan_idles_the_battery_and_recovers(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    failure = SolverError("numerical trouble")
    with (
        patch(
            "custom_components.phoenyra_ems.coordinator.solve_highs",
            side_effect=failure,
        ),
        patch(
            "custom_components.phoenyra_ems.coordinator.solve_cvxpy",
            side_effect=failure,
        ),
    ):
        await hass.services.async_call(
            BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
        )
        await advance(hass, freezer, 10)
        assert hass.states.get(PROFIT).state == STATE_UNAVAILABLE
        assert value(hass, SETPOINT) == 0
        # Measurements keep flowing while there is no plan.
        assert hass.states.get(SOC).state != STATE_UNAVAILABLE
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
    )
    await advance(hass, freezer, 10)
    assert hass.states.get(PROFIT).state != STATE_UNAVAILABLE


async def test_invalid_stored_configuration_is_reported(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    data = dict(mock_config_entry.data)
    data[SECTION_BATTERY] = {**data[SECTION_BATTERY], CONF_CAPACITY_KWH: -1}
    entry = MockConfigEntry(
        domain=DOMAIN, title="Broken", unique_id="broken", data=data
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "capacity_kwh" in (entry.reason or "")


def live_timers(hass: HomeAssistant) -> list[str]:
    """Pending timers, but for Home Assistant's own delayed registry writes (not the site's)."""
    return sorted(
        repr(handle)
        for handle in hass.loop._scheduled
        if not handle.cancelled()
        and "Store._async_schedule_callback_delayed_write" not in repr(handle)
    )


async def test_unload_and_reload_leave_nothing_behind(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    mock_config_entry.add_to_hass(hass)
    # A first cycle loads the entity platforms, which keep listeners of their own; after that, each
    # setup, reload and unload of the site must return to exactly the same timers and listeners.
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    timers_before = live_timers(hass)
    listeners_before = hass.bus.async_listeners()

    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert len(live_timers(hass)) > len(timers_before)
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    assert live_timers(hass) == timers_before
    assert hass.bus.async_listeners() == listeners_before
    assert hass.states.get(SOC).state == STATE_UNAVAILABLE
    # Time goes on; nothing of the site runs any more.
    freezer.tick(timedelta(minutes=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(SOC).state == STATE_UNAVAILABLE


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("72.5", 72.5), ("0.0", 0.0), ("unavailable", 50.0), ("140", 50.0)],
)
async def test_demo_battery_resumes_its_state_of_charge(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    stored: str,
    expected: float,
) -> None:
    """The simulated battery starts where its sensor last was; an unusable state starts it at 50 %."""
    mock_config_entry.add_to_hass(hass)
    entity_registry.async_get_or_create(
        "sensor",
        DOMAIN,
        "test_site_state_of_charge",
        config_entry=mock_config_entry,
        suggested_object_id="test_site_state_of_charge",
    )
    mock_restore_cache(hass, [State(SOC, stored)])
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert value(hass, SOC) == pytest.approx(expected)
    assert (
        mock_config_entry.runtime_data.ems.data.plan.initial_soc_pct
        == pytest.approx(expected)
    )


async def test_automatic_mode_explains_its_choice(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    state = hass.states.get(ACTIVE)
    attributes = state.attributes
    assert set(attributes["strategy_costs_eur"]) == {
        "arbitrage",
        "peak_shaving",
        "self_consumption",
        "load_balancing",
    }
    costs = attributes["strategy_costs_eur"]
    # The chosen strategy is the cheapest (a tie within a cent may go either way).
    assert costs[state.state] <= min(costs.values()) + 0.01
    assert attributes["reason"].startswith(f"{state.state}: ")
    assert attributes["engine"] == "cvxpy"
    assert attributes["status"] == "optimal"
    # The test clock is frozen, so the measured time may be 0 here; the engine tests time real solves.
    assert attributes["solve_time_ms"] >= 0
    assert attributes["horizon_slots"] == 192


async def test_tomorrows_published_prices_replace_forecast_ones(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    coordinator = init_integration.runtime_data.ems
    # 12:45 Vienna: the day-ahead auction's results are out; the next plan runs to the end of
    # tomorrow at published prices, and on forecast ones up to 48 hours.
    freezer.move_to("2026-05-12T10:45:00+00:00")
    await coordinator.async_refresh()
    plan = coordinator.data.plan
    published = (11 * 4 + 1) + 24 * 4
    assert plan.slots == 48 * 4
    assert not coordinator.price_is_forecast[:published].any()
    assert coordinator.price_is_forecast[published:].all()
