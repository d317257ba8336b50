"""Live mode over Modbus, end to end: the config flow, the control loop and faults.

The site's device is a real pymodbus TCP server on 127.0.0.1 playing a battery inverter
(tests/modbus_inverter.py): its battery runs at the setpoint the EMS writes into its holding
register, so the state of charge moves with what the EMS commands. Home Assistant, the
integration, its Modbus client and the server are all real; nothing is mocked.

The wall clock is frozen (freezegun) and moved on one control interval at a time, so the age of
measurements and the write policy are exact. The event loop's clock stays real
(``real_loop_clock``): pymodbus pauses 0.1 s after each connect and the fake battery ticks every
50 ms of it, which a frozen loop clock would never let happen. ``advance`` therefore fires the
timers due within one control interval of the real loop clock. The device's reconnect backoff
runs on real time as well.
"""

from __future__ import annotations

from datetime import timedelta
import time
from typing import TYPE_CHECKING, Any

import freezegun.api
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
from homeassistant.data_entry_flow import FlowResultType, section
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.phoenyra_ems.const import (
    CONF_CAPACITY_KWH,
    CONF_CONNECTION,
    CONF_INVERT_SETPOINT,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_MODE,
    CONF_REGISTER_MAP,
    CONF_SETPOINT_TARGET,
    CONF_SOC_MAX,
    CONF_SOC_MIN,
    CONF_TRANSPORT,
    CONF_WRITE_DEADBAND_KW,
    CONF_WRITE_MIN_SECONDS,
    DOMAIN,
    MODE_LIVE,
    SECTION_BATTERY,
    SECTION_DEVICE,
    TARGET_MODBUS,
    TRANSPORT_ENTITIES,
    TRANSPORT_MODBUS,
)
from custom_components.phoenyra_ems.engine.registers import SETPOINT, SIGNALS
from tests.modbus_inverter import BATTERY, LOAD_KW, MAP, PV_KW, FakeInverter, free_port

from .conftest import SITE_NAME, site_input

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant
    import voluptuous as vol

    from custom_components.phoenyra_ems.device import ModbusLink

pytestmark = pytest.mark.usefixtures("socket_enabled")

SOC = "sensor.test_site_state_of_charge"
BATTERY_POWER = "sensor.test_site_battery_power"
SETPOINT_SENSOR = "sensor.test_site_battery_setpoint"
GRID = "sensor.test_site_grid_power"
PV = "sensor.test_site_pv_power"
LOAD = "sensor.test_site_load_power"
MEASURED = (SOC, BATTERY_POWER, GRID, PV, LOAD)
ENABLED = "switch.test_site_ems_enabled"
DRY_RUN = "switch.test_site_dry_run"
FALLBACK = "binary_sensor.test_site_safe_fallback_active"

# The default control interval; measurements older than three of them are stale.
CONTROL = timedelta(seconds=5)
# The site's battery is the fake inverter's: charges at up to 4 kW, discharges at up to 5 kW.
BATTERY_INPUT = {
    CONF_CAPACITY_KWH: BATTERY.capacity_kwh,
    CONF_MAX_CHARGE_KW: BATTERY.max_charge_kw,
    CONF_MAX_DISCHARGE_KW: BATTERY.max_discharge_kw,
    CONF_SOC_MIN: BATTERY.soc_min_pct,
    CONF_SOC_MAX: BATTERY.soc_max_pct,
}
# A household far beyond the battery's limits either way: whatever the plan's grid exchange (at most
# 17 kW import and 10 kW export), holding it needs more than the battery can give or take.
HEAVY_LOAD = {"load_kw": 30.0, "pv_kw": 0.0}
STRONG_PV = {"load_kw": 0.0, "pv_kw": 30.0}
# The fake battery runs at 100 times real time: a percent of charge in well under a second at full
# power, and no empty battery within a test.
INVERTER_PACE = {"simulated_s_per_tick": 5.0}
DEVICE_INPUT = {CONF_TRANSPORT: TRANSPORT_MODBUS, CONF_SETPOINT_TARGET: TARGET_MODBUS}
HOST = "127.0.0.1"
TIMEOUT_S = 1.0


def live_site_input() -> dict[str, Any]:
    """The user step of a live site whose battery is the fake inverter's."""
    return {**site_input(**{SECTION_BATTERY: BATTERY_INPUT}), CONF_MODE: MODE_LIVE}


