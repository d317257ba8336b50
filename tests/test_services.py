"""Actions and websocket commands: answers that match the entities, validation, admin rights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.core import Context
from homeassistant.exceptions import ServiceValidationError, Unauthorized
import pytest

from custom_components.phoenyra_ems.const import DOMAIN, SECTION_STRATEGIES

from .test_init import PROFIT, SOC, advance, value

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.auth.models import User
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry
    from pytest_homeassistant_custom_component.typing import WebSocketGenerator

PROFIT_TODAY = "sensor.test_site_profit_today"
PROFIT_TOTAL = "sensor.test_site_profit_total"
CHARGED = "sensor.test_site_energy_charged"
DISCHARGED = "sensor.test_site_energy_discharged"
CYCLES = "sensor.test_site_equivalent_full_cycles"
AVERAGE_SOC = "sensor.test_site_average_state_of_charge_today"


async def ask(
    hass: HomeAssistant, service: str, entry: MockConfigEntry, **data: Any
) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        service,
        {"config_entry_id": entry.entry_id, **data},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    return response


async def test_state_matches_the_sensors(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    state = await ask(hass, "get_state", init_integration)
    assert state["soc_pct"] == pytest.approx(value(hass, SOC), abs=1e-3)
    assert state["expected_profit_eur"] == pytest.approx(value(hass, PROFIT))
    assert (
        state["active_strategy"]
        == init_integration.runtime_data.ems.active_strategy.value
    )
    assert state["strategy_choice"] == "auto"
    assert state["enabled"] is True
    # Retail import price = (spot + 10 ct) x 1.2 > export at spot.
    assert state["import_price_eur_kwh"] > state["export_price_eur_kwh"]


async def test_plan_and_forecast_describe_the_same_horizon(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    plan = await ask(hass, "get_plan", init_integration)
    forecast = await ask(hass, "get_forecast", init_integration)
    coordinator = init_integration.runtime_data.ems
    assert plan["valid"] is True
    assert len(plan["slots"]) == coordinator.data.plan.slots == 192
    assert [s["start"] for s in plan["slots"]] == [
        s["start"] for s in forecast["slots"]
    ]
    for planned, forecast_slot in zip(plan["slots"], forecast["slots"], strict=True):
        assert 10 - 1e-6 <= planned["soc_pct"] <= 90 + 1e-6
        # The energy balance at the meter: import - export = load - PV + charge - discharge.
        grid = planned["grid_import_kw"] - planned["grid_export_kw"]
        site = (
            forecast_slot["load_kw"]
            - forecast_slot["pv_kw"]
            + planned["pv_curtailed_kw"]
            - planned["battery_kw"]
        )
        assert grid == pytest.approx(site, abs=1e-3)
        assert forecast_slot["import_price_eur_kwh"] == pytest.approx(
            (forecast_slot["spot_eur_kwh"] + 0.10) * 1.2, abs=1e-4
        )
    assert plan["strategy"] == coordinator.active_strategy.value
    assert set(plan["strategy_costs_eur"]) == {
        "arbitrage",
        "peak_shaving",
        "self_consumption",
        "load_balancing",
    }


async def test_kpis_follow_the_battery(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    coordinator = init_integration.runtime_data.ems
    soc_before = value(hass, SOC)
    await advance(hass, freezer, 1800)
    battery = coordinator.site.battery
    charged, discharged = value(hass, CHARGED), value(hass, DISCHARGED)
    assert charged + discharged > 0.05
    # Energy conservation inside the battery: what went in and out explains the SoC change
    # (self-discharge is a few Wh a day).
    stored = (value(hass, SOC) - soc_before) / 100 * battery.capacity_kwh
    assert stored == pytest.approx(
        charged * battery.charge_efficiency - discharged / battery.discharge_efficiency,
        abs=2e-3,
    )
    assert value(hass, CYCLES) == pytest.approx(discharged / 8.0, abs=1e-3)
    assert 10 <= value(hass, AVERAGE_SOC) <= 90
    assert value(hass, PROFIT_TODAY) == pytest.approx(value(hass, PROFIT_TOTAL))
    today = hass.states.get(PROFIT_TODAY)
    assert today.attributes["state_class"] == "total"
    assert today.attributes["last_reset"] == "2026-05-12T00:00:00+02:00"
    assert hass.states.get(CHARGED).attributes["state_class"] == "total_increasing"

    analytics = await ask(hass, "get_analytics", init_integration, days=7)
    assert analytics["days_with_data"] == 1
    assert analytics["total_profit_eur"] == pytest.approx(
        value(hass, PROFIT_TODAY), abs=1e-3
    )
    day = analytics["daily"][0]
    assert day["day"] == "2026-05-12"
    assert day["discharged_kwh"] == pytest.approx(discharged, abs=1e-3)
    assert day["hours"] == pytest.approx(0.5, abs=0.01)
    assert sum(analytics["strategy_hours"].values()) == pytest.approx(0.5, abs=0.01)
    # One run at setup and one after each 15-minute interval, newest first.
    runs = analytics["recent_optimizations"]
    assert len(runs) == 3
    assert runs[0]["time"] > runs[-1]["time"]
    assert {run["status"] for run in runs} == {"optimal"}


async def test_kpis_and_runs_survive_a_restart(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await advance(hass, freezer, 600)
    discharged = value(hass, DISCHARGED)
    charged = value(hass, CHARGED)
    profit = value(hass, PROFIT_TOTAL)
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert value(hass, DISCHARGED) == pytest.approx(discharged)
    assert value(hass, CHARGED) == pytest.approx(charged)
    assert value(hass, PROFIT_TOTAL) == pytest.approx(profit)
    analytics = await ask(hass, "get_analytics", init_integration, days=1)
    # The run before the reload and the one at setup after it.
    assert len(analytics["recent_optimizations"]) == 2


async def test_a_new_day_starts_today_again(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await advance(hass, freezer, 300)
    # Jump to just before local midnight (Vienna, UTC+2), then over it.
    freezer.move_to("2026-05-12T21:59:50+00:00")
    await advance(hass, freezer, 20)
    assert value(hass, PROFIT_TODAY) != pytest.approx(value(hass, PROFIT_TOTAL))
    assert (
        hass.states.get(PROFIT_TODAY).attributes["last_reset"]
        == "2026-05-13T00:00:00+02:00"
    )
    analytics = await ask(hass, "get_analytics", init_integration, days=2)
    assert [day["day"] for day in analytics["daily"]] == ["2026-05-12", "2026-05-13"]


@pytest.mark.parametrize(
    ("service", "data", "key"),
    [
        ("get_history", {"hours": 0}, "out_of_range"),
        ("get_history", {"hours": 169}, "out_of_range"),
        ("get_analytics", {"days": 0}, "out_of_range"),
        ("get_analytics", {"days": 366}, "out_of_range"),
        ("set_strategy", {"strategy": "yolo"}, "unknown_strategy"),
    ],
)
async def test_invalid_arguments_are_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    service: str,
    data: dict[str, Any],
    key: str,
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            service,
            {"config_entry_id": init_integration.entry_id, **data},
            blocking=True,
            return_response=service.startswith("get_"),
        )
    assert err.value.translation_key == key
    # The message names what is wrong.
    assert str(next(iter(data.values()))) in str(err.value)


async def test_unknown_and_unloaded_sites_are_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "get_state",
            {"config_entry_id": "nope"},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "unknown_entry"
    assert "nope" in str(err.value)
    await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await ask(hass, "get_state", init_integration)
    assert err.value.translation_key == "entry_not_loaded"


async def test_commands_need_an_administrator(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_read_only_user: User,
    hass_admin_user: User,
) -> None:
    data = {"config_entry_id": init_integration.entry_id, "strategy": "peak_shaving"}
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "set_strategy",
            data,
            blocking=True,
            context=Context(user_id=hass_read_only_user.id),
        )
    assert init_integration.options.get(SECTION_STRATEGIES) is None
    # Reading is for everyone.
    await hass.services.async_call(
        DOMAIN,
        "get_state",
        {"config_entry_id": init_integration.entry_id},
        blocking=True,
        return_response=True,
        context=Context(user_id=hass_read_only_user.id),
    )
    await hass.services.async_call(
        DOMAIN,
        "set_strategy",
        data,
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    await hass.async_block_till_done()
    assert init_integration.runtime_data.ems.active_strategy.value == "peak_shaving"
    # Automations run without a user.
    await hass.services.async_call(
        DOMAIN, "set_strategy", {**data, "strategy": "auto"}, blocking=True
    )
    await hass.async_block_till_done()
    assert init_integration.runtime_data.ems.strategy_choice == "auto"


async def test_optimize_now_plans_again(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    runs = init_integration.runtime_data.ems.memory.runs
    before = len(runs.runs)
    await hass.services.async_call(
        DOMAIN,
        "optimize_now",
        {"config_entry_id": init_integration.entry_id},
        blocking=True,
    )
    assert len(runs.runs) == before + 1


async def test_websocket_reports_and_live_updates(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_ws_client: WebSocketGenerator,
) -> None:
    client = await hass_ws_client(hass)
    entry_id = init_integration.entry_id
    await client.send_json_auto_id({"type": f"{DOMAIN}/sites"})
    sites = await client.receive_json()
    assert sites["result"] == [{"entry_id": entry_id, "title": "Test site"}]

    for kind in ("state", "plan", "forecast", "analytics"):
        await client.send_json_auto_id(
            {"type": f"{DOMAIN}/{kind}", "entry_id": entry_id}
        )
        answer = await client.receive_json()
        assert answer["success"], answer
    await client.send_json_auto_id(
        {"type": f"{DOMAIN}/analytics", "entry_id": entry_id, "days": 0}
    )
    answer = await client.receive_json()
    assert not answer["success"]
    assert "between 1 and 365" in answer["error"]["message"]

    await client.send_json_auto_id(
        {"type": f"{DOMAIN}/subscribe", "entry_id": entry_id}
    )
    assert (await client.receive_json())["success"]
    first = await client.receive_json()
    assert first["event"]["plan"]["valid"] is True
    # The next control tick sends the new state, without the unchanged plan.
    await advance(hass, freezer, 5)
    tick = await client.receive_json()
    assert tick["event"]["state"]["time"] > first["event"]["state"]["time"]
    assert "plan" not in tick["event"]


async def test_a_subscription_ends_when_the_site_restarts(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_ws_client: WebSocketGenerator,
) -> None:
    client = await hass_ws_client(hass)
    entry_id = init_integration.entry_id
    await client.send_json_auto_id(
        {"type": f"{DOMAIN}/subscribe", "entry_id": entry_id}
    )
    subscribed = await client.receive_json()
    assert subscribed["success"]
    await client.receive_json()
    # New settings restart the site: the subscription says it ended, instead of going quiet.
    hass.config_entries.async_update_entry(
        init_integration,
        options={"ems": {"optimization_interval_minutes": 16}},
    )
    await hass.async_block_till_done()
    ended = await client.receive_json()
    assert ended["id"] == subscribed["id"]
    assert ended["event"] == {"ended": "site_unloaded"}
    # Nothing more comes on it; the restarted site is followed by subscribing again.
    await client.send_json_auto_id(
        {"type": f"{DOMAIN}/subscribe", "entry_id": entry_id}
    )
    again = await client.receive_json()
    assert again["success"], again
    first = await client.receive_json()
    assert first["id"] == again["id"]
    assert first["event"]["plan"]["valid"] is True
    await advance(hass, freezer, 5)
    tick = await client.receive_json()
    assert tick["id"] == again["id"]
    # The client unsubscribes the ended one, as the panel does; that does not touch the new one.
    await client.send_json_auto_id(
        {"type": "unsubscribe_events", "subscription": subscribed["id"]}
    )
    assert (await client.receive_json())["success"]
    await advance(hass, freezer, 5)
    assert (await client.receive_json())["id"] == again["id"]


async def test_websocket_commands_need_an_administrator(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    hass_read_only_access_token: str,
) -> None:
    client = await hass_ws_client(hass, hass_read_only_access_token)
    await client.send_json_auto_id(
        {
            "type": f"{DOMAIN}/set_strategy",
            "entry_id": init_integration.entry_id,
            "strategy": "peak_shaving",
        }
    )
    answer = await client.receive_json()
    assert answer["error"]["code"] == "unauthorized"
    await client.send_json_auto_id(
        {"type": f"{DOMAIN}/state", "entry_id": init_integration.entry_id}
    )
    assert (await client.receive_json())["success"]

    admin = await hass_ws_client(hass)
    await admin.send_json_auto_id(
        {
            "type": f"{DOMAIN}/set_strategy",
            "entry_id": init_integration.entry_id,
            "strategy": "peak_shaving",
        }
    )
    assert (await admin.receive_json())["success"]
    await hass.async_block_till_done()
    assert init_integration.runtime_data.ems.active_strategy.value == "peak_shaving"


async def test_removing_the_site_forgets_its_kpis(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    await advance(hass, freezer, 30)
    await hass.config_entries.async_unload(init_integration.entry_id)
    key = f"{DOMAIN}.{init_integration.entry_id}"
    assert hass_storage[key]["data"]["kpi"]["total"]["hours"] > 0
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_damaged_storage_starts_again(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass_storage[f"{DOMAIN}.{mock_config_entry.entry_id}"] = {
        "version": 1,
        "key": f"{DOMAIN}.{mock_config_entry.entry_id}",
        "data": {"kpi": {"total": {"cost_eur": "lots"}}, "runs": []},
    }
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to("2026-05-12T10:00:00+00:00")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert "unreadable and start again" in caplog.text
    assert value(hass, PROFIT_TOTAL) == 0
