"""Live mode over MQTT, with a real mosquitto broker and Home Assistant's real MQTT integration.

The broker, Home Assistant's MQTT client (paho) and the event loop run on real sockets and real time;
the wall clock the EMS reads (when a value arrived, how old it is) is frozen and moved on by the tests,
so that three control intervals of silence take no real time. Waiting for a message over the real
socket is bounded in real time (``until``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import logging
from typing import TYPE_CHECKING, Any

from freezegun import freeze_time
from homeassistant.components import mqtt
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.phoenyra_ems import device_flow
from custom_components.phoenyra_ems.const import (
    CONF_INVERT_BATTERY_POWER,
    CONF_INVERT_GRID_POWER,
    CONF_INVERT_SETPOINT,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_MODE,
    CONF_MQTT_BASE_TOPIC,
    CONF_POWER_UNIT,
    CONF_SETPOINT_TARGET,
    CONF_SETPOINT_TOPIC,
    CONF_TRANSPORT,
    CONF_WRITE_DEADBAND_KW,
    CONF_WRITE_MIN_SECONDS,
    DEFAULT_DEVICE,
    DEFAULT_EMS,
    DEFAULT_FORECASTS,
    DEFAULT_STRATEGIES,
    DOMAIN,
    MODE_DEMO,
    MODE_LIVE,
    SECTION_BATTERY,
    SECTION_DEVICE,
    SECTION_EMS,
    SECTION_FORECASTS,
    SECTION_STRATEGIES,
    TARGET_MQTT,
    TRANSPORT_MQTT,
)
from custom_components.phoenyra_ems.device import MqttLink

from .conftest import site_input
from .mqtt_broker import wait_for_mqtt_connection, wait_for_mqtt_ready
from .test_init import value

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from freezegun.api import FrozenDateTimeFactory

    from custom_components.phoenyra_ems.coordinator import EmsCoordinator

    from .mqtt_broker import MosquittoBroker

SOC = "sensor.test_site_state_of_charge"
BATTERY_POWER = "sensor.test_site_battery_power"
GRID = "sensor.test_site_grid_power"
PV = "sensor.test_site_pv_power"
LOAD = "sensor.test_site_load_power"
SETPOINT = "sensor.test_site_battery_setpoint"
FALLBACK = "binary_sensor.test_site_safe_fallback_active"

# The inverter's topics: the state of charge and the grid power as plain numbers, battery and PV power
# in one JSON document; powers in W, the battery's charging positive.
SOC_TOPIC = "inverter/battery/soc"
STATUS_TOPIC = "inverter/status"
GRID_TOPIC = "inverter/grid/power"
SETPOINT_TOPIC = "inverter/battery/setpoint"
BASE_TOPIC = "phoenyra_ems/test"
# Control interval (the default) and how long a message may take over the real broker.
CONTROL_S = 5
MESSAGE_TIMEOUT = 5.0
# The name of the control loop's task (Home Assistant names it after the timer).
CONTROL_TASK = f"track time interval {float(CONTROL_S)}"
RECONNECT_TIMEOUT = 15.0
# Battery limits of the site: setpoints beyond them must never be published.
MAX_CHARGE_KW = 3.0
MAX_DISCHARGE_KW = 2.5

DEVICE_STEP = {
    CONF_TRANSPORT: TRANSPORT_MQTT,
    CONF_SETPOINT_TARGET: TARGET_MQTT,
    CONF_INVERT_SETPOINT: False,
    CONF_WRITE_DEADBAND_KW: 0.05,
    CONF_WRITE_MIN_SECONDS: 0,
}
TOPICS_STEP = {
    "soc_topic": SOC_TOPIC,
    "battery_power_topic": STATUS_TOPIC,
    "battery_power_json_path": "battery.power",
    "grid_power_topic": GRID_TOPIC,
    "pv_power_topic": STATUS_TOPIC,
    "pv_power_json_path": "pv",
    CONF_POWER_UNIT: "W",
    CONF_SETPOINT_TOPIC: SETPOINT_TOPIC,
    CONF_INVERT_BATTERY_POWER: True,
    CONF_INVERT_GRID_POWER: False,
}
# The measured signals of TOPICS_STEP (load follows from the balance).
SIGNALS = ("soc", "battery_power", "grid_power", "pv_power")
# What keeps real time while the wall clock is frozen: the event loop (the test harness's monotonic,
# which it gives the loop), Home Assistant's MQTT client and paho (keepalive, reconnects, cooldowns).
REAL_TIME_MODULES = [
    "pytest_homeassistant_custom_component.patch_time",
    "homeassistant.components.mqtt",
    "paho",
]


@pytest.fixture
def clock() -> Generator[FrozenDateTimeFactory]:
    """Freeze the wall clock the EMS reads (a Tuesday noon in Vienna); the event loop keeps real time."""
    with freeze_time("2026-05-12T10:00:00+00:00", ignore=REAL_TIME_MODULES) as frozen:
        yield frozen


async def until(condition: Callable[[], bool], within: float = MESSAGE_TIMEOUT) -> None:
    """Wait, at most ``within`` real seconds, until ``condition`` holds (a message went over the broker)."""
    async with asyncio.timeout(within):
        # Polled: the conditions are state of the integration that no event announces.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def advance(
    hass: HomeAssistant, clock: FrozenDateTimeFactory, seconds: float
) -> None:
    """Move the wall clock on in control-interval steps, running the control loop at each.

    The control loop's timer runs on the event loop's real clock: fired at once rather than waited for.
    """
    for _ in range(int(seconds // CONTROL_S)):
        clock.tick(timedelta(seconds=CONTROL_S))
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=CONTROL_S))
        await hass.async_block_till_done()
        # The tick runs as a background task; waiting for all of those would wait for Home
        # Assistant's MQTT client, which keeps one running for good.
        if ticks := {
            task for task in asyncio.all_tasks() if task.get_name() == CONTROL_TASK
        }:
            await asyncio.wait(ticks)


class Inbox:
    """What a subscription received: (topic, payload, retained) in order of arrival."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, bool]] = []

    @callback
    def receive(self, message: mqtt.ReceiveMessage) -> None:
        payload = message.payload
        if isinstance(payload, bytes):
            payload = payload.decode()
        self.messages.append((message.topic, str(payload), bool(message.retain)))

    def topics(self, retained: bool | None = None) -> set[str]:
        return {t for t, _, r in self.messages if retained is None or r == retained}

    def payloads(self, topic: str) -> list[str]:
        return [payload for t, payload, _ in self.messages if t == topic]

    def setpoints(self) -> list[dict[str, Any]]:
        return [json.loads(payload) for payload in self.payloads(SETPOINT_TOPIC)]


