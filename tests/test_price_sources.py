"""Price sources in a running site: aWATTar (internet mocked at the HTTP boundary) and price entities."""

from __future__ import annotations

import copy
from datetime import timedelta
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.phoenyra_ems.const import (
    CONF_PRICE_ENTITY,
    CONF_PRICE_SOURCE,
    DOMAIN,
    PRICE_SOURCE_AWATTAR_AT,
    PRICE_SOURCE_ENTITY,
    SECTION_TARIFF,
)

from .conftest import site_input
from .test_init import PRICE, value

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import issue_registry as ir
    from pytest_homeassistant_custom_component.test_util.aiohttp import (
        AiohttpClientMocker,
    )

FIXTURES = Path(__file__).parent / "fixtures"
AWATTAR_URL = "https://api.awattar.at/v1/marketdata"
# The aWATTar fixture's day (local midnight to midnight); 12:00 Vienna on it.
AWATTAR_DAY_NOON = "2026-05-10T10:00:00+00:00"


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


AWATTAR = fixture("awattar/awattar_at_marketdata_2026-05-10.json")
EPEX = fixture("price_attributes/epex_spot.json")


def awattar_entry(source: str = PRICE_SOURCE_AWATTAR_AT) -> MockConfigEntry:
    data = site_input(**{SECTION_TARIFF: {CONF_PRICE_SOURCE: source}})
    return MockConfigEntry(
        domain=DOMAIN, title="Test site", unique_id="test_site", data=data
    )


async def start(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    when: str,
) -> None:
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to(when)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def spot_at_noon() -> float:
    """The fixture's price from 12:00 to 13:00 Vienna (10:00 UTC), EUR/kWh."""
    return AWATTAR["data"][12]["marketprice"] / 1000


async def test_awattar_prices_plan_and_are_kept(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    aioclient_mock: AiohttpClientMocker,
    hass_storage: dict[str, Any],
) -> None:
    aioclient_mock.get(AWATTAR_URL, json=AWATTAR)
    entry = awattar_entry()
    await start(hass, freezer, entry, AWATTAR_DAY_NOON)
    assert entry.state is ConfigEntryState.LOADED
    ems = entry.runtime_data.ems
    # Hourly prices: hourly slots, tomorrow not published yet at noon: 48 hours.
    assert ems.data.plan.slot_minutes == 60
    assert ems.data.plan.slots == 48
    assert not ems.price_is_forecast[:12].any()
    assert ems.price_is_forecast[12:].all()
    assert value(hass, PRICE) == pytest.approx((spot_at_noon() + 0.10) * 1.2, abs=1e-4)
    # One fetch with the weeks before (for the forecast) and today and tomorrow.
    assert aioclient_mock.call_count == 1
    query = aioclient_mock.mock_calls[0][1].query
    assert int(query["end"]) - int(query["start"]) > 40 * 86400 * 1000
    kept = hass_storage[f"{DOMAIN}.{entry.entry_id}.prices"]["data"]["prices"]
    assert len(kept) == 24

    # A restart while aWATTar is down plans with the kept prices.
    await hass.config_entries.async_unload(entry.entry_id)
    aioclient_mock.clear_requests()
    aioclient_mock.get(AWATTAR_URL, status=503)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert value(hass, PRICE) == pytest.approx((spot_at_noon() + 0.10) * 1.2, abs=1e-4)