def modbus_input(port: int, host: str = HOST) -> dict[str, Any]:
    """The Modbus step: TCP to the fake inverter; unit id and orders as the form proposes."""
    return {"protocol": "tcp", "host": host, "port": port, "timeout_s": TIMEOUT_S}


def registers_input(**changes: dict[str, Any] | None) -> dict[str, Any]:
    """The registers step with DEFAULT_REGISTER_MAP's layout; None leaves an entry's address empty."""
    sections: dict[str, Any] = {}
    for name in (*SIGNALS, SETPOINT):
        spec = MAP.to_dict()[name]
        fields = {
            key: spec[key] for key in ("address", "register_type", "data_type", "scale")
        }
        change = changes.get(name, {})
        sections[name] = (
            {key: value for key, value in fields.items() if key != "address"}
            if change is None
            else {**fields, **change}
        )
    return sections


def device_data(port: int) -> dict[str, Any]:
    """What the config flow stores of the device for DEVICE_INPUT, modbus_input and registers_input."""
    return {
        CONF_TRANSPORT: TRANSPORT_MODBUS,
        CONF_SETPOINT_TARGET: TARGET_MODBUS,
        CONF_INVERT_SETPOINT: False,
        CONF_WRITE_DEADBAND_KW: 0.05,
        CONF_WRITE_MIN_SECONDS: 10.0,
        CONF_CONNECTION: {
            "transport": "tcp",
            "host": HOST,
            "port": port,
            "timeout_s": TIMEOUT_S,
        },
        CONF_REGISTER_MAP: MAP.to_dict(),
    }


def live_config_entry(port: int, **device: Any) -> MockConfigEntry:
    """The entry the config flow creates for the fake inverter on ``port`` (``device`` changed)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=SITE_NAME,
        unique_id="test_site",
        data={**live_site_input(), SECTION_DEVICE: {**device_data(port), **device}},
    )


@pytest.fixture(autouse=True)
def real_loop_clock(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Freeze the wall clock, and keep the event loop on the real one.

    Home Assistant's test loop reads its time from ``time.monotonic``, which freezegun freezes;
    freezegun's own ``real_asyncio`` does not reach it.
    """
    hass.loop.time = freezegun.api.real_monotonic  # type: ignore[method-assign]


@pytest.fixture
async def inverter(request: pytest.FixtureRequest) -> AsyncGenerator[FakeInverter]:
    """The fake inverter at 50 %; indirect parametrization passes other FakeInverter arguments."""
    fake = FakeInverter(
        **{"soc_pct": 50.0, **INVERTER_PACE, **getattr(request, "param", {})}
    )
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def live_entry(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, inverter: FakeInverter
) -> AsyncGenerator[MockConfigEntry]:
    """The live site on the fake inverter, set up at a fixed moment (a Tuesday noon in Vienna)."""
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to("2026-05-12T10:00:00+00:00")
    entry = live_config_entry(inverter.port)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    yield entry
    if entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


def value(hass: HomeAssistant, entity_id: str) -> float:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return float(state.state)


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def link_of(entry: MockConfigEntry) -> ModbusLink:
    link: ModbusLink = entry.runtime_data.ems.link
    return link


def watchdog_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"watchdog_{entry.entry_id}")


async def fire(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta
) -> None:
    """Move the wall clock on by ``delta`` and run the timers due within it on the loop's real clock."""
    freezer.tick(delta)
    async_fire_time_changed(hass, dt_util.utcnow() + delta)
    await hass.async_block_till_done(wait_background_tasks=True)


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, intervals: int = 1
) -> None:
    """Move on by control intervals: each polls the device and runs the control loop once."""
    for _ in range(intervals):
        await fire(hass, freezer, CONTROL)


async def wait_real(
    hass: HomeAssistant, condition: Callable[[], bool], timeout_s: float = 5.0
) -> None:
    """Let the event loop run in real time (the test's clock stays frozen) until ``condition()``."""
    step_s = 0.02
    for _ in range(round(timeout_s / step_s)):
        if condition():
            return
        await hass.async_add_executor_job(time.sleep, step_s)
    assert condition(), "condition not met in time"