async def publish(
    hass: HomeAssistant, topic: str, payload: str, retain: bool = False
) -> None:
    """The inverter publishes (through the same broker)."""
    await mqtt.async_publish(hass, topic, payload, qos=1, retain=retain)


def payloads(
    soc: float = 60.0,
    battery_w: float = 500.0,
    grid_w: float = 800.0,
    pv_w: float = 1200.0,
) -> dict[str, str]:
    """What the inverter publishes: battery charging positive, powers in W."""
    return {
        SOC_TOPIC: f"{soc}",
        STATUS_TOPIC: json.dumps({"battery": {"power": battery_w}, "pv": pv_w}),
        GRID_TOPIC: f"{grid_w}",
    }


async def report(hass: HomeAssistant, retain: bool = False, **values: float) -> None:
    """The inverter publishes its values."""
    for topic, payload in payloads(**values).items():
        await publish(hass, topic, payload, retain)


def arrived(ems: EmsCoordinator, *signals: str) -> Callable[[], bool]:
    """Whether the site received a value of each signal at the (frozen) time now."""

    def check() -> bool:
        now = dt_util.now()
        readings = ems.link.readings(now)
        return all(
            signal in readings and readings[signal].time == now
            for signal in signals or SIGNALS
        )

    return check


async def report_and_tick(
    hass: HomeAssistant,
    clock: FrozenDateTimeFactory,
    ems: EmsCoordinator,
    **values: Any,
) -> None:
    """The inverter reports; once the site has every value, one control interval passes."""
    await report(hass, **values)
    await until(arrived(ems))
    await advance(hass, clock, CONTROL_S)


