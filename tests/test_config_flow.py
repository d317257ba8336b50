"""Config flow: user step, errors that end in an entry, duplicates, reconfigure and options."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from unittest.mock import AsyncMock, patch

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.requirements import RequirementsNotFound
import pytest
import voluptuous as vol

from custom_components.phoenyra_ems.const import (
    CONF_CAPACITY_KWH,
    CONF_CHARGE_EFFICIENCY,
    CONF_CONTROL_SECONDS,
    CONF_DISCHARGE_EFFICIENCY,
    CONF_ENGINE,
    CONF_LOAD_FORECASTER,
    CONF_MANUAL_STRATEGY,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_EXPORT_KW,
    CONF_MAX_IMPORT_KW,
    CONF_MODE,
    CONF_OPTIMIZATION_MINUTES,
    CONF_PRICE_SOURCE,
    CONF_PV_FORECAST,
    CONF_SELECTION_MODE,
    CONF_SOC_MAX,
    CONF_SOC_MIN,
    CONF_SOLAR_FORECAST_ENTRIES,
    CONF_SWITCH_THRESHOLD,
    CONF_WEATHER_ENTITY,
    CVXPY_REQUIREMENT,
    DEFAULT_FORECASTS,
    DEFAULT_STRATEGIES,
    DOMAIN,
    LOAD_FORECASTER_PROPHET,
    MODE_DEMO,
    PRICE_SOURCE_DEMO,
    PROPHET_REQUIREMENT,
    PV_FORECAST_SOLAR,
    PV_FORECAST_WEATHER,
    SECTION_BATTERY,
    SECTION_EMS,
    SECTION_FORECASTS,
    SECTION_GRID,
    SECTION_STRATEGIES,
    SECTION_TARIFF,
    SELECTION_MANUAL,
)

from .conftest import SITE_NAME, site_input

if TYPE_CHECKING:
    from collections.abc import Iterator

    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry


# The forecast options as the form sends them (no weather entity chosen).
FORECASTS_INPUT = dict(DEFAULT_FORECASTS)


async def test_user_step_creates_a_demo_site(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], site_input("My House")
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "My House"
    assert result["result"].unique_id == "my_house"
    assert result["data"][SECTION_BATTERY][CONF_CAPACITY_KWH] == 10.0
    assert result["data"][SECTION_TARIFF][CONF_PRICE_SOURCE] == PRICE_SOURCE_DEMO
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


@pytest.mark.parametrize(
    ("sections", "mode", "field", "error"),
    [
        (
            {SECTION_BATTERY: {CONF_CAPACITY_KWH: 0}},
            MODE_DEMO,
            CONF_CAPACITY_KWH,
            "must_be_positive",
        ),
        (
            {SECTION_BATTERY: {CONF_MAX_CHARGE_KW: 0}},
            MODE_DEMO,
            CONF_MAX_CHARGE_KW,
            "must_be_positive",
        ),
        (
            {SECTION_BATTERY: {CONF_CHARGE_EFFICIENCY: 0}},
            MODE_DEMO,
            CONF_CHARGE_EFFICIENCY,
            "invalid_efficiency",
        ),
        (
            {SECTION_BATTERY: {CONF_DISCHARGE_EFFICIENCY: 0}},
            MODE_DEMO,
            CONF_DISCHARGE_EFFICIENCY,
            "invalid_efficiency",
        ),
        (
            {SECTION_BATTERY: {CONF_SOC_MIN: 80, CONF_SOC_MAX: 80}},
            MODE_DEMO,
            CONF_SOC_MIN,
            "invalid_soc_window",
        ),
        (
            {SECTION_BATTERY: {CONF_SOC_MIN: 90, CONF_SOC_MAX: 20}},
            MODE_DEMO,
            CONF_SOC_MIN,
            "invalid_soc_window",
        ),
        (
            {SECTION_GRID: {CONF_MAX_IMPORT_KW: 0}},
            MODE_DEMO,
            CONF_MAX_IMPORT_KW,
            "must_be_positive",
        ),
        (
            {SECTION_GRID: {CONF_MAX_EXPORT_KW: 0}},
            MODE_DEMO,
            CONF_MAX_EXPORT_KW,
            "must_be_positive",
        ),
    ],
)
async def test_user_step_errors_then_recovers(
    hass: HomeAssistant,
    sections: dict[str, dict[str, Any]],
    mode: str,
    field: str,
    error: str,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    bad = {**site_input(**sections), CONF_MODE: mode}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], site_input()
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_form_keeps_typed_values_after_an_error(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    bad = site_input(
        "Cabin", **{SECTION_BATTERY: {CONF_CAPACITY_KWH: 0, CONF_MAX_CHARGE_KW: 7.5}}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)
    battery_section = result["data_schema"].schema
    defaults = {
        str(key): key.default()
        for key in battery_section
        if key.default is not vol.UNDEFINED
    }
    assert defaults["site_name"] == "Cabin"
    battery_schema = next(
        v for k, v in battery_section.items() if str(k) == SECTION_BATTERY
    ).schema.schema
    battery_defaults = {str(key): key.default() for key in battery_schema}
    assert battery_defaults[CONF_MAX_CHARGE_KW] == 7.5


async def test_duplicate_site_aborts(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], site_input(SITE_NAME)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_two_sites_run_side_by_side(hass: HomeAssistant) -> None:
    for name, capacity in (("North", 10.0), ("South", 40.0)):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}
        )
        data = site_input(name, **{SECTION_BATTERY: {CONF_CAPACITY_KWH: capacity}})
        result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
        assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entries = hass.config_entries.async_entries(DOMAIN)
    assert [entry.state for entry in entries] == [ConfigEntryState.LOADED] * 2
    assert {entry.runtime_data.ems.site.battery.capacity_kwh for entry in entries} == {
        10.0,
        40.0,
    }
    assert hass.states.get("sensor.north_state_of_charge") is not None
    assert hass.states.get("sensor.south_state_of_charge") is not None


async def test_reconfigure_changes_the_battery(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    new = site_input(**{SECTION_BATTERY: {CONF_CAPACITY_KWH: 0}})
    del new["site_name"], new[CONF_MODE]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], new)
    assert result["errors"] == {CONF_CAPACITY_KWH: "must_be_positive"}
    assert entry.data[SECTION_BATTERY][CONF_CAPACITY_KWH] == 10.0

    new[SECTION_BATTERY][CONF_CAPACITY_KWH] = 13.5
    result = await hass.config_entries.flow.async_configure(result["flow_id"], new)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[SECTION_BATTERY][CONF_CAPACITY_KWH] == 13.5
    assert entry.data["site_name"] == SITE_NAME
    assert entry.runtime_data.ems.site.battery.capacity_kwh == 13.5


async def test_options_flow_sets_and_applies_every_option(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"

    strategies = {
        **DEFAULT_STRATEGIES,
        CONF_SELECTION_MODE: SELECTION_MANUAL,
        CONF_MANUAL_STRATEGY: "self_consumption",
        CONF_SWITCH_THRESHOLD: 0.25,
    }
    user_input = {
        SECTION_EMS: {
            CONF_OPTIMIZATION_MINUTES: 30,
            CONF_CONTROL_SECONDS: 10,
            CONF_ENGINE: "highs",
        },
        SECTION_STRATEGIES: strategies,
        SECTION_FORECASTS: FORECASTS_INPUT,
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], user_input
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[SECTION_EMS][CONF_OPTIMIZATION_MINUTES] == 30
    assert entry.options[SECTION_STRATEGIES][CONF_SWITCH_THRESHOLD] == 0.25
    coordinator = entry.runtime_data.ems
    assert coordinator.update_interval is not None
    assert coordinator.update_interval.total_seconds() == 30 * 60
    assert coordinator.control_interval.total_seconds() == 10
    assert coordinator.strategy_choice == "self_consumption"
    assert coordinator.engine == "highs"
    assert coordinator.data.plan.engine == "highs"
    assert coordinator.data.plan.strategy == "self_consumption"

    # Opening the options again shows what was stored.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    ems_schema = next(
        v for k, v in result["data_schema"].schema.items() if str(k) == SECTION_EMS
    ).schema.schema
    assert {str(k): k.default() for k in ems_schema}[CONF_OPTIMIZATION_MINUTES] == 30


async def test_options_reject_a_control_interval_below_two_seconds(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    user_input = {
        SECTION_EMS: {CONF_OPTIMIZATION_MINUTES: 15, CONF_CONTROL_SECONDS: 1},
        SECTION_STRATEGIES: dict(DEFAULT_STRATEGIES),
        SECTION_FORECASTS: FORECASTS_INPUT,
    }
    with pytest.raises(vol.Invalid):
        await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert SECTION_EMS not in init_integration.options


def options_with_engine(engine: str) -> dict[str, Any]:
    return {
        SECTION_EMS: {
            CONF_OPTIMIZATION_MINUTES: 15,
            CONF_CONTROL_SECONDS: 5,
            CONF_ENGINE: engine,
        },
        SECTION_STRATEGIES: dict(DEFAULT_STRATEGIES),
        SECTION_FORECASTS: FORECASTS_INPUT,
    }


@contextmanager
def package_missing(
    install_error: Exception | None, check: str = "cvxpy_available"
) -> Iterator[AsyncMock]:
    """Make an optional package (cvxpy, or Prophet with ``prophet_available``) look not installed.

    Its on-demand install fails with ``install_error`` or succeeds.
    """
    with (
        patch(
            f"custom_components.phoenyra_ems.config_flow.{check}",
            return_value=False,
        ),
        patch(
            "custom_components.phoenyra_ems.config_flow.async_process_requirements",
            side_effect=install_error,
        ) as install,
    ):
        yield install


async def test_choosing_cvxpy_where_it_cannot_be_installed(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    # The package index is the boundary: here it has nothing for this system (as on Home Assistant OS).
    with package_missing(RequirementsNotFound(DOMAIN, [CVXPY_REQUIREMENT])) as install:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], options_with_engine("cvxpy")
        )
    install.assert_awaited_once_with(hass, DOMAIN, [CVXPY_REQUIREMENT])
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ENGINE: "cvxpy_unavailable"}
    assert SECTION_EMS not in init_integration.options

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options_with_engine("auto")
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_choosing_cvxpy_installs_it_on_demand(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with package_missing(None) as install:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], options_with_engine("cvxpy")
        )
    install.assert_awaited_once()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert init_integration.runtime_data.ems.data.plan.engine == "cvxpy"


def options_with_forecasts(**forecasts: Any) -> dict[str, Any]:
    return {
        **options_with_engine("auto"),
        SECTION_FORECASTS: {**FORECASTS_INPUT, **forecasts},
    }


async def test_choosing_prophet_where_it_cannot_be_installed(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with package_missing(
        RequirementsNotFound(DOMAIN, [PROPHET_REQUIREMENT]), "prophet_available"
    ) as install:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            options_with_forecasts(**{CONF_LOAD_FORECASTER: LOAD_FORECASTER_PROPHET}),
        )
    install.assert_awaited_once_with(hass, DOMAIN, [PROPHET_REQUIREMENT])
    assert result["errors"] == {CONF_LOAD_FORECASTER: "prophet_unavailable"}
    # The built-in forecaster stays in use.
    assert SECTION_FORECASTS not in init_integration.options


@pytest.mark.parametrize(
    ("forecasts", "field", "error"),
    [
        (
            {CONF_PV_FORECAST: PV_FORECAST_SOLAR},
            CONF_SOLAR_FORECAST_ENTRIES,
            "solar_forecast_required",
        ),
        (
            {CONF_PV_FORECAST: PV_FORECAST_WEATHER},
            CONF_WEATHER_ENTITY,
            "weather_entity_required",
        ),
    ],
)
async def test_pv_forecast_sources_need_their_input(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    forecasts: dict[str, Any],
    field: str,
    error: str,
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options_with_forecasts(**forecasts)
    )
    assert result["errors"] == {field: error}


async def test_choosing_prophet_where_it_is_installed_needs_no_install(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    pytest.importorskip("prophet")
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with patch(
        "custom_components.phoenyra_ems.config_flow.async_process_requirements"
    ) as install:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            options_with_forecasts(**{CONF_LOAD_FORECASTER: LOAD_FORECASTER_PROPHET}),
        )
    install.assert_not_called()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert (
        init_integration.options[SECTION_FORECASTS][CONF_LOAD_FORECASTER]
        == LOAD_FORECASTER_PROPHET
    )
