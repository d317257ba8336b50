"""Live mode on Home Assistant entities: the flow, the control loop, the watchdog, dry run, unload."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    EVENT_HOMEASSISTANT_STOP,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest

from custom_components.phoenyra_ems.const import (
    CONF_INVERT_BATTERY_POWER,
    CONF_INVERT_GRID_POWER,
    CONF_INVERT_SETPOINT,
    CONF_MODE,
    CONF_SETPOINT_ENTITY,
    CONF_SETPOINT_TARGET,
    CONF_TRANSPORT,
    CONF_WRITE_DEADBAND_KW,
    CONF_WRITE_MIN_SECONDS,
    DEFAULT_STRATEGIES,
    DOMAIN,
    MODE_LIVE,
    SECTION_DEVICE,
    TARGET_MQTT,
    TARGET_NONE,
    TARGET_NUMBER,
    TRANSPORT_ENTITIES,
)

from .conftest import site_input
from .test_config_flow import FORECASTS_INPUT
from .test_init import advance, value

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory

NUMBER = "number.battery_setpoint"
SOC = "sensor.test_site_state_of_charge"
GRID = "sensor.test_site_grid_power"
LOAD = "sensor.test_site_load_power"
SETPOINT = "sensor.test_site_battery_setpoint"
FALLBACK = "binary_sensor.test_site_safe_fallback_active"
DRY_RUN = "switch.test_site_dry_run"
ENABLED = "switch.test_site_ems_enabled"

DEVICE_STEP = {
    CONF_TRANSPORT: TRANSPORT_ENTITIES,
    CONF_SETPOINT_TARGET: TARGET_NUMBER,
    CONF_SETPOINT_ENTITY: NUMBER,
    CONF_INVERT_SETPOINT: False,
    CONF_WRITE_DEADBAND_KW: 0.05,
    CONF_WRITE_MIN_SECONDS: 0,
}
ENTITIES_STEP = {
    "soc_entity": "sensor.inverter_soc",
    "battery_power_entity": "sensor.inverter_battery",
    "grid_power_entity": "sensor.inverter_grid",
    "pv_power_entity": "sensor.inverter_pv",
    CONF_INVERT_BATTERY_POWER: True,
    CONF_INVERT_GRID_POWER: False,
}


def report(
    hass: HomeAssistant,
    soc: float = 60.0,
    battery_w: float = 0.0,
    grid_w: float = 800.0,
    pv_kw: float = 1.2,
) -> None:
    """The inverter integration reports its sensors (battery: charging positive, in W)."""
    hass.states.async_set(
        "sensor.inverter_soc", str(soc), {"unit_of_measurement": "%"}, force_update=True
    )
    hass.states.async_set(
        "sensor.inverter_battery",
        str(battery_w),
        {"unit_of_measurement": "W"},
        force_update=True,
    )
    hass.states.async_set(
        "sensor.inverter_grid",
        str(grid_w),
        {"unit_of_measurement": "W"},
        force_update=True,
    )
    hass.states.async_set(
        "sensor.inverter_pv",
        str(pv_kw),
        {"unit_of_measurement": "kW"},
        force_update=True,
    )


@pytest.fixture
async def inverter(hass: HomeAssistant) -> list[float]:
    """An inverter as Home Assistant sees it: sensors and a setpoint number in W (-4 to +4 kW).

    Returns the values written to the number, in W, as they arrive.
    """
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "number": [
                        {
                            "name": "Battery setpoint",
                            "state": "0",
                            "min": -4000,
                            "max": 4000,
                            "step": 1,
                            "unit_of_measurement": "W",
                            "optimistic": True,
                            "set_value": [],
                        }
                    ]
                }
            ]
        },
    )
    await hass.async_block_till_done()
    report(hass)
    written: list[float] = []

    @callback
    def number_changed(event: Event[Any]) -> None:
        if event.data["entity_id"] == NUMBER and event.data["new_state"] is not None:
            written.append(float(event.data["new_state"].state))

    hass.bus.async_listen("state_changed", number_changed)
    return written


async def create_live_site(hass: HomeAssistant, **device: Any) -> Any:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**site_input(), CONF_MODE: MODE_LIVE}
    )
    assert result["step_id"] == "device"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {k: v for k, v in {**DEVICE_STEP, **device}.items() if v is not None},
    )
    assert result["step_id"] == "entities"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], ENTITIES_STEP
    )
    assert result["step_id"] == "connection_test"
    shown = result["description_placeholders"]["values"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return result["result"], shown


async def test_flow_reads_the_entities_and_creates_a_live_site(
    hass: HomeAssistant, inverter: list[float]
) -> None:
    entry, shown = await create_live_site(hass)
    # What the connection test showed: converted to the EMS's units and signs.
    assert "- soc: 60.000 %" in shown
    assert "- grid_power: 0.800 kW" in shown
    assert "- pv_power: 1.200 kW" in shown
    device = entry.data[SECTION_DEVICE]
    assert device[CONF_TRANSPORT] == TRANSPORT_ENTITIES
    assert device["soc_entity"] == "sensor.inverter_soc"
    assert "load_power_entity" not in device
    assert entry.state is ConfigEntryState.LOADED
    assert value(hass, SOC) == 60.0
    # Load follows from the balance: grid 0.8 + PV 1.2 + battery 0 (before the first command).
    assert value(hass, LOAD) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("device", "entities", "field", "error"),
    [
        (
            {CONF_SETPOINT_ENTITY: None},
            None,
            CONF_SETPOINT_ENTITY,
            "setpoint_entity_required",
        ),
        (
            {CONF_SETPOINT_ENTITY: "number.nothing"},
            None,
            CONF_SETPOINT_ENTITY,
            "entity_missing",
        ),
        (
            {CONF_SETPOINT_TARGET: TARGET_MQTT},
            None,
            CONF_SETPOINT_TARGET,
            "target_needs_mqtt",
        ),
        (
            {},
            {"grid_power_entity": "sensor.nothing"},
            "grid_power_entity",
            "entity_unreadable",
        ),
        ({}, {"soc_entity": "sensor.inverter_grid"}, "soc_entity", "entity_unreadable"),
        (
            {},
            {"pv_power_entity": "sensor.inverter_soc"},
            "pv_power_entity",
            "entity_unreadable",
        ),
        ({}, {"pv_power_entity": None}, "base", "three_powers_required"),
    ],
)
async def test_flow_refuses_what_cannot_work_and_loses_nothing(
    hass: HomeAssistant,
    inverter: list[float],
    device: dict[str, Any],
    entities: dict[str, Any] | None,
    field: str,
    error: str,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**site_input(), CONF_MODE: MODE_LIVE}
    )
    bad_device = {k: v for k, v in {**DEVICE_STEP, **device}.items() if v is not None}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], bad_device
    )
    if entities is None:
        assert result["errors"] == {field: error}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], DEVICE_STEP
        )
    else:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {k: v for k, v in {**ENTITIES_STEP, **entities}.items() if v is not None},
        )
        assert result["errors"] == {field: error}
        assert result["step_id"] == "entities"
        if field != "base":
            # The problem is named, so the user knows what to fix.
            assert result["description_placeholders"]["problems"] != "-"
    if result["step_id"] == "entities":
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], ENTITIES_STEP
        )
    assert result["step_id"] == "connection_test"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_advisory_site_writes_nothing(
    hass: HomeAssistant, inverter: list[float], freezer: FrozenDateTimeFactory
) -> None:
    await create_live_site(
        hass, **{CONF_SETPOINT_TARGET: TARGET_NONE, CONF_SETPOINT_ENTITY: None}
    )
    for _ in range(4):
        report(hass)
        await advance(hass, freezer, 5)
    assert inverter == []
    # The plan's setpoint is still shown.
    assert hass.states.get(SETPOINT).attributes["written_kw"] is None


# The last quarter of an evening hour (18:45 in the test's US/Pacific) whose demo price makes the plan
# discharge at the battery's 5 kW, beyond the number's 4 kW. Earlier in the hour it discharges less:
# among the hour's equally priced quarters it releases the energy last (HOLDING_EUR_KWH_H).
FULL_DISCHARGE_NIGHT = "2026-12-05T02:47:00+00:00"


def number_range_w(kw: float) -> float:
    """Return the setpoint in W as the inverter's number takes it: within its own -4 to +4 kW."""
    return min(max(kw * 1000, -4000.0), 4000.0)