async def listen(hass: HomeAssistant, topic: str) -> Inbox:
    """Subscribe to ``topic`` (wildcards allowed) through Home Assistant's MQTT client."""
    inbox = Inbox()
    await mqtt.async_subscribe(hass, topic, inbox.receive, qos=1)
    return inbox


async def start_flow(hass: HomeAssistant, **battery: float) -> dict[str, Any]:
    """Run the flow up to the MQTT topics step."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**site_input(**{SECTION_BATTERY: battery}), CONF_MODE: MODE_LIVE},
    )
    assert result["step_id"] == "device"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], DEVICE_STEP
    )
    assert result["step_id"] == "mqtt_topics"
    return result


async def create_live_site(hass: HomeAssistant) -> tuple[MockConfigEntry, str]:
    """Set up a live site on the inverter's topics through the flow (the values retained beforehand).

    Returns the entry and what the connection test showed.
    """
    await report(hass, retain=True)
    result = await start_flow(
        hass,
        **{CONF_MAX_CHARGE_KW: MAX_CHARGE_KW, CONF_MAX_DISCHARGE_KW: MAX_DISCHARGE_KW},
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], TOPICS_STEP
    )
    assert result["step_id"] == "connection_test", result.get("errors")
    shown = result["description_placeholders"]["values"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return result["result"], shown


@pytest.fixture
async def site(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry, clock: FrozenDateTimeFactory
) -> EmsCoordinator:
    """A running live site on the inverter's topics, with a first measurement taken."""
    await hass.config.async_set_time_zone("Europe/Vienna")
    entry, _ = await create_live_site(hass)
    ems: EmsCoordinator = entry.runtime_data.ems
    # The retained values arrive once the subscriptions are in place at the broker.
    await until(arrived(ems))
    await advance(hass, clock, CONTROL_S)
    assert ems.measurement_fresh, ems.measurement_error
    return ems


# The config flow.


async def test_flow_listens_to_the_topics_and_creates_a_live_site(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry
) -> None:
    entry, shown = await create_live_site(hass)
    # What the connection test showed: in the EMS's units and signs (the battery charges 500 W).
    assert "- soc: 60.000 %" in shown
    assert "- battery_power: -0.500 kW" in shown
    assert "- grid_power: 0.800 kW" in shown
    assert "- pv_power: 1.200 kW" in shown
    device = entry.data[SECTION_DEVICE]
    assert device[CONF_TRANSPORT] == TRANSPORT_MQTT
    assert device["soc_topic"] == SOC_TOPIC
    assert device["pv_power_json_path"] == "pv"
    assert device[CONF_SETPOINT_TOPIC] == SETPOINT_TOPIC
    assert "load_power_topic" not in device
    assert entry.state is ConfigEntryState.LOADED
    ems = entry.runtime_data.ems
    # The site subscribed: the retained values reach it.
    await until(lambda: set(SIGNALS) <= set(ems.link.readings(dt_util.now())))
    assert ems.link.problems == {}