async def advance_until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    condition: Callable[[], bool],
    timeout_s: float = 10.0,
) -> None:
    """Move on by control intervals until ``condition()``.

    Between intervals real time passes too, for what runs on the real clock (the device's
    reconnect backoff).
    """
    step_s = 0.1
    for _ in range(round(timeout_s / step_s)):
        if condition():
            return
        await advance(hass, freezer)
        await hass.async_add_executor_job(time.sleep, step_s)
    assert condition(), "condition not met in time"


def suggested(schema: vol.Schema, key: str) -> Any:
    """The value a form proposes for ``key`` (its suggested value, or its default)."""
    for marker in schema.schema:
        if marker == key:
            if marker.description and "suggested_value" in marker.description:
                return marker.description["suggested_value"]
            return marker.default()
    raise KeyError(key)


# --- The config flow --------------------------------------------------------------------------


async def _start_live_flow(hass: HomeAssistant, port: int) -> dict[str, Any]:
    """Go through the user, device and Modbus steps; return the registers form."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], live_site_input()
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "device"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], DEVICE_INPUT
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "modbus"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], modbus_input(port)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "registers"
    assert result["errors"] == {}
    return dict(result)


async def test_config_flow_reads_the_device_and_creates_the_site(
    hass: HomeAssistant, inverter: FakeInverter
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], live_site_input()
    )
    assert result["step_id"] == "device"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], DEVICE_INPUT
    )
    assert result["step_id"] == "modbus"
    schema = result["data_schema"]
    assert suggested(schema, "protocol") == "tcp"
    assert suggested(schema, "port") == 502
    assert suggested(schema, "unit_id") == 1
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], modbus_input(inverter.port)
    )
    assert result["step_id"] == "registers"
    # One section per map entry, proposing the generic layout.
    schema = result["data_schema"]
    assert [str(marker) for marker in schema.schema] == [*SIGNALS, SETPOINT]
    for marker, field in schema.schema.items():
        assert isinstance(field, section)
        expected = MAP.to_dict()[str(marker)]
        for key in ("address", "register_type", "data_type", "scale"):
            assert suggested(field.schema, key) == expected[key], (marker, key)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], registers_input()
    )
    # The connection test shows what the device holds before anything is saved.
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "connection_test"
    assert result["description_placeholders"] == {
        "values": "\n".join(
            [
                "- soc: 50.000 %",
                "- battery_power: 0.000 kW",
                f"- grid_power: {LOAD_KW - PV_KW:.3f} kW",
                f"- pv_power: {PV_KW:.3f} kW",
                f"- load_power: {LOAD_KW:.3f} kW",
                "- setpoint: 0.000 kW",
            ]
        ),
        "problems": "-",
    }
    assert hass.config_entries.async_entries(DOMAIN) == []

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == SITE_NAME
    assert result["data"][CONF_MODE] == MODE_LIVE
    assert result["data"][SECTION_DEVICE] == device_data(inverter.port)
    entry = result["result"]
    await hass.async_block_till_done()
    # The new site reads the inverter at once.
    assert entry.state is ConfigEntryState.LOADED
    assert value(hass, SOC) == pytest.approx(50.0)
    assert value(hass, PV) == pytest.approx(PV_KW)
    assert value(hass, LOAD) == pytest.approx(LOAD_KW)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_config_flow_unreachable_device_saves_nothing(
    hass: HomeAssistant,
) -> None:
    port = free_port()
    result = await _start_live_flow(hass, port)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], registers_input()
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "registers"
    assert result["errors"] == {"base": "modbus_unreachable"}
    assert result["description_placeholders"] == {
        "problems": f"Modbus TCP {HOST}:{port}: cannot connect"
    }
    assert hass.config_entries.async_entries(DOMAIN) == []

    # Once the device answers, the same form goes through.
    fake = FakeInverter(soc_pct=40.0, port=port, **INVERTER_PACE)
    await fake.start()
    try:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], registers_input()
        )
        assert result["step_id"] == "connection_test"
        assert "- soc: 40.000 %" in result["description_placeholders"]["values"]
    finally:
        hass.config_entries.flow.async_abort(result["flow_id"])
        await fake.stop()
    assert hass.config_entries.async_entries(DOMAIN) == []


@pytest.mark.parametrize(
    ("changes", "errors", "problem"),
    [
        # The server serves registers 0-299 only.
        (
            {"soc": {"address": 1000}},
            {"base": "modbus_device_exception"},
            "{device}: reading input register 1000 (soc) at unit 1: "
            "the device answered Modbus exception 2 (illegal data address)",
        ),
        # 50.0 % is 500 in 0.1 % steps: read at scale 1 it is no state of charge.
        (
            {"soc": {"scale": 1.0}},
            {"base": "modbus_bad_value"},
            "{device}: soc at input register 100: 500 % is outside 0-100 %",
        ),
        ({SETPOINT: None}, {SETPOINT: "register_required"}, None),
        ({"soc": None}, {"soc": "register_required"}, None),
        (
            {"pv_power": None, "load_power": None},
            {"base": "three_powers_required"},
            None,
        ),
        # Two entries in the same register.
        (
            {"grid_power": {"address": 101}},
            {"grid_power": "invalid_register"},
            "grid_power.address: input register 101 is already used by battery_power",
        ),
    ],
    ids=[
        "unserved_address",
        "implausible_soc",
        "no_setpoint_register",
        "no_soc_register",
        "two_powers",
        "overlapping_registers",
    ],
)
async def test_config_flow_register_map_errors(
    hass: HomeAssistant,
    inverter: FakeInverter,
    changes: dict[str, Any],
    errors: dict[str, str],
    problem: str | None,
) -> None:
    result = await _start_live_flow(hass, inverter.port)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], registers_input(**changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "registers"
    assert result["errors"] == errors
    # The form shows again what was typed.
    typed = registers_input(**changes)
    for marker, field in result["data_schema"].schema.items():
        entry = typed[str(marker)]
        assert suggested(field.schema, "address") == entry.get("address"), marker
        if "address" in entry:
            for key in ("register_type", "data_type", "scale"):
                assert suggested(field.schema, key) == entry[key], (marker, key)
    shown = result["description_placeholders"]["problems"]
    if problem is None:
        assert shown == "-"
    else:
        assert shown == problem.format(device=f"Modbus TCP {HOST}:{inverter.port}")
    assert hass.config_entries.async_entries(DOMAIN) == []

    # Corrected, the flow goes on.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], registers_input()
    )
    assert result["step_id"] == "connection_test"
    hass.config_entries.flow.async_abort(result["flow_id"])


@pytest.mark.parametrize("host", ["", "   "])
async def test_config_flow_invalid_host(
    hass: HomeAssistant, inverter: FakeInverter, host: str
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], live_site_input()
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], DEVICE_INPUT
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], modbus_input(inverter.port, host=host)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "modbus"
    assert result["errors"] == {"host": "invalid_connection"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], modbus_input(inverter.port)
    )
    assert result["step_id"] == "registers"
    hass.config_entries.flow.async_abort(result["flow_id"])


async def test_config_flow_modbus_setpoint_needs_modbus_measurements(
    hass: HomeAssistant,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], live_site_input()
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**DEVICE_INPUT, CONF_TRANSPORT: TRANSPORT_ENTITIES}
    )
    assert result["step_id"] == "device"
    assert result["errors"] == {CONF_SETPOINT_TARGET: "target_needs_modbus"}
    hass.config_entries.flow.async_abort(result["flow_id"])


@pytest.mark.parametrize("entry_point", ["reconfigure", "options"])
async def test_site_moves_to_another_device(
    hass: HomeAssistant,
    live_entry: MockConfigEntry,
    inverter: FakeInverter,
    entry_point: str,
) -> None:
    """Reconfigure (battery, then device) and the options' device menu go through the device steps."""
    entry = live_entry
    other = FakeInverter(soc_pct=70.0, **INVERTER_PACE)
    await other.start()
    try:
        if entry_point == "reconfigure":
            result = await entry.start_reconfigure_flow(hass)
            assert result["step_id"] == "reconfigure"
            site = live_site_input()
            del site["site_name"], site[CONF_MODE]
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], site
            )
            configure = hass.config_entries.flow.async_configure
        else:
            result = await hass.config_entries.options.async_init(entry.entry_id)
            assert result["type"] is FlowResultType.MENU
            assert result["menu_options"] == ["settings", "device"]
            result = await hass.config_entries.options.async_configure(
                result["flow_id"], {"next_step_id": "device"}
            )
            configure = hass.config_entries.options.async_configure
        # The device steps show what is stored.
        assert result["step_id"] == "device"
        device = result["data_schema"]({})
        assert device[CONF_TRANSPORT] == TRANSPORT_MODBUS
        assert device[CONF_SETPOINT_TARGET] == TARGET_MODBUS
        result = await configure(
            result["flow_id"], {**DEVICE_INPUT, CONF_WRITE_DEADBAND_KW: 0.2}
        )
        assert result["step_id"] == "modbus"
        assert suggested(result["data_schema"], "host") == HOST
        assert suggested(result["data_schema"], "port") == inverter.port
        assert suggested(result["data_schema"], "timeout_s") == TIMEOUT_S
        result = await configure(result["flow_id"], modbus_input(other.port))
        assert result["step_id"] == "registers"
        schema = result["data_schema"]
        assert suggested(schema.schema["soc"].schema, "address") == 100
        result = await configure(result["flow_id"], registers_input())
        assert result["step_id"] == "connection_test"
        assert "- soc: 70.000 %" in result["description_placeholders"]["values"]
        # Nothing changed before the values are confirmed.
        assert entry.data[SECTION_DEVICE] == device_data(inverter.port)
        result = await configure(result["flow_id"], {})
        if entry_point == "reconfigure":
            assert result["type"] is FlowResultType.ABORT
            assert result["reason"] == "reconfigure_successful"
        else:
            assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()

        expected = device_data(other.port)
        expected[CONF_WRITE_DEADBAND_KW] = 0.2
        assert entry.data[SECTION_DEVICE] == expected
        assert entry.state is ConfigEntryState.LOADED
        # Reloaded on the other device; the first one was left idle.
        assert value(hass, SOC) == pytest.approx(70.0)
        assert link_of(entry).name == f"Modbus TCP {HOST}:{other.port}"
        assert inverter.writes == [0.0]
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    finally:
        await other.stop()


