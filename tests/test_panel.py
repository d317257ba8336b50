"""The sidebar panel and cards are served and registered; settings over the websocket API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.components.frontend import DATA_PANELS
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.phoenyra_ems.const import (
    CONF_CAPACITY_KWH,
    CONF_CONTROL_SECONDS,
    CONF_ENGINE,
    CONF_FALLBACK,
    CONF_MODE,
    CONF_MQTT_BASE_TOPIC,
    CONF_SOC_MIN,
    DOMAIN,
    MODE_LIVE,
    SECTION_BATTERY,
    SECTION_DEVICE,
    SECTION_EMS,
)
from custom_components.phoenyra_ems.panel import PANEL_URL_PATH

from .conftest import site_input

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import (
        ClientSessionGenerator,
        WebSocketGenerator,
    )


@pytest.fixture
async def with_frontend(hass: HomeAssistant) -> None:
    """Home Assistant's frontend, as every installation has it (default_config)."""
    assert await async_setup_component(hass, "frontend", {})
    await hass.async_block_till_done()


async def test_without_a_frontend_nothing_is_registered(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    assert PANEL_URL_PATH not in hass.data.get(DATA_PANELS, {})
    assert init_integration.runtime_data.ems.last_update_success


@pytest.mark.usefixtures("with_frontend")
async def test_panel_and_bundle_come_and_go_with_the_sites(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    panel = hass.data[DATA_PANELS][PANEL_URL_PATH]
    assert panel.sidebar_title == "Phoenyra EMS"
    assert panel.require_admin is False
    module_url = panel.config["_panel_custom"]["module_url"]
    client = await hass_client()
    response = await client.get(module_url)
    assert response.status == 200
    body = await response.text()
    # The bundle defines the panel element and both cards.
    assert "phoenyra-ems-panel" in body
    assert "phoenyra-ems-plan-card" in body
    assert "phoenyra-ems-kpi-card" in body

    # A second site leaves the panel alone; removing the last one takes it away.
    second = MockConfigEntry(
        domain=DOMAIN, title="Second", unique_id="second", data=site_input("Second")
    )
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.config_entries.async_remove(second.entry_id)
    assert PANEL_URL_PATH in hass.data[DATA_PANELS]
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert PANEL_URL_PATH not in hass.data[DATA_PANELS]


async def settings(client: Any, entry_id: str) -> dict[str, Any]:
    await client.send_json_auto_id({"type": f"{DOMAIN}/settings", "entry_id": entry_id})
    answer = await client.receive_json()
    assert answer["success"], answer
    return answer["result"]


async def update(client: Any, entry_id: str, options: dict[str, Any]) -> dict[str, Any]:
    await client.send_json_auto_id(
        {"type": f"{DOMAIN}/settings/update", "entry_id": entry_id, "options": options}
    )
    return await client.receive_json()


async def test_admins_edit_the_settings_with_the_options_flows_checks(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    client = await hass_ws_client(hass)
    current = await settings(client, init_integration.entry_id)
    assert current["editable"] is True
    sections = {item["name"]: item for item in current["schema"]}
    assert set(sections) == {
        "battery",
        "grid",
        "tariff",
        "ems",
        "strategies",
        "forecasts",
    }
    assert sections["ems"]["type"] == "expandable"
    fields = {field["name"] for field in sections["ems"]["schema"]}
    assert {CONF_CONTROL_SECONDS, CONF_ENGINE} <= fields
    options = current["options"]
    assert options[SECTION_EMS][CONF_CONTROL_SECONDS] == 5

    # Out of range: refused with the field named, nothing stored.
    options[SECTION_EMS][CONF_CONTROL_SECONDS] = 1
    answer = await update(client, init_integration.entry_id, options)
    assert answer["result"] == {
        "saved": False,
        "errors": {CONF_CONTROL_SECONDS: "invalid_value"},
    }
    assert SECTION_EMS not in init_integration.options

    options[SECTION_EMS][CONF_CONTROL_SECONDS] = 7
    answer = await update(client, init_integration.entry_id, options)
    assert answer["result"] == {"saved": True}
    await hass.async_block_till_done()
    assert init_integration.options[SECTION_EMS][CONF_CONTROL_SECONDS] == 7
    assert init_integration.runtime_data.ems.control_interval.total_seconds() == 7


async def test_other_users_read_the_settings_but_cannot_change_them(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    hass_read_only_access_token: str,
) -> None:
    client = await hass_ws_client(hass, hass_read_only_access_token)
    current = await settings(client, init_integration.entry_id)
    assert current["editable"] is False
    answer = await update(client, init_integration.entry_id, current["options"])
    assert answer["error"]["code"] == "unauthorized"
    assert SECTION_EMS not in init_integration.options


async def test_settings_of_a_site_that_is_not_running_can_be_changed(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    client = await hass_ws_client(hass)
    options = (await settings(client, init_integration.entry_id))["options"]
    await hass.config_entries.async_unload(init_integration.entry_id)
    options[SECTION_EMS][CONF_CONTROL_SECONDS] = 9
    answer = await update(client, init_integration.entry_id, options)
    assert answer["result"] == {"saved": True}
    assert init_integration.options[SECTION_EMS][CONF_CONTROL_SECONDS] == 9
    await client.send_json_auto_id({"type": f"{DOMAIN}/settings", "entry_id": "nope"})
    assert (await client.receive_json())["error"]["code"] == "invalid_request"


async def test_battery_constraints_are_settings_too(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    client = await hass_ws_client(hass)
    options = (await settings(client, init_integration.entry_id))["options"]
    assert options[SECTION_BATTERY][CONF_CAPACITY_KWH] == 10.0

    # The config flow's checks: a state-of-charge window that is empty is refused.
    options[SECTION_BATTERY][CONF_SOC_MIN] = 95.0
    answer = await update(client, init_integration.entry_id, options)
    assert answer["result"] == {
        "saved": False,
        "errors": {CONF_SOC_MIN: "invalid_soc_window"},
    }
    options[SECTION_BATTERY][CONF_SOC_MIN] = 10.0
    options[SECTION_BATTERY][CONF_CAPACITY_KWH] = 13.5
    answer = await update(client, init_integration.entry_id, options)
    assert answer["result"] == {"saved": True}
    await hass.async_block_till_done()
    # Stored as the site's data, and the site restarted with it.
    assert init_integration.data[SECTION_BATTERY][CONF_CAPACITY_KWH] == 13.5
    assert init_integration.runtime_data.ems.site.battery.capacity_kwh == 13.5


def live_entry(hass: HomeAssistant, device: dict[str, Any]) -> MockConfigEntry:
    """A live site with ``device`` (not started: the settings of a site that is not running)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Live site",
        unique_id="live_site",
        data={**site_input("Live site"), CONF_MODE: MODE_LIVE, SECTION_DEVICE: device},
    )
    entry.add_to_hass(hass)
    return entry


def fields(group: dict[str, Any]) -> dict[str, Any]:
    return {field["key"]: field["value"] for field in group["fields"]}


async def test_settings_show_a_demo_sites_battery_as_simulated(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    client = await hass_ws_client(hass)
    current = await settings(client, init_integration.entry_id)
    assert current["device"] == {"mode": "demo", "groups": []}


async def test_settings_show_the_device_of_a_live_site(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    # The commands, without starting the sites: their devices exist only on paper.
    assert await async_setup_component(hass, DOMAIN, {})
    client = await hass_ws_client(hass)
    entities = live_entry(
        hass,
        {
            "transport": "entities",
            "setpoint_target": "number_entity",
            "setpoint_entity": "number.inverter_setpoint",
            "invert_setpoint": False,
            "write_deadband_kw": 0.05,
            "write_min_interval_seconds": 10.0,
            "soc_entity": "sensor.inverter_soc",
            "battery_power_entity": "sensor.inverter_battery",
            "grid_power_entity": "sensor.inverter_grid",
            "pv_power_entity": "sensor.inverter_pv",
            "invert_battery_power": True,
            "invert_grid_power": False,
        },
    )
    device = (await settings(client, entities.entry_id))["device"]
    assert device["mode"] == "live"
    assert [group["step"] for group in device["groups"]] == ["device", "entities"]
    assert fields(device["groups"][0]) == {
        "transport": "entities",
        "setpoint_target": "number_entity",
        "setpoint_entity": "number.inverter_setpoint",
        "invert_setpoint": False,
        "write_deadband_kw": 0.05,
        "write_min_interval_seconds": 10.0,
    }
    # The signals that are configured, in the flow's order; the load follows from the balance.
    assert fields(device["groups"][1]) == {
        "soc_entity": "sensor.inverter_soc",
        "battery_power_entity": "sensor.inverter_battery",
        "grid_power_entity": "sensor.inverter_grid",
        "pv_power_entity": "sensor.inverter_pv",
        "invert_battery_power": True,
        "invert_grid_power": False,
    }
    await hass.config_entries.async_remove(entities.entry_id)

    mqtt = live_entry(
        hass,
        {
            "transport": "mqtt",
            "setpoint_target": "mqtt",
            "soc_topic": "inverter/state",
            "soc_json_path": "battery.soc",
            "battery_power_topic": "inverter/battery",
            "grid_power_topic": "inverter/grid",
            "load_power_topic": "inverter/load",
            "power_unit": "kW",
            "setpoint_topic": "inverter/set",
        },
    )
    device = (await settings(client, mqtt.entry_id))["device"]
    assert [group["step"] for group in device["groups"]] == ["device", "mqtt_topics"]
    # Defaults fill in what was never set.
    assert fields(device["groups"][0])["write_deadband_kw"] == 0.05
    assert "setpoint_entity" not in fields(device["groups"][0])
    assert fields(device["groups"][1]) == {
        "soc_topic": "inverter/state",
        "soc_json_path": "battery.soc",
        "battery_power_topic": "inverter/battery",
        "grid_power_topic": "inverter/grid",
        "load_power_topic": "inverter/load",
        "power_unit": "kW",
        "setpoint_topic": "inverter/set",
        "invert_battery_power": False,
        "invert_grid_power": False,
    }
    await hass.config_entries.async_remove(mqtt.entry_id)

    register = {"unit_id": 3, "word_order": "big", "byte_order": "big"}
    modbus = live_entry(
        hass,
        {
            "transport": "modbus",
            "setpoint_target": "modbus",
            "connection": {
                "transport": "rtu",
                "port": "/dev/ttyUSB0",
                "baudrate": 9600,
                "parity": "N",
                "stopbits": 1,
                "bytesize": 8,
                "timeout_s": 3.0,
            },
            "register_map": {
                "soc": {
                    "address": 100,
                    "register_type": "input",
                    "data_type": "uint16",
                    "scale": 0.1,
                    **register,
                },
                "setpoint": {
                    "address": 200,
                    "register_type": "holding",
                    "data_type": "int32",
                    "scale": 0.001,
                    **register,
                },
            },
        },
    )
    device = (await settings(client, modbus.entry_id))["device"]
    assert [group["step"] for group in device["groups"]] == [
        "device",
        "modbus",
        "registers",
    ]
    # The serial port is stored as the connection's port; the Modbus step calls it the serial port.
    assert fields(device["groups"][1]) == {
        "protocol": "rtu",
        "serial_port": "/dev/ttyUSB0",
        "baudrate": 9600,
        "parity": "N",
        "stopbits": 1,
        "bytesize": 8,
        "timeout_s": 3.0,
        "unit_id": 3,
        "word_order": "big",
        "byte_order": "big",
    }
    assert device["groups"][2]["registers"] == [
        {
            "signal": "soc",
            "address": 100,
            "register_type": "input",
            "data_type": "uint16",
            "scale": 0.1,
        },
        {
            "signal": "setpoint",
            "address": 200,
            "register_type": "holding",
            "data_type": "int32",
            "scale": 0.001,
        },
    ]


async def test_fallback_and_mqtt_topic_are_settings_with_the_options_flows_checks(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    client = await hass_ws_client(hass)
    current = await settings(client, init_integration.entry_id)
    ems = next(item for item in current["schema"] if item["name"] == SECTION_EMS)
    by_name = {field["name"]: field for field in ems["schema"]}
    assert by_name[CONF_FALLBACK]["selector"]["select"]["translation_key"] == (
        CONF_FALLBACK
    )
    assert "text" in by_name[CONF_MQTT_BASE_TOPIC]["selector"]
    options = current["options"]
    assert options[SECTION_EMS][CONF_FALLBACK] == "idle"
    assert options[SECTION_EMS][CONF_MQTT_BASE_TOPIC] == ""

    options[SECTION_EMS][CONF_FALLBACK] = "self_consumption"
    options[SECTION_EMS][CONF_MQTT_BASE_TOPIC] = "bad/#/topic"
    answer = await update(client, init_integration.entry_id, options)
    assert answer["result"] == {
        "saved": False,
        "errors": {CONF_MQTT_BASE_TOPIC: "invalid_topic"},
    }
    assert SECTION_EMS not in init_integration.options

    # An emptied topic is left out, as the panel sends it: nothing is published.
    del options[SECTION_EMS][CONF_MQTT_BASE_TOPIC]
    answer = await update(client, init_integration.entry_id, options)
    assert answer["result"] == {"saved": True}
    await hass.async_block_till_done()
    assert init_integration.options[SECTION_EMS][CONF_FALLBACK] == "self_consumption"
    current = await settings(client, init_integration.entry_id)
    assert current["options"][SECTION_EMS][CONF_FALLBACK] == "self_consumption"


@pytest.mark.parametrize("language", ["en", "de"])
def test_texts_render_in_home_assistants_frontend(language: str) -> None:
    """Home Assistant's frontend formats texts as ICU messages: a "<" starts a tag and breaks the text."""
    path = (
        Path(__file__).parents[1]
        / "custom_components"
        / DOMAIN
        / "translations"
        / f"{language}.json"
    )

    def texts(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [text for value in node.values() for text in texts(value)]
        return [node] if isinstance(node, str) else []

    broken = [text for text in texts(json.loads(path.read_text())) if "<" in text]
    assert broken == []