@pytest.mark.parametrize(
    ("topics", "field", "error", "problem"),
    [
        ({"soc_topic": "inverter/#/soc"}, "soc_topic", "invalid_topic", None),
        (
            {CONF_SETPOINT_TOPIC: "inverter/+/setpoint"},
            CONF_SETPOINT_TOPIC,
            "invalid_topic",
            None,
        ),
        (
            {"soc_topic": "inverter/quiet/soc"},
            "soc_topic",
            "topic_silent",
            "inverter/quiet/soc: no message within",
        ),
        (
            {"soc_topic": "inverter/text/soc"},
            "soc_topic",
            "topic_unreadable",
            "'full' is not a number",
        ),
        (
            {"soc_topic": "inverter/nan/soc"},
            "soc_topic",
            "topic_unreadable",
            "'nan' is not a number",
        ),
        (
            {"pv_power_topic": None, "pv_power_json_path": None},
            "base",
            "three_powers_required",
            None,
        ),
    ],
)
async def test_flow_refuses_topics_that_cannot_work_and_loses_nothing(
    hass: HomeAssistant,
    mqtt_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    topics: dict[str, Any],
    field: str,
    error: str,
    problem: str | None,
) -> None:
    monkeypatch.setattr(device_flow, "MQTT_TEST_SECONDS", 0.5)
    await report(hass, retain=True)
    await publish(hass, "inverter/text/soc", "full", retain=True)
    await publish(hass, "inverter/nan/soc", "nan", retain=True)
    result = await start_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {k: v for k, v in {**TOPICS_STEP, **topics}.items() if v is not None},
    )
    assert result["step_id"] == "mqtt_topics"
    assert result["errors"] == {field: error}
    if problem is not None:
        assert problem in result["description_placeholders"]["problems"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], TOPICS_STEP
    )
    assert result["step_id"] == "connection_test"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_flow_reports_a_silent_power_topic_without_refusing_it(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_flow, "MQTT_TEST_SECONDS", 0.5)
    await report(hass, retain=True)
    result = await start_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**TOPICS_STEP, "load_power_topic": "inverter/load"}
    )
    # A device may publish a power only when it changes: named, not refused.
    assert result["step_id"] == "connection_test"
    assert (
        "inverter/load: no message within 0.5 s"
        in result["description_placeholders"]["problems"]
    )


async def test_flow_needs_the_mqtt_integration(hass: HomeAssistant) -> None:
    result = await start_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], TOPICS_STEP
    )
    assert result["step_id"] == "mqtt_topics"
    assert result["errors"] == {"base": "mqtt_unavailable"}