async def test_setpoint_goes_to_the_number_within_limits(
    hass: HomeAssistant, inverter: list[float], freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(FULL_DISCHARGE_NIGHT)
    entry, _ = await create_live_site(hass)
    ems = entry.runtime_data.ems
    report(hass)
    await advance(hass, freezer, 5)
    assert ems.measurement_fresh
    kw = ems.setpoint_kw
    assert inverter, "nothing was written"
    # The plan asks for more than the number allows: the number's own range is the device's limit.
    assert kw > 4.0
    assert inverter[-1] == pytest.approx(number_range_w(kw), abs=1)
    assert inverter[-1] == 4000
    # The sensor says what the device was given, not what the plan asked.
    attributes = hass.states.get(SETPOINT).attributes
    assert attributes["written_kw"] == pytest.approx(4.0)
    assert attributes["planned_kw"] == pytest.approx(kw, abs=1e-3)
    assert hass.states.get(FALLBACK).state == STATE_OFF

    # Near the top of the SoC window the battery may not charge; at the bottom not discharge.
    report(hass, soc=90.0)
    await advance(hass, freezer, 5)
    assert ems.setpoint_kw >= 0
    assert inverter[-1] >= 0
    report(hass, soc=10.0)
    await advance(hass, freezer, 5)
    assert ems.setpoint_kw <= 0
    assert inverter[-1] <= 0


async def test_inverted_setpoint_is_sent_negated(
    hass: HomeAssistant, inverter: list[float], freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(FULL_DISCHARGE_NIGHT)
    entry, _ = await create_live_site(hass, **{CONF_INVERT_SETPOINT: True})
    ems = entry.runtime_data.ems
    report(hass, soc=50.0)
    await advance(hass, freezer, 5)
    assert ems.setpoint_kw > 0
    assert inverter[-1] == pytest.approx(number_range_w(-ems.setpoint_kw), abs=1)
    assert inverter[-1] < 0
    # Told in the EMS's own sign: the battery discharges.
    assert hass.states.get(SETPOINT).attributes["written_kw"] == pytest.approx(
        -inverter[-1] / 1000
    )


async def test_watchdog_idles_the_battery_on_stale_measurements_and_recovers(
    hass: HomeAssistant, inverter: list[float], freezer: FrozenDateTimeFactory
) -> None:
    entry, _ = await create_live_site(hass)
    issues = ir.async_get(hass)
    issue_id = f"watchdog_{entry.entry_id}"
    # The inverter keeps reporting for a while, then goes quiet.
    for _ in range(3):
        report(hass, soc=50.0)
        await advance(hass, freezer, 5)
    assert hass.states.get(FALLBACK).state == STATE_OFF
    await advance(hass, freezer, 10)
    # Ten seconds of silence are within three control intervals (15 s).
    assert hass.states.get(FALLBACK).state == STATE_OFF
    await advance(hass, freezer, 10)
    assert hass.states.get(FALLBACK).state == STATE_ON
    assert "measurements" in hass.states.get(FALLBACK).attributes["reason"]
    assert hass.states.get(SOC).state == STATE_UNAVAILABLE
    assert inverter[-1] == 0
    assert issues.async_get_issue(DOMAIN, issue_id) is not None

    report(hass, soc=50.0)
    await advance(hass, freezer, 5)
    assert hass.states.get(FALLBACK).state == STATE_OFF
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert value(hass, SOC) == 50.0


async def test_unavailable_sensor_is_named_and_the_rest_keeps_working(
    hass: HomeAssistant, inverter: list[float], freezer: FrozenDateTimeFactory
) -> None:
    entry, _ = await create_live_site(hass)
    ems = entry.runtime_data.ems
    report(hass)
    # The PV sensor drops out: three of four powers are still there, and the last PV value ages.
    hass.states.async_set("sensor.inverter_pv", STATE_UNAVAILABLE)
    await advance(hass, freezer, 5)
    assert ems.link.problems == {"pv_power": "sensor.inverter_pv: is unavailable"}
    for _ in range(4):
        report(hass)
        hass.states.async_set(
            "sensor.inverter_pv", "garbage", {"unit_of_measurement": "kW"}
        )
        await advance(hass, freezer, 5)
    # The last good PV value has aged out: with load unmeasured as well, two powers are missing,
    # and the watchdog says which and why.
    assert not ems.measurement_fresh
    reason = hass.states.get(FALLBACK).attributes["reason"]
    assert "pv_power, load_power: no recent values" in reason
    assert "sensor.inverter_pv: 'garbage' is not a number" in reason
    assert inverter[-1] == 0


async def test_dry_run_writes_nothing_and_off_or_unload_leave_the_battery_idle(
    hass: HomeAssistant, inverter: list[float], freezer: FrozenDateTimeFactory
) -> None:
    entry, _ = await create_live_site(hass)
    ems = entry.runtime_data.ems
    report(hass, soc=50.0)
    await advance(hass, freezer, 5)

    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: DRY_RUN}, blocking=True
    )
    # Entering the dry run leaves the battery idle, then nothing more is written.
    assert inverter[-1] == 0
    count = len(inverter)
    for soc in (40.0, 60.0, 30.0):
        report(hass, soc=soc, grid_w=3000)
        await advance(hass, freezer, 5)
    assert len(inverter) == count
    assert hass.states.get(SETPOINT).attributes["dry_run"] is True

    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: DRY_RUN}, blocking=True
    )
    report(hass, soc=50.0, grid_w=3000)
    await advance(hass, freezer, 5)
    if ems.setpoint_kw != 0:
        assert len(inverter) > count

    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: ENABLED}, blocking=True
    )
    assert float(hass.states.get(NUMBER).state) == 0
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: ENABLED}, blocking=True
    )
    report(hass, soc=50.0, grid_w=3000)
    await advance(hass, freezer, 5)
    assert ems.setpoint_kw != 0, "a site importing 3 kW at 50 % should use the battery"
    assert float(hass.states.get(NUMBER).state) != 0

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert float(hass.states.get(NUMBER).state) == 0