# --- The running site -------------------------------------------------------------------------


async def test_sensors_show_the_inverters_values(
    hass: HomeAssistant, live_entry: MockConfigEntry, inverter: FakeInverter
) -> None:
    assert live_entry.state is ConfigEntryState.LOADED
    assert value(hass, SOC) == pytest.approx(50.0)
    assert value(hass, BATTERY_POWER) == 0.0
    assert value(hass, GRID) == pytest.approx(LOAD_KW - PV_KW)
    assert value(hass, PV) == pytest.approx(PV_KW)
    assert value(hass, LOAD) == pytest.approx(LOAD_KW)
    setpoint = hass.states.get(SETPOINT_SENSOR)
    assert setpoint is not None
    assert setpoint.attributes["device"] == f"Modbus TCP {HOST}:{inverter.port}"
    assert state_of(hass, FALLBACK) == STATE_OFF
    assert watchdog_issue(hass, live_entry) is None
    # Nothing is written before the first control interval.
    assert inverter.writes == []


@pytest.mark.parametrize("inverter", [HEAVY_LOAD], indirect=True)
async def test_setpoint_is_written_within_limits_and_moves_the_soc(
    hass: HomeAssistant,
    live_entry: MockConfigEntry,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
) -> None:
    ems = live_entry.runtime_data.ems
    await advance(hass, freezer)
    # The load is more than the battery can cover: it discharges at its limit (the control loop
    # asks for no more than the battery's power; the device layer would clamp it as well).
    planned = ems.planned_setpoint_kw(ems.measurement.time)
    assert planned == pytest.approx(BATTERY.max_discharge_kw)
    assert ems.setpoint_kw == BATTERY.max_discharge_kw
    assert ems.written_kw == BATTERY.max_discharge_kw
    assert ems.write_error is None
    assert await inverter.setpoint_kw() == BATTERY.max_discharge_kw
    assert value(hass, SETPOINT_SENSOR) == BATTERY.max_discharge_kw
    attributes = hass.states.get(SETPOINT_SENSOR).attributes
    assert attributes["written_kw"] == BATTERY.max_discharge_kw
    assert attributes["planned_kw"] == pytest.approx(planned, abs=1e-4)

    # The simulated battery discharges (in real time); the sensors follow.
    soc = value(hass, SOC)
    await wait_real(hass, lambda: inverter.battery.soc_pct < soc - 1)
    # One interval to poll, one for the control loop to take the polled values up.
    await advance(hass, freezer, 2)
    assert value(hass, BATTERY_POWER) == pytest.approx(BATTERY.max_discharge_kw)
    assert value(hass, GRID) == pytest.approx(30.0 - BATTERY.max_discharge_kw)
    assert value(hass, SOC) < soc - 1
    # Unchanged setpoints are not written again (flash wear).
    assert inverter.writes == [BATTERY.max_discharge_kw]

    # A PV surplus beyond the charge limit: the battery charges at its limit.
    inverter.load_kw, inverter.pv_kw = STRONG_PV["load_kw"], STRONG_PV["pv_kw"]
    await advance(hass, freezer, 3)
    assert await inverter.setpoint_kw() == -BATTERY.max_charge_kw
    soc = value(hass, SOC)
    await wait_real(hass, lambda: inverter.battery.soc_pct > soc + 1)
    await advance(hass, freezer, 2)
    assert value(hass, BATTERY_POWER) == pytest.approx(-BATTERY.max_charge_kw)
    assert value(hass, GRID) == pytest.approx(-30.0 + BATTERY.max_charge_kw)
    assert value(hass, SOC) > soc + 1
    assert inverter.writes == [BATTERY.max_discharge_kw, -BATTERY.max_charge_kw]