async def test_a_site_waits_for_the_mqtt_integration(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Test site",
        unique_id="test_site",
        data={
            **site_input(),
            CONF_MODE: MODE_LIVE,
            SECTION_DEVICE: {**DEVICE_STEP, **TOPICS_STEP},
        },
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    # Not an error: Home Assistant tries again until MQTT is there.
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "MQTT integration is not set up" in str(entry.reason)


# The running site.


async def test_topics_reach_the_sensors_and_the_setpoint_stays_within_limits(
    hass: HomeAssistant, site: EmsCoordinator, clock: FrozenDateTimeFactory
) -> None:
    ems = site
    inbox = await listen(hass, SETPOINT_TOPIC)
    # Units and signs: W to kW, the battery's charging 500 W is -0.5 kW, load from the balance.
    assert value(hass, SOC) == 60.0
    assert value(hass, BATTERY_POWER) == pytest.approx(-0.5)
    assert value(hass, GRID) == pytest.approx(0.8)
    assert value(hass, PV) == pytest.approx(1.2)
    assert value(hass, LOAD) == pytest.approx(1.5)
    assert hass.states.get(FALLBACK).state == STATE_OFF

    # The site imports 4 kW at 50 %: the battery discharges, at most as fast as it may.
    await report_and_tick(
        hass, clock, ems, soc=50.0, battery_w=0.0, grid_w=4000.0, pv_w=0.0
    )
    await until(lambda: bool(inbox.setpoints()))
    sent = inbox.setpoints()[-1]
    assert sent["power_kw"] == pytest.approx(ems.setpoint_kw)
    assert 0 < sent["power_kw"] <= MAX_DISCHARGE_KW
    assert sent["power_w"] == round(sent["power_kw"] * 1000)
    assert sent["mode"] == "discharge"
    assert hass.states.get(SETPOINT).attributes["written_kw"] == pytest.approx(
        sent["power_kw"]
    )

    # At the top of the SoC window the battery may not charge, at the bottom not discharge.
    await report_and_tick(
        hass, clock, ems, soc=90.0, battery_w=0.0, grid_w=-4000.0, pv_w=5000.0
    )
    assert ems.setpoint_kw >= 0
    await report_and_tick(
        hass, clock, ems, soc=10.0, battery_w=0.0, grid_w=4000.0, pv_w=0.0
    )
    assert ems.setpoint_kw <= 0
    await until(
        lambda: inbox.setpoints()[-1]["power_kw"] == pytest.approx(ems.setpoint_kw)
    )
    for sent in inbox.setpoints():
        assert -MAX_CHARGE_KW <= sent["power_kw"] <= MAX_DISCHARGE_KW

    # Unloading leaves the battery idle.
    count = len(inbox.setpoints())
    assert await hass.config_entries.async_unload(ems.config_entry.entry_id)
    await hass.async_block_till_done()
    if ems.setpoint_kw != 0:
        await until(lambda: len(inbox.setpoints()) > count)
    assert inbox.setpoints()[-1] == {"power_kw": 0.0, "power_w": 0, "mode": "idle"}


# The site imports 4 kW at 50 %: the plan discharges the battery, so that going idle shows.
IMPORTING = {"soc": 50.0, "battery_w": 0.0, "grid_w": 4000.0, "pv_w": 0.0}


@pytest.mark.parametrize(
    ("topic", "payload", "broken", "problem"),
    [
        (
            SOC_TOPIC,
            "garbage",
            ("soc",),
            f"{SOC_TOPIC}: payload: 'garbage' is not a number",
        ),
        (SOC_TOPIC, "NaN", ("soc",), "'NaN' is not a number"),
        (SOC_TOPIC, "", ("soc",), "'' is not a number"),
        (GRID_TOPIC, "inf", ("grid_power",), "'inf' is not a number"),
        (STATUS_TOPIC, '{"pv": 0}', ("battery_power",), "has no 'battery.power'"),
        (
            STATUS_TOPIC,
            '{"battery": {"power": true}, "pv": 0}',
            ("battery_power",),
            "True is not a number",
        ),
        (STATUS_TOPIC, "{broken", ("battery_power", "pv_power"), "is not JSON"),
    ],
)
async def test_malformed_payloads_keep_the_last_good_value_and_are_named(
    hass: HomeAssistant,
    site: EmsCoordinator,
    clock: FrozenDateTimeFactory,
    topic: str,
    payload: str,
    broken: tuple[str, ...],
    problem: str,
) -> None:
    ems = site
    inbox = await listen(hass, SETPOINT_TOPIC)
    await report_and_tick(hass, clock, ems, **IMPORTING)
    assert ems.setpoint_kw > 0
    shown = {
        entity_id: value(hass, entity_id)
        for entity_id in (SOC, BATTERY_POWER, GRID, PV)
    }
    good = set(SIGNALS) - set(broken)

    async def send_malformed() -> None:
        for each, good_payload in payloads(**IMPORTING).items():
            await publish(hass, each, payload if each == topic else good_payload)
        await until(arrived(ems, *good))
        await until(
            lambda: all(
                problem in ems.link.problems.get(signal, "") for signal in broken
            )
        )

    # Ignored: the last good value counts while it is recent, and the site carries on.
    await send_malformed()
    await advance(hass, clock, CONTROL_S)
    assert ems.measurement_fresh
    assert hass.states.get(FALLBACK).state == STATE_OFF
    assert {entity_id: value(hass, entity_id) for entity_id in shown} == shown

    # Once the last good value is older than three control intervals, the watchdog names why.
    for _ in range(3):
        await send_malformed()
        await advance(hass, clock, CONTROL_S)
    fallback = hass.states.get(FALLBACK)
    assert fallback.state == STATE_ON
    assert problem in fallback.attributes["reason"]
    assert problem in fallback.attributes["measurement_error"]
    assert ems.setpoint_kw == 0
    await until(lambda: inbox.setpoints()[-1]["power_kw"] == 0)
    assert inbox.setpoints()[-1] == {"power_kw": 0.0, "power_w": 0, "mode": "idle"}

    # Good payloads again: back to normal by itself.
    await report_and_tick(hass, clock, ems, **IMPORTING)
    assert ems.link.problems == {}
    assert hass.states.get(FALLBACK).state == STATE_OFF
    assert ems.setpoint_kw > 0
    await until(lambda: inbox.setpoints()[-1]["power_kw"] > 0)
    assert ems.config_entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize("soc", [150.0, -5.0])
async def test_out_of_range_soc_leaves_the_battery_idle(
    hass: HomeAssistant, site: EmsCoordinator, clock: FrozenDateTimeFactory, soc: float
) -> None:
    ems = site
    inbox = await listen(hass, SETPOINT_TOPIC)
    issues = ir.async_get(hass)
    issue_id = f"watchdog_{ems.config_entry.entry_id}"
    await report_and_tick(hass, clock, ems, **IMPORTING)
    assert ems.setpoint_kw > 0

    await report_and_tick(hass, clock, ems, **{**IMPORTING, "soc": soc})
    assert not ems.measurement_fresh
    assert (
        f"{soc:g} % is outside 0-100 %"
        in hass.states.get(FALLBACK).attributes["reason"]
    )
    assert hass.states.get(SOC).state == STATE_UNAVAILABLE
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    await until(lambda: inbox.setpoints()[-1]["power_kw"] == 0)

    await report_and_tick(hass, clock, ems, **IMPORTING)
    assert hass.states.get(FALLBACK).state == STATE_OFF
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert value(hass, SOC) == 50.0
    for sent in inbox.setpoints():
        assert -MAX_CHARGE_KW <= sent["power_kw"] <= MAX_DISCHARGE_KW


async def test_silent_topics_trip_the_watchdog_and_recover(
    hass: HomeAssistant, site: EmsCoordinator, clock: FrozenDateTimeFactory
) -> None:
    ems = site
    inbox = await listen(hass, SETPOINT_TOPIC)
    issues = ir.async_get(hass)
    issue_id = f"watchdog_{ems.config_entry.entry_id}"
    for _ in range(3):
        await report_and_tick(hass, clock, ems, **IMPORTING)
    assert ems.setpoint_kw > 0
    await until(lambda: inbox.setpoints()[-1]["power_kw"] > 0)

    # The inverter goes quiet: ten seconds are within three control intervals (15 s), twenty not.
    await advance(hass, clock, 10)
    assert hass.states.get(FALLBACK).state == STATE_OFF
    await advance(hass, clock, 10)
    fallback = hass.states.get(FALLBACK)
    assert fallback.state == STATE_ON
    assert "no recent value" in fallback.attributes["reason"]
    assert hass.states.get(SOC).state == STATE_UNAVAILABLE
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    await until(lambda: inbox.setpoints()[-1]["power_kw"] == 0)
    assert inbox.setpoints()[-1] == {"power_kw": 0.0, "power_w": 0, "mode": "idle"}

    # It publishes again: the site follows its plan again without a reload.
    await report_and_tick(hass, clock, ems, **IMPORTING)
    assert hass.states.get(FALLBACK).state == STATE_OFF
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert value(hass, SOC) == 50.0
    await until(lambda: inbox.setpoints()[-1]["power_kw"] > 0)
    assert ems.config_entry.runtime_data.ems is ems


async def test_broker_restart_falls_back_and_recovers_without_a_reload(
    hass: HomeAssistant,
    site: EmsCoordinator,
    clock: FrozenDateTimeFactory,
    mosquitto: MosquittoBroker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ems = site
    inbox = await listen(hass, SETPOINT_TOPIC)
    issues = ir.async_get(hass)
    issue_id = f"watchdog_{ems.config_entry.entry_id}"
    await report_and_tick(hass, clock, ems, **IMPORTING)
    await until(
        lambda: bool(inbox.setpoints()) and inbox.setpoints()[-1]["power_kw"] > 0
    )

    await mosquitto.stop()
    await wait_for_mqtt_connection(hass, connected=False)
    # No measurements arrive: the site falls back (idle); the setpoint cannot be published meanwhile.
    await advance(hass, clock, 20)
    assert hass.states.get(FALLBACK).state == STATE_ON
    assert hass.states.get(SOC).state == STATE_UNAVAILABLE
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    assert ems.setpoint_kw == 0
    assert "not connected" in ems.write_error
    sent = len(inbox.setpoints())

    await mosquitto.start()
    # Home Assistant's client reconnects by itself and renews the subscriptions, the site's as well.
    await wait_for_mqtt_connection(hass, within=RECONNECT_TIMEOUT)
    await wait_for_mqtt_ready(hass)
    await report_and_tick(hass, clock, ems, **IMPORTING)
    assert ems.measurement_fresh
    assert value(hass, SOC) == 50.0
    # The same site, never reloaded, and nothing of the integration's failed.
    assert ems.config_entry.runtime_data.ems is ems
    assert ems.config_entry.state is ConfigEntryState.LOADED
    assert not [
        record
        for record in caplog.records
        if record.name.startswith("custom_components.phoenyra_ems")
        and record.levelno >= logging.ERROR
    ]
    # Back to normal: the plan's setpoint is published again, the fallback and its issue are gone.
    assert ems.setpoint_kw > 0
    assert ems.write_error is None
    assert hass.states.get(FALLBACK).state == STATE_OFF
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    await until(lambda: len(inbox.setpoints()) > sent)
    assert inbox.setpoints()[-1]["power_kw"] == pytest.approx(ems.setpoint_kw)


# The state and plan, published for other systems.


async def set_base_topic(
    hass: HomeAssistant, entry: MockConfigEntry, topic: str
) -> dict[str, Any]:
    """Set the option ems.mqtt_base_topic through the options flow (a live site: its settings step)."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    if result["type"] is FlowResultType.MENU:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": "settings"}
        )
    return await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            SECTION_EMS: {**DEFAULT_EMS, CONF_MQTT_BASE_TOPIC: topic},
            SECTION_STRATEGIES: dict(DEFAULT_STRATEGIES),
            SECTION_FORECASTS: dict(DEFAULT_FORECASTS),
        },
    )


@pytest.mark.parametrize("mode", [MODE_DEMO, MODE_LIVE])
async def test_state_and_plan_are_published_retained(
    hass: HomeAssistant,
    mqtt_entry: MockConfigEntry,
    clock: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    mode: str,
) -> None:
    await hass.config.async_set_time_zone("Europe/Vienna")
    if mode == MODE_LIVE:
        entry, _ = await create_live_site(hass)
        await until(arrived(entry.runtime_data.ems))
    else:
        entry = mock_config_entry
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()

    result = await set_base_topic(hass, entry, "phoenyra/#")
    assert result["errors"] == {CONF_MQTT_BASE_TOPIC: "invalid_topic"}
    result = await set_base_topic(hass, entry, BASE_TOPIC)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    # The site reloaded with the publisher.
    ems: EmsCoordinator = entry.runtime_data.ems
    if mode == MODE_LIVE:
        await until(arrived(ems))
    early = await listen(hass, f"{BASE_TOPIC}/#")
    await advance(hass, clock, CONTROL_S)
    await until(lambda: {f"{BASE_TOPIC}/state", f"{BASE_TOPIC}/plan"} <= early.topics())

    # A subscriber that comes later still gets both: the broker kept them (retained).
    late = await listen(hass, f"{BASE_TOPIC}/#")
    await until(
        lambda: {f"{BASE_TOPIC}/state", f"{BASE_TOPIC}/plan"}
        <= late.topics(retained=True)
    )
    state = json.loads(late.payloads(f"{BASE_TOPIC}/state")[-1])
    assert state["measured"] is True
    assert state["soc_pct"] == pytest.approx(ems.measurement.soc_pct)
    assert state["setpoint_kw"] == pytest.approx(ems.setpoint_kw)
    assert state["plan_valid"] is True
    if mode == MODE_LIVE:
        assert state["soc_pct"] == 60.0
        assert state["grid_kw"] == pytest.approx(0.8)
    plan = json.loads(late.payloads(f"{BASE_TOPIC}/plan")[-1])
    assert plan["valid"] is True
    assert plan["strategy"] == ems.data.plan.strategy.value
    assert len(plan["slots"]) == ems.data.plan.slots

    # The state follows each control interval; the plan only when there is a new one.
    plans = len(early.payloads(f"{BASE_TOPIC}/plan"))
    states = len(early.payloads(f"{BASE_TOPIC}/state"))
    if mode == MODE_LIVE:
        await report(hass, soc=61.0)
        await until(arrived(ems))
    await advance(hass, clock, CONTROL_S)
    await until(lambda: len(early.payloads(f"{BASE_TOPIC}/state")) > states)
    assert len(early.payloads(f"{BASE_TOPIC}/plan")) == plans
    if mode == MODE_LIVE:
        assert json.loads(early.payloads(f"{BASE_TOPIC}/state")[-1])["soc_pct"] == 61.0


async def test_a_restarted_broker_gets_the_state_and_plan_again(
    hass: HomeAssistant,
    mqtt_entry: MockConfigEntry,
    mosquitto: MosquittoBroker,
    clock: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
) -> None:
    entry = mock_config_entry
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={SECTION_EMS: {**DEFAULT_EMS, CONF_MQTT_BASE_TOPIC: BASE_TOPIC}}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await advance(hass, clock, CONTROL_S)
    before = await listen(hass, f"{BASE_TOPIC}/#")
    await until(
        lambda: {f"{BASE_TOPIC}/state", f"{BASE_TOPIC}/plan"} <= before.topics()
    )

    # The broker restarts (between two control intervals) and has forgotten the retained messages.
    await mosquitto.stop()
    await wait_for_mqtt_connection(hass, connected=False)
    await mosquitto.start()
    await wait_for_mqtt_connection(hass, within=RECONNECT_TIMEOUT)
    await wait_for_mqtt_ready(hass)

    # The next control interval publishes both again, for subscribers that come later.
    await advance(hass, clock, CONTROL_S)
    late = await listen(hass, f"{BASE_TOPIC}/#")
    await until(
        lambda: {f"{BASE_TOPIC}/state", f"{BASE_TOPIC}/plan"}
        <= late.topics(retained=True)
    )


async def test_retained_replay_does_not_renew_a_reading(hass: HomeAssistant) -> None:
    """A broker replays retained values on each (re)subscription; only live ones prove the device reports."""
    link = MqttLink(
        hass,
        {**DEFAULT_DEVICE, CONF_SETPOINT_TARGET: "none", "soc_topic": "bat/soc"},
    )
    receive = link._receiver("soc")

    def message(payload: str, retain: bool) -> mqtt.ReceiveMessage:
        return mqtt.ReceiveMessage(
            topic="bat/soc",
            payload=payload,
            qos=1,
            retain=retain,
            subscribed_topic="bat/soc",
            timestamp=0.0,
        )

    # At start a retained value is all there is: it counts.
    receive(message("55", retain=True))
    first = link.readings(dt_util.now())["soc"]
    assert first.value == 55.0
    # Replayed later, it neither changes the value nor makes it younger.
    receive(message("55", retain=True))
    assert link.readings(dt_util.now())["soc"] == first
    receive(message("56", retain=False))
    assert link.readings(dt_util.now())["soc"].value == 56.0