async def test_awattar_is_asked_again_when_tomorrow_is_published(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    aioclient_mock.get(AWATTAR_URL, json=AWATTAR)
    entry = awattar_entry()
    await start(hass, freezer, entry, AWATTAR_DAY_NOON)
    # Nothing is fetched before the auction's results are out at 12:45 ...
    freezer.move_to("2026-05-10T10:44:00+00:00")
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert aioclient_mock.call_count == 1
    # ... then tomorrow is asked for.
    freezer.move_to("2026-05-10T10:45:01+00:00")
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert aioclient_mock.call_count == 2


async def test_failing_awattar_raises_a_repair_issue_after_a_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    aioclient_mock: AiohttpClientMocker,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    aioclient_mock.get(AWATTAR_URL, json=AWATTAR)
    entry = awattar_entry()
    await start(hass, freezer, entry, AWATTAR_DAY_NOON)
    aioclient_mock.clear_requests()
    aioclient_mock.get(AWATTAR_URL, status=500)
    issue_id = f"price_source_failing_{entry.entry_id}"
    for _ in range(26):
        freezer.tick(timedelta(hours=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    assert aioclient_mock.call_count > 1
    assert (DOMAIN, issue_id) in issue_registry.issues
    # Logged once when it started failing, not once per attempt.
    assert caplog.text.count("could not be updated") == 1
    aioclient_mock.clear_requests()
    aioclient_mock.get(AWATTAR_URL, json=AWATTAR)
    freezer.tick(timedelta(hours=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert (DOMAIN, issue_id) not in issue_registry.issues
    assert "available again" in caplog.text


async def test_without_any_price_the_site_is_not_ready(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    aioclient_mock.get(AWATTAR_URL, exc=TimeoutError())
    entry = awattar_entry()
    await start(hass, freezer, entry, AWATTAR_DAY_NOON)
    assert entry.state is ConfigEntryState.SETUP_RETRY


def entity_entry() -> MockConfigEntry:
    data = site_input(
        **{
            SECTION_TARIFF: {
                CONF_PRICE_SOURCE: PRICE_SOURCE_ENTITY,
                CONF_PRICE_ENTITY: "sensor.epex_spot_price",
            }
        }
    )
    return MockConfigEntry(
        domain=DOMAIN, title="Test site", unique_id="test_site", data=data
    )


async def test_price_entity_prices_plan_and_follow_changes(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    hass.states.async_set("sensor.epex_spot_price", "0.0888", EPEX)
    entry = entity_entry()
    # 2025-10-01 12:00 Vienna: the fixture's day, in quarter-hours.
    await start(hass, freezer, entry, "2025-10-01T10:00:00+00:00")
    ems = entry.runtime_data.ems
    assert ems.data.plan.slot_minutes == 15
    noon = next(
        item["price_per_kwh"]
        for item in EPEX["data"]
        if item["start_time"] == "2025-10-01T10:00:00+00:00"
    )
    assert value(hass, PRICE) == pytest.approx((noon + 0.10) * 1.2, abs=1e-4)
    # New prices on the entity are planned with at once.
    runs = len(ems.memory.runs.runs)
    changed = copy.deepcopy(EPEX)
    for item in changed["data"]:
        item["price_per_kwh"] += 0.05
    hass.states.async_set("sensor.epex_spot_price", "0.1388", changed)
    await hass.async_block_till_done()
    assert len(ems.memory.runs.runs) == runs + 1
    assert value(hass, PRICE) == pytest.approx((noon + 0.15) * 1.2, abs=1e-4)


async def test_a_vanished_price_entity_keeps_the_last_prices(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass.states.async_set("sensor.epex_spot_price", "0.0888", EPEX)
    entry = entity_entry()
    await start(hass, freezer, entry, "2025-10-01T10:00:00+00:00")
    hass.states.async_remove("sensor.epex_spot_price")
    await entry.runtime_data.ems.async_refresh()
    assert entry.runtime_data.ems.last_update_success
    assert "sensor.epex_spot_price does not exist" in caplog.text


@pytest.mark.parametrize(
    ("tariff", "states", "error"),
    [
        ({CONF_PRICE_SOURCE: PRICE_SOURCE_ENTITY}, {}, "price_entity_required"),
        (
            {CONF_PRICE_SOURCE: PRICE_SOURCE_ENTITY, CONF_PRICE_ENTITY: "sensor.x"},
            {},
            "price_entity_missing",
        ),
        (
            {CONF_PRICE_SOURCE: PRICE_SOURCE_ENTITY, CONF_PRICE_ENTITY: "sensor.x"},
            {"sensor.x": {"today": "not a list"}},
            "price_entity_unreadable",
        ),
    ],
)
async def test_flow_checks_the_price_entity(
    hass: HomeAssistant,
    tariff: dict[str, Any],
    states: dict[str, dict[str, Any]],
    error: str,
) -> None:
    for entity_id, attributes in states.items():
        hass.states.async_set(entity_id, "1", attributes)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], site_input(**{SECTION_TARIFF: tariff})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PRICE_SOURCE: error}
    hass.states.async_set("sensor.x", "0.0888", EPEX)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        site_input(
            **{
                SECTION_TARIFF: {
                    CONF_PRICE_SOURCE: PRICE_SOURCE_ENTITY,
                    CONF_PRICE_ENTITY: "sensor.x",
                }
            }
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][SECTION_TARIFF][CONF_PRICE_ENTITY] == "sensor.x"


@pytest.mark.parametrize(
    "answer",
    [{"status": 500}, {"json": {"object": "list", "data": []}}, {"text": "<html>"}],
)
async def test_flow_tries_awattar_before_saving(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    aioclient_mock: AiohttpClientMocker,
    answer: dict[str, Any],
) -> None:
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to(AWATTAR_DAY_NOON)
    aioclient_mock.get(AWATTAR_URL, **answer)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    tariff = {SECTION_TARIFF: {CONF_PRICE_SOURCE: PRICE_SOURCE_AWATTAR_AT}}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], site_input(**tariff)
    )
    assert result["errors"] == {CONF_PRICE_SOURCE: "awattar_unreachable"}
    aioclient_mock.clear_requests()
    aioclient_mock.get(AWATTAR_URL, json=AWATTAR)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], site_input(**tariff)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_prices_that_stop_updating_show_as_stale(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    aioclient_mock.get(AWATTAR_URL, json=AWATTAR)
    entry = awattar_entry()
    await start(hass, freezer, entry, AWATTAR_DAY_NOON)
    stale = "binary_sensor.test_site_forecast_stale"
    assert hass.states.get(stale).state == "off"
    aioclient_mock.clear_requests()
    aioclient_mock.get(AWATTAR_URL, status=500)
    # By 15:00 tomorrow's prices should have been published: they are missing.
    freezer.move_to("2026-05-10T13:00:00+00:00")
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    await entry.runtime_data.ems.async_refresh()
    state = hass.states.get(stale)
    assert state.state == "on"
    assert "prices" in state.attributes["stale_inputs"]


async def test_a_vanished_price_entity_raises_a_repair_issue(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    hass.states.async_set("sensor.epex_spot_price", "0.0888", EPEX)
    entry = entity_entry()
    await start(hass, freezer, entry, "2025-10-01T10:00:00+00:00")
    issue_id = f"missing_source_{entry.entry_id}_sensor.epex_spot_price"
    hass.states.async_remove("sensor.epex_spot_price")
    await entry.runtime_data.ems.async_refresh()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    hass.states.async_set("sensor.epex_spot_price", "0.0888", EPEX)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