@pytest.mark.parametrize("inverter", [HEAVY_LOAD], indirect=True)
async def test_inverted_setpoint_register(
    hass: HomeAssistant,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A device that counts charging as positive gets the setpoint negated (and verified so)."""
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to("2026-05-12T10:00:00+00:00")
    entry = live_config_entry(inverter.port, **{CONF_INVERT_SETPOINT: True})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ems = entry.runtime_data.ems
    await advance(hass, freezer)
    # The EMS discharges at the limit; the device's register says so in its own sign.
    assert ems.setpoint_kw == BATTERY.max_discharge_kw
    assert ems.write_error is None
    assert ems.written_kw == BATTERY.max_discharge_kw
    assert await inverter.setpoint_kw() == -BATTERY.max_discharge_kw
    assert inverter.writes == [-BATTERY.max_discharge_kw]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await inverter.setpoint_kw() == 0.0


@pytest.mark.parametrize(
    "inverter", [{**HEAVY_LOAD, "soc_pct": BATTERY.soc_min_pct}], indirect=True
)
async def test_empty_battery_is_not_discharged(
    hass: HomeAssistant,
    live_entry: MockConfigEntry,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
) -> None:
    await advance(hass, freezer, 3)
    assert value(hass, SOC) == pytest.approx(BATTERY.soc_min_pct)
    assert await inverter.setpoint_kw() == 0.0
    assert inverter.writes == [0.0]


@pytest.mark.parametrize(
    "inverter", [{**HEAVY_LOAD, "setpoint_limit_kw": 2.0}], indirect=True
)
async def test_setpoint_the_device_does_not_keep_is_reported(
    hass: HomeAssistant,
    live_entry: MockConfigEntry,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
) -> None:
    ems = live_entry.runtime_data.ems
    await advance(hass, freezer)
    # The inverter keeps its own 2 kW limit: the read-back shows it.
    assert inverter.writes == [BATTERY.max_discharge_kw]
    assert await inverter.setpoint_kw() == 2.0
    assert ems.write_error is not None
    assert "reads back" in ems.write_error
    assert state_of(hass, FALLBACK) == STATE_ON
    issue = watchdog_issue(hass, live_entry)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["reason"].startswith("setpoint: ")


@pytest.mark.parametrize(
    "inverter", [{**HEAVY_LOAD, "setpoint_limit_kw": 2.0}], indirect=True
)
async def test_refused_setpoint_is_not_rewritten_every_interval(
    hass: HomeAssistant,
    live_entry: MockConfigEntry,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
) -> None:
    # 30 seconds: with a write at most every 10 seconds (flash wear), three writes at most.
    await advance(hass, freezer, 6)
    assert state_of(hass, FALLBACK) == STATE_ON
    assert len(inverter.writes) <= 3, inverter.writes


@pytest.mark.parametrize("inverter", [HEAVY_LOAD], indirect=True)
async def test_dry_run_writes_nothing(
    hass: HomeAssistant,
    live_entry: MockConfigEntry,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
) -> None:
    ems = live_entry.runtime_data.ems
    await advance(hass, freezer)
    assert await inverter.setpoint_kw() == BATTERY.max_discharge_kw

    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: DRY_RUN}, blocking=True
    )
    assert state_of(hass, DRY_RUN) == STATE_ON
    # The battery is left idle when the dry run starts; after that nothing is written.
    assert await inverter.setpoint_kw() == 0.0
    writes = list(inverter.writes)
    assert writes[-1] == 0.0
    inverter.load_kw, inverter.pv_kw = STRONG_PV["load_kw"], STRONG_PV["pv_kw"]
    await advance(hass, freezer, 6)
    assert inverter.writes == writes
    assert await inverter.setpoint_kw() == 0.0
    # What it would write is shown.
    assert value(hass, SETPOINT_SENSOR) == -BATTERY.max_charge_kw
    assert hass.states.get(SETPOINT_SENSOR).attributes["dry_run"] is True
    assert ems.setpoint_kw == -BATTERY.max_charge_kw

    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: DRY_RUN}, blocking=True
    )
    await advance(hass, freezer)
    assert await inverter.setpoint_kw() == -BATTERY.max_charge_kw
    assert inverter.writes == [*writes, -BATTERY.max_charge_kw]


@pytest.mark.parametrize("inverter", [HEAVY_LOAD], indirect=True)
async def test_switching_the_ems_off_writes_idle(
    hass: HomeAssistant,
    live_entry: MockConfigEntry,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
) -> None:
    await advance(hass, freezer)
    assert await inverter.setpoint_kw() == BATTERY.max_discharge_kw

    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: ENABLED}, blocking=True
    )
    assert state_of(hass, ENABLED) == STATE_OFF
    assert await inverter.setpoint_kw() == 0.0
    assert inverter.writes[-1] == 0.0
    await advance(hass, freezer, 2)
    soc = value(hass, SOC)
    await advance(hass, freezer, 4)
    # Held idle: the battery rests while the load goes on.
    assert await inverter.setpoint_kw() == 0.0
    assert value(hass, BATTERY_POWER) == 0.0
    assert value(hass, SOC) == pytest.approx(soc, abs=0.1)
    assert value(hass, SETPOINT_SENSOR) == 0.0

    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: ENABLED}, blocking=True
    )
    await advance(hass, freezer)
    assert await inverter.setpoint_kw() == BATTERY.max_discharge_kw


@pytest.mark.parametrize("inverter", [HEAVY_LOAD], indirect=True)
@pytest.mark.parametrize("ending", ["unload", "home_assistant_stops"])
async def test_site_ending_writes_idle_and_disconnects(
    hass: HomeAssistant,
    live_entry: MockConfigEntry,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
    ending: str,
) -> None:
    await advance(hass, freezer)
    assert await inverter.setpoint_kw() == BATTERY.max_discharge_kw
    link = link_of(live_entry)
    assert link.device.connected

    if ending == "unload":
        assert await hass.config_entries.async_unload(live_entry.entry_id)
        await hass.async_block_till_done()
        assert live_entry.state is ConfigEntryState.NOT_LOADED
        assert state_of(hass, SOC) == STATE_UNAVAILABLE
    else:
        # Home Assistant stops without unloading its entries.
        hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
        await hass.async_block_till_done()
    assert await inverter.setpoint_kw() == 0.0
    assert inverter.writes == [BATTERY.max_discharge_kw, 0.0]
    assert not link.device.connected
    # Nothing polls or writes any more.
    await advance(hass, freezer, 3)
    assert inverter.writes == [BATTERY.max_discharge_kw, 0.0]
    assert not link.device.connected


# --- Faults -----------------------------------------------------------------------------------


async def _lose_the_device(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Stop the server of a site that discharges at 5 kW; check what the site does without it."""
    ems = entry.runtime_data.ems
    link = link_of(entry)
    await advance(hass, freezer)
    assert await inverter.setpoint_kw() == BATTERY.max_discharge_kw
    assert state_of(hass, FALLBACK) == STATE_OFF

    await inverter.stop()
    await wait_real(hass, lambda: not link.device.connected)
    # The first failed poll makes the measurements unavailable; the last values stay usable for
    # three control intervals, so the EMS keeps following its plan.
    await advance(hass, freezer, 2)
    assert not link.available
    for entity_id in MEASURED:
        assert state_of(hass, entity_id) == STATE_UNAVAILABLE, entity_id
    assert state_of(hass, FALLBACK) == STATE_OFF
    assert watchdog_issue(hass, entry) is None
    # Older than three control intervals: the watchdog holds the battery idle and says why.
    await advance(hass, freezer, 2)
    assert state_of(hass, FALLBACK) == STATE_ON
    assert ems.watchdog_reason is not None
    assert ems.watchdog_reason.startswith("measurements: soc: no recent value")
    issue = watchdog_issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "watchdog"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert value(hass, SETPOINT_SENSOR) == 0.0
    await advance(hass, freezer, 3)
    assert state_of(hass, FALLBACK) == STATE_ON
    assert ems.write_error is not None
    # The idle command could not reach the device, which still holds its last setpoint.
    assert inverter.writes == [BATTERY.max_discharge_kw]


# Full enough that the battery can discharge at full power throughout.
@pytest.mark.parametrize("inverter", [{**HEAVY_LOAD, "soc_pct": 80.0}], indirect=True)
async def test_device_lost_and_back_without_reload(
    hass: HomeAssistant,
    live_entry: MockConfigEntry,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
) -> None:
    ems = live_entry.runtime_data.ems
    link = link_of(live_entry)
    await _lose_the_device(hass, live_entry, inverter, freezer)

    # Back on the same port, with a PV surplus now: the site recovers by itself and charges.
    inverter.load_kw, inverter.pv_kw = STRONG_PV["load_kw"], STRONG_PV["pv_kw"]
    await inverter.start()
    await advance_until(
        hass,
        freezer,
        lambda: ems.watchdog_reason is None
        and inverter.writes[-1] == -BATTERY.max_charge_kw,
    )
    await advance(hass, freezer)
    assert live_entry.state is ConfigEntryState.LOADED
    assert live_entry.runtime_data.ems is ems
    assert link.available
    for entity_id in MEASURED:
        assert state_of(hass, entity_id) != STATE_UNAVAILABLE, entity_id
    assert value(hass, PV) == pytest.approx(STRONG_PV["pv_kw"])
    assert value(hass, LOAD) == 0.0
    assert state_of(hass, FALLBACK) == STATE_OFF
    assert watchdog_issue(hass, live_entry) is None
    assert ems.write_error is None
    assert await inverter.setpoint_kw() == -BATTERY.max_charge_kw
    # Never beyond the battery's limits, whatever happened (the idle command may or may not have
    # reached the device before its measurements did).
    assert inverter.writes[0] == BATTERY.max_discharge_kw
    assert inverter.writes[-1] == -BATTERY.max_charge_kw
    assert set(inverter.writes[1:-1]) <= {0.0}


# Full enough that the battery can discharge at full power throughout.
@pytest.mark.parametrize("inverter", [{**HEAVY_LOAD, "soc_pct": 80.0}], indirect=True)
async def test_device_back_with_the_setpoint_it_held(
    hass: HomeAssistant,
    live_entry: MockConfigEntry,
    inverter: FakeInverter,
    freezer: FrozenDateTimeFactory,
) -> None:
    ems = live_entry.runtime_data.ems
    link = link_of(live_entry)
    await _lose_the_device(hass, live_entry, inverter, freezer)

    # Back on the same port; the poll reaches it before the control loop does (one of the
    # orders the two timers can take: connected here at once, whatever the backoff says), and
    # the plan still asks for what the device holds.
    await inverter.start()
    await link.device.connect()
    await link.coordinator.async_refresh()
    assert link.available
    await advance(hass, freezer, 3)
    assert ems.setpoint_kw == BATTERY.max_discharge_kw
    # After failed writes the EMS does not know what the device holds: it writes again, once.
    assert inverter.writes == [BATTERY.max_discharge_kw, BATTERY.max_discharge_kw]
    assert await inverter.setpoint_kw() == BATTERY.max_discharge_kw
    # Nothing is wrong any more.
    assert ems.write_error is None
    assert ems.watchdog_reason is None, ems.watchdog_reason
    assert watchdog_issue(hass, live_entry) is None
    assert state_of(hass, FALLBACK) == STATE_OFF


async def test_device_unreachable_at_setup_retries(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to("2026-05-12T10:00:00+00:00")
    port = free_port()
    entry = live_config_entry(port)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert f"Modbus TCP {HOST}:{port}: cannot connect" in (entry.reason or "")
    assert hass.states.get(SOC) is None

    fake = FakeInverter(soc_pct=60.0, port=port, **INVERTER_PACE)
    await fake.start()
    try:
        # The retry comes 5 to 5.5 seconds after the failed setup.
        await fire(hass, freezer, timedelta(seconds=10))
        assert entry.state is ConfigEntryState.LOADED
        assert value(hass, SOC) == pytest.approx(60.0)
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    finally:
        await fake.stop()