async def test_home_assistant_stopping_leaves_the_battery_idle(
    hass: HomeAssistant, inverter: list[float], freezer: FrozenDateTimeFactory
) -> None:
    entry, _ = await create_live_site(hass)
    report(hass, soc=50.0, grid_w=3000)
    await advance(hass, freezer, 5)
    assert float(hass.states.get(NUMBER).state) != 0
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert float(hass.states.get(NUMBER).state) == 0
    # The control loop has stopped: nothing is written any more.
    count = len(inverter)
    report(hass, soc=50.0, grid_w=3000)
    await advance(hass, freezer, 10)
    assert len(inverter) == count
    assert entry.state is ConfigEntryState.LOADED


async def test_options_change_the_device_of_a_live_site(
    hass: HomeAssistant, inverter: list[float]
) -> None:
    entry, _ = await create_live_site(hass)
    hass.states.async_set("sensor.house_load", "2.5", {"unit_of_measurement": "kW"})
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["settings", "device"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "device"}
    )
    assert result["step_id"] == "device"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], DEVICE_STEP
    )
    assert result["step_id"] == "entities"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**ENTITIES_STEP, "load_power_entity": "sensor.house_load"},
    )
    assert result["step_id"] == "connection_test"
    assert "- load_power: 2.500 kW" in result["description_placeholders"]["values"]
    options_before = dict(entry.options)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.data[SECTION_DEVICE]["load_power_entity"] == "sensor.house_load"
    assert dict(entry.options) == options_before
    assert entry.state is ConfigEntryState.LOADED
    # The reloaded site reads the new sensor.
    assert value(hass, LOAD) == pytest.approx(2.5)


async def test_options_settings_of_a_live_site_are_validated(
    hass: HomeAssistant, inverter: list[float]
) -> None:
    entry, _ = await create_live_site(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    assert result["step_id"] == "settings"
    sections = {
        "ems": {
            "optimization_interval_minutes": 15,
            "control_interval_seconds": 5,
            "engine": "highs",
        },
        "strategies": dict(DEFAULT_STRATEGIES),
        "forecasts": FORECASTS_INPUT,
    }
    sections["ems"]["mqtt_base_topic"] = "bad/#/topic"
    sections["ems"]["fallback"] = "self_consumption"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], sections
    )
    assert result["errors"] == {"mqtt_base_topic": "invalid_topic"}
    sections["ems"]["mqtt_base_topic"] = ""
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], sections
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options["ems"]["fallback"] == "self_consumption"
    assert entry.runtime_data.ems.fallback.value == "self_consumption"
