"""Config flow of Phoenyra EMS: set up a site, tune it (options) and change its battery (reconfigure)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowHandler, section
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.requirements import RequirementsNotFound, async_process_requirements
from homeassistant.util import dt as dt_util, slugify
import voluptuous as vol

from .const import (
    CONF_ALLOW_GRID_CHARGING,
    CONF_BATTERY_PRICE,
    CONF_CAPACITY_KWH,
    CONF_CHARGE_EFFICIENCY,
    CONF_CONNECTION,
    CONF_CONTROL_SECONDS,
    CONF_CYCLE_LIFE,
    CONF_DEMAND_CHARGE,
    CONF_DISCHARGE_EFFICIENCY,
    CONF_ENGINE,
    CONF_EXPORT_MODE,
    CONF_FALLBACK,
    CONF_FEED_IN_CT_KWH,
    CONF_GRID_FEE_CT_KWH,
    CONF_LOAD_FORECASTER,
    CONF_MANUAL_STRATEGY,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_MAX_EXPORT_KW,
    CONF_MAX_IMPORT_KW,
    CONF_MIN_PRICE_SPREAD,
    CONF_MIN_PROFIT,
    CONF_MODE,
    CONF_MQTT_BASE_TOPIC,
    CONF_OPTIMIZATION_MINUTES,
    CONF_PEAK_PERCENTILE,
    CONF_PEAK_REDUCTION,
    CONF_PRICE_ENTITY,
    CONF_PRICE_SOURCE,
    CONF_PV_AZIMUTH,
    CONF_PV_FORECAST,
    CONF_PV_KWP,
    CONF_PV_TILT,
    CONF_REGISTER_MAP,
    CONF_SELECTION_MODE,
    CONF_SETPOINT_ENTITY,
    CONF_SETPOINT_TARGET,
    CONF_SITE_NAME,
    CONF_SMOOTHING_WINDOW,
    CONF_SOC_MAX,
    CONF_SOC_MIN,
    CONF_SOLAR_FORECAST_ENTRIES,
    CONF_SWITCH_THRESHOLD,
    CONF_TARGET_LOAD_FACTOR,
    CONF_TRANSPORT,
    CONF_VAT_PCT,
    CONF_WEATHER_ENTITY,
    CVXPY_REQUIREMENT,
    DEFAULT_BATTERY,
    DEFAULT_GRID,
    DEFAULT_SITE_NAME,
    DEFAULT_TARIFF,
    DOMAIN,
    ENGINE_AUTO,
    ENGINE_CVXPY,
    ENGINE_HIGHS,
    ENTITY_SUFFIX,
    EXPORT_FIXED,
    EXPORT_SPOT,
    JSON_PATH_SUFFIX,
    LOAD_FORECASTER_BUILTIN,
    LOAD_FORECASTER_PROPHET,
    LOGGER,
    MIN_CONTROL_SECONDS,
    MODE_DEMO,
    MODE_LIVE,
    PRICE_SOURCE_AWATTAR_AT,
    PRICE_SOURCE_AWATTAR_DE,
    PRICE_SOURCE_DEMO,
    PRICE_SOURCE_ENTITY,
    PROPHET_REQUIREMENT,
    PV_FORECAST_DEMO,
    PV_FORECAST_SOLAR,
    PV_FORECAST_WEATHER,
    SECTION_BATTERY,
    SECTION_DEVICE,
    SECTION_EMS,
    SECTION_FORECASTS,
    SECTION_GRID,
    SECTION_STRATEGIES,
    SECTION_TARIFF,
    SELECTION_AUTO,
    SELECTION_MANUAL,
    TARGET_MODBUS,
    TARGET_MQTT,
    TOPIC_SUFFIX,
    TRANSPORT_ENTITIES,
    TRANSPORT_MODBUS,
    TRANSPORT_MQTT,
)
from .coordinator import PhoenyraConfigEntry, ems_options, site_config, strategy_options
from .device_flow import (
    async_test_modbus,
    async_test_mqtt,
    choice_selector,
    device_schema,
    entities_schema,
    format_values,
    modbus_connection,
    modbus_schema,
    mqtt_schema,
    number_selector,
    register_map,
    registers_schema,
    validate_device,
    validate_entities,
)
from .engine.control import Fallback
from .engine.cvxpy_engine import cvxpy_available
from .engine.model import InvalidInputError, Strategy
from .engine.prices import PriceDataError
from .engine.prophet_forecast import prophet_available
from .engine.registers import SIGNALS
from .forecasts import async_solar_forecast_platforms, forecast_options
from .price_source import AWATTAR_REGIONS, read_price_entity
from .sources.awattar import AwattarClient, PriceFetchError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# Which error each invalid engine input shows, on the field of the same name.
_ERROR_FOR_FIELD = {
    CONF_CAPACITY_KWH: "must_be_positive",
    CONF_MAX_CHARGE_KW: "must_be_positive",
    CONF_MAX_DISCHARGE_KW: "must_be_positive",
    CONF_MAX_IMPORT_KW: "must_be_positive",
    CONF_MAX_EXPORT_KW: "must_be_positive",
    CONF_CHARGE_EFFICIENCY: "invalid_efficiency",
    CONF_DISCHARGE_EFFICIENCY: "invalid_efficiency",
    CONF_SOC_MIN: "invalid_soc_window",
}


def site_schema(values: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    """Battery, grid and tariff sections, filled with ``values`` (an entry's data or defaults)."""
    battery = {**DEFAULT_BATTERY, **values.get(SECTION_BATTERY, {})}
    grid = {**DEFAULT_GRID, **values.get(SECTION_GRID, {})}
    tariff = {**DEFAULT_TARIFF, **values.get(SECTION_TARIFF, {})}
    return {
        vol.Required(SECTION_BATTERY): section(
            vol.Schema(
                {
                    vol.Required(
                        CONF_CAPACITY_KWH, default=battery[CONF_CAPACITY_KWH]
                    ): number_selector(0, 100000, 0.1, "kWh"),
                    vol.Required(
                        CONF_MAX_CHARGE_KW, default=battery[CONF_MAX_CHARGE_KW]
                    ): number_selector(0, 100000, 0.1, "kW"),
                    vol.Required(
                        CONF_MAX_DISCHARGE_KW, default=battery[CONF_MAX_DISCHARGE_KW]
                    ): number_selector(0, 100000, 0.1, "kW"),
                    vol.Required(
                        CONF_CHARGE_EFFICIENCY, default=battery[CONF_CHARGE_EFFICIENCY]
                    ): number_selector(0, 1, 0.01),
                    vol.Required(
                        CONF_DISCHARGE_EFFICIENCY,
                        default=battery[CONF_DISCHARGE_EFFICIENCY],
                    ): number_selector(0, 1, 0.01),
                    vol.Required(
                        CONF_SOC_MIN, default=battery[CONF_SOC_MIN]
                    ): number_selector(0, 100, 1, "%"),
                    vol.Required(
                        CONF_SOC_MAX, default=battery[CONF_SOC_MAX]
                    ): number_selector(0, 100, 1, "%"),
                }
            ),
            {"collapsed": False},
        ),
        vol.Required(SECTION_GRID): section(
            vol.Schema(
                {
                    vol.Required(
                        CONF_MAX_IMPORT_KW, default=grid[CONF_MAX_IMPORT_KW]
                    ): number_selector(0, 100000, 0.1, "kW"),
                    vol.Required(
                        CONF_MAX_EXPORT_KW, default=grid[CONF_MAX_EXPORT_KW]
                    ): number_selector(0, 100000, 0.1, "kW"),
                }
            ),
            {"collapsed": False},
        ),
        vol.Required(SECTION_TARIFF): section(
            vol.Schema(
                {
                    vol.Required(
                        CONF_PRICE_SOURCE, default=tariff[CONF_PRICE_SOURCE]
                    ): choice_selector(
                        [
                            PRICE_SOURCE_DEMO,
                            PRICE_SOURCE_AWATTAR_AT,
                            PRICE_SOURCE_AWATTAR_DE,
                            PRICE_SOURCE_ENTITY,
                        ],
                        CONF_PRICE_SOURCE,
                    ),
                    vol.Optional(
                        CONF_PRICE_ENTITY,
                        description={"suggested_value": tariff.get(CONF_PRICE_ENTITY)},
                    ): EntitySelector(EntitySelectorConfig(domain=SENSOR_DOMAIN)),
                    vol.Required(
                        CONF_VAT_PCT, default=tariff[CONF_VAT_PCT]
                    ): number_selector(0, 100, 0.1, "%"),
                    vol.Required(
                        CONF_GRID_FEE_CT_KWH, default=tariff[CONF_GRID_FEE_CT_KWH]
                    ): number_selector(0, 1000, 0.01, "ct/kWh"),
                    vol.Required(
                        CONF_EXPORT_MODE, default=tariff[CONF_EXPORT_MODE]
                    ): choice_selector([EXPORT_SPOT, EXPORT_FIXED], CONF_EXPORT_MODE),
                    vol.Required(
                        CONF_FEED_IN_CT_KWH, default=tariff[CONF_FEED_IN_CT_KWH]
                    ): number_selector(0, 1000, 0.01, "ct/kWh"),
                }
            ),
            {"collapsed": False},
        ),
    }


async def async_validate_site(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> dict[str, str]:
    """Field errors of a site's data; the engine's own checks decide what is valid.

    The price source is tried before the site is saved: aWATTar must answer with prices, a price
    entity must exist and list prices in a format the EMS knows.
    """
    errors: dict[str, str] = {}
    try:
        site_config(user_input)
    except InvalidInputError as err:
        errors[err.field] = _ERROR_FOR_FIELD[err.field]
    if error := await _async_price_source_error(hass, user_input[SECTION_TARIFF]):
        errors[CONF_PRICE_SOURCE] = error
    return errors


async def _async_price_source_error(
    hass: HomeAssistant, tariff: Mapping[str, Any]
) -> str | None:
    """Return why the chosen price source cannot deliver prices now, or None."""
    source = tariff[CONF_PRICE_SOURCE]
    if source in AWATTAR_REGIONS:
        client = AwattarClient(async_get_clientsession(hass), AWATTAR_REGIONS[source])
        today = dt_util.start_of_local_day()
        try:
            points = await client.fetch(today, today + timedelta(days=1))
        except PriceFetchError as err:
            LOGGER.warning("aWATTar did not answer the connection test: %s", err)
            return "awattar_unreachable"
        return None if points else "awattar_unreachable"
    if source == PRICE_SOURCE_ENTITY:
        entity_id = tariff.get(CONF_PRICE_ENTITY)
        if not entity_id:
            return "price_entity_required"
        if (state := hass.states.get(entity_id)) is None:
            return "price_entity_missing"
        try:
            read_price_entity(
                state.attributes, state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
            )
        except PriceDataError as err:
            LOGGER.warning("%s lists no prices the EMS can read: %s", entity_id, err)
            return "price_entity_unreadable"
    return None


class DeviceSteps(FlowHandler[Any, ConfigFlowResult, Any]):
    """The steps that connect a live site's device, shared by setup, reconfigure and options.

    They fill ``_data`` (the entry's data) step by step; ``_async_finish``, which each flow
    defines, saves it.
    """

    _async_finish: Callable[[], ConfigFlowResult]

    def __init__(self) -> None:
        """Start with nothing entered."""
        super().__init__()
        # The site's data so far; its device section grows with each device step.
        self._data: dict[str, Any] = {}
        # What the last connection test read, shown on the test step.
        self._test_values: dict[str, float] = {}
        self._test_problems = ""
        # The Modbus step's input (unit id and byte orders apply to every register).
        self._modbus: dict[str, Any] = {}

    @property
    def _device(self) -> dict[str, Any]:
        device: dict[str, Any] = self._data.setdefault(SECTION_DEVICE, {})
        return device

    async def async_step_device(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where the measurements come from and where the setpoint goes."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = validate_device(self.hass, user_input)
            if not errors:
                if self._device.get(CONF_TRANSPORT) != user_input[CONF_TRANSPORT]:
                    # Another transport's topics or registers would only confuse later edits.
                    self._device.clear()
                self._device.update(user_input)
                if CONF_SETPOINT_ENTITY not in user_input:
                    self._device.pop(CONF_SETPOINT_ENTITY, None)
                step = {
                    TRANSPORT_ENTITIES: self.async_step_entities,
                    TRANSPORT_MQTT: self.async_step_mqtt_topics,
                    TRANSPORT_MODBUS: self.async_step_modbus,
                }[user_input[CONF_TRANSPORT]]
                return await step()
        return self.async_show_form(
            step_id="device",
            data_schema=device_schema(user_input or self._device),
            errors=errors,
        )

    async def async_step_entities(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the sensors of the measured signals, and read them."""
        errors: dict[str, str] = {}
        problems = ""
        if user_input is not None:
            errors, values, problems = validate_entities(self.hass, user_input)
            if not errors:
                self._replace_device_fields(ENTITY_SUFFIX, user_input)
                self._test_values, self._test_problems = values, problems
                return await self.async_step_connection_test()
        return self.async_show_form(
            step_id="entities",
            data_schema=entities_schema(user_input or self._device),
            errors=errors,
            description_placeholders={"problems": problems or "-"},
        )

    async def async_step_mqtt_topics(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the topics, and listen to them."""
        errors: dict[str, str] = {}
        problems = ""
        with_setpoint = self._device[CONF_SETPOINT_TARGET] == TARGET_MQTT
        if user_input is not None:
            errors, values, problems = await async_test_mqtt(self.hass, user_input)
            if not errors:
                self._replace_device_fields(TOPIC_SUFFIX, user_input)
                self._test_values, self._test_problems = values, problems
                return await self.async_step_connection_test()
        return self.async_show_form(
            step_id="mqtt_topics",
            data_schema=mqtt_schema(user_input or self._device, with_setpoint),
            errors=errors,
            description_placeholders={"problems": problems or "-"},
        )

    async def async_step_modbus(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask how the Modbus device is reached."""
        errors: dict[str, str] = {}
        if user_input is not None:
            connection, errors = modbus_connection(user_input)
            if not errors:
                self._device[CONF_CONNECTION] = connection
                self._modbus = user_input
                return await self.async_step_registers()
        return self.async_show_form(
            step_id="modbus",
            data_schema=modbus_schema(user_input or self._device),
            errors=errors,
        )

    async def async_step_registers(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the register map, and read it once from the device."""
        errors: dict[str, str] = {}
        problems = ""
        shown: Mapping[str, Any] = self._device
        if user_input is not None:
            entries, errors, problems = register_map(
                user_input,
                self._modbus,
                self._device[CONF_SETPOINT_TARGET] == TARGET_MODBUS,
            )
            # Shown again as typed, not as stored.
            shown = {CONF_REGISTER_MAP: entries}
            if not errors:
                errors, values, problems = await async_test_modbus(
                    self._device[CONF_CONNECTION], entries
                )
            if not errors:
                self._device[CONF_REGISTER_MAP] = entries
                self._test_values, self._test_problems = values, problems
                return await self.async_step_connection_test()
        return self.async_show_form(
            step_id="registers",
            data_schema=registers_schema(shown),
            errors=errors,
            description_placeholders={"problems": problems or "-"},
        )

    async def async_step_connection_test(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what the device reported; saving keeps the settings."""
        if user_input is not None:
            return self._async_finish()
        return self.async_show_form(
            step_id="connection_test",
            data_schema=vol.Schema({}),
            description_placeholders={
                "values": format_values(self._test_values),
                "problems": self._test_problems or "-",
            },
        )

    def _replace_device_fields(
        self, suffix: str, user_input: Mapping[str, Any]
    ) -> None:
        """Store a transport step's fields; a signal left empty drops its stored value."""
        device = self._device
        for signal in SIGNALS:
            device.pop(signal + suffix, None)
            device.pop(signal + JSON_PATH_SUFFIX, None)
        device.update(user_input)


class PhoenyraConfigFlow(DeviceSteps, ConfigFlow, domain=DOMAIN):
    """Sets up one site (one battery) per entry; a live site then its device, step by step."""

    VERSION = 1

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the site, its battery, grid connection and tariff."""
        errors: dict[str, str] = {}
        if user_input is not None:
            await self.async_set_unique_id(slugify(user_input[CONF_SITE_NAME]))
            self._abort_if_unique_id_configured()
            if not (errors := await async_validate_site(self.hass, user_input)):
                self._data = dict(user_input)
                if user_input[CONF_MODE] == MODE_LIVE:
                    return await self.async_step_device()
                return self.async_create_entry(
                    title=user_input[CONF_SITE_NAME], data=user_input
                )
        values = user_input or {}
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_SITE_NAME,
                    default=values.get(CONF_SITE_NAME, DEFAULT_SITE_NAME),
                ): TextSelector(),
                vol.Required(
                    CONF_MODE, default=values.get(CONF_MODE, MODE_DEMO)
                ): choice_selector([MODE_DEMO, MODE_LIVE], CONF_MODE),
                **site_schema(values),
            }
        )
        return self.async_show_form(step_id="user", data_schema=schema, errors=errors)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the battery, grid connection or tariff of an existing site."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **user_input}
            if not (errors := await async_validate_site(self.hass, data)):
                if data[CONF_MODE] == MODE_LIVE:
                    self._data = copy.deepcopy(data)
                    return await self.async_step_device()
                return self.async_update_reload_and_abort(entry, data=data)
        schema = vol.Schema(site_schema(user_input or entry.data))
        return self.async_show_form(
            step_id="reconfigure", data_schema=schema, errors=errors
        )

    def _async_finish(self) -> ConfigFlowResult:
        """Save the site: a new entry, or the reconfigured one (which reloads)."""
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data=self._data
            )
        return self.async_create_entry(
            title=self._data[CONF_SITE_NAME], data=self._data
        )

    @staticmethod
    @callback
    def async_get_options_flow(
        config_entry: PhoenyraConfigEntry,
    ) -> PhoenyraOptionsFlow:
        """Tune the EMS of a site."""
        return PhoenyraOptionsFlow()


class PhoenyraOptionsFlow(DeviceSteps, OptionsFlow):
    """EMS intervals, engine and strategy settings; for a live site also its device."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and store the options; a live site first chooses between them and its device."""
        if user_input is None and self.config_entry.data[CONF_MODE] == MODE_LIVE:
            return self.async_show_menu(
                step_id="init", menu_options=["settings", "device"]
            )
        return await self.async_step_settings(user_input)

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and store the options."""
        errors: dict[str, str] = {}
        if user_input is not None and not (
            errors := await self._async_validate(user_input)
        ):
            return self.async_create_entry(data=user_input)
        values = user_input or self.config_entry.options
        schema = options_schema(values, await async_solar_forecast_choices(self.hass))
        # A demo site has no menu: its options form is the flow's first step.
        step_id = (
            "settings" if self.config_entry.data[CONF_MODE] == MODE_LIVE else "init"
        )
        return self.async_show_form(step_id=step_id, data_schema=schema, errors=errors)

    async def async_step_device(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the device of a live site (the same steps as its setup)."""
        if not self._data:
            self._data = copy.deepcopy(dict(self.config_entry.data))
        return await super().async_step_device(user_input)

    def _async_finish(self) -> ConfigFlowResult:
        """Store the new device in the entry's data (the site reloads); the options stay."""
        self.hass.config_entries.async_update_entry(self.config_entry, data=self._data)
        self.hass.config_entries.async_schedule_reload(self.config_entry.entry_id)
        return self.async_create_entry(data=dict(self.config_entry.options))

    async def _async_validate(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        return await async_validate_options(self.hass, user_input)


def options_schema(
    values: Mapping[str, Any], solar_choices: list[SelectOptionDict]
) -> vol.Schema:
    """Return the options form, filled with ``values`` (an entry's options, or what was typed).

    ``solar_choices`` are the config entries that give the Energy dashboard solar forecasts.
    """
    return vol.Schema(
        {
            **_ems_schema(ems_options(values)),
            **_strategies_schema(strategy_options(values)),
            **_forecasts_schema(forecast_options(values), solar_choices),
        }
    )


async def async_solar_forecast_choices(hass: HomeAssistant) -> list[SelectOptionDict]:
    """Return the config entries whose integration gives the Energy dashboard solar forecasts."""
    platforms = await async_solar_forecast_platforms(hass)
    return [
        SelectOptionDict(value=entry.entry_id, label=entry.title)
        for entry in hass.config_entries.async_entries()
        if entry.domain in platforms
    ]


async def async_validate_options(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> dict[str, str]:
    """Field errors of new options; installs cvxpy or Prophet when chosen, where they install."""
    errors: dict[str, str] = {}
    if topic := user_input[SECTION_EMS].get(CONF_MQTT_BASE_TOPIC):
        try:
            mqtt.valid_publish_topic(topic)
        except vol.Invalid:
            errors[CONF_MQTT_BASE_TOPIC] = "invalid_topic"
    if user_input[SECTION_EMS][
        CONF_ENGINE
    ] == ENGINE_CVXPY and not await _async_install(
        hass, cvxpy_available, CVXPY_REQUIREMENT
    ):
        # Home Assistant OS has no cvxpy wheels; HiGHS carries on (engine "auto" falls back to it).
        errors[CONF_ENGINE] = "cvxpy_unavailable"
    forecasts = forecast_options(user_input)
    if forecasts[
        CONF_LOAD_FORECASTER
    ] == LOAD_FORECASTER_PROPHET and not await _async_install(
        hass, prophet_available, PROPHET_REQUIREMENT
    ):
        # No Prophet wheels for Home Assistant OS either; the built-in forecaster stays in use.
        errors[CONF_LOAD_FORECASTER] = "prophet_unavailable"
    pv_forecast = forecasts[CONF_PV_FORECAST]
    if pv_forecast == PV_FORECAST_SOLAR and not forecasts[CONF_SOLAR_FORECAST_ENTRIES]:
        errors[CONF_SOLAR_FORECAST_ENTRIES] = "solar_forecast_required"
    if pv_forecast == PV_FORECAST_WEATHER and not forecasts.get(CONF_WEATHER_ENTITY):
        errors[CONF_WEATHER_ENTITY] = "weather_entity_required"
    return errors


async def _async_install(
    hass: HomeAssistant, available: Callable[[], bool], requirement: str
) -> bool:
    """Make an optional package importable; False where it cannot be installed."""
    if await hass.async_add_executor_job(available):
        return True
    try:
        await async_process_requirements(hass, DOMAIN, [requirement])
    except RequirementsNotFound:
        return False
    # The answer is cached; look again now that it is installed.
    available.cache_clear()  # type: ignore[attr-defined]
    return True


def _forecasts_schema(
    forecasts: Mapping[str, Any], solar_choices: list[SelectOptionDict]
) -> dict[vol.Marker, Any]:
    def default(key: str) -> vol.Required:
        return vol.Required(key, default=forecasts[key])

    return {
        vol.Required(SECTION_FORECASTS): section(
            vol.Schema(
                {
                    default(CONF_LOAD_FORECASTER): choice_selector(
                        [LOAD_FORECASTER_BUILTIN, LOAD_FORECASTER_PROPHET],
                        CONF_LOAD_FORECASTER,
                    ),
                    default(CONF_PV_FORECAST): choice_selector(
                        [PV_FORECAST_DEMO, PV_FORECAST_SOLAR, PV_FORECAST_WEATHER],
                        CONF_PV_FORECAST,
                    ),
                    default(CONF_SOLAR_FORECAST_ENTRIES): SelectSelector(
                        SelectSelectorConfig(
                            options=solar_choices,
                            multiple=True,
                            mode=SelectSelectorMode.DROPDOWN,
                        )
                    ),
                    vol.Optional(
                        CONF_WEATHER_ENTITY,
                        description={
                            "suggested_value": forecasts.get(CONF_WEATHER_ENTITY)
                        },
                    ): EntitySelector(EntitySelectorConfig(domain=Platform.WEATHER)),
                    default(CONF_PV_KWP): number_selector(0.1, 10000, 0.1, "kWp"),
                    default(CONF_PV_TILT): number_selector(0, 90, 1, "°"),
                    default(CONF_PV_AZIMUTH): number_selector(0, 360, 1, "°"),
                }
            ),
            {"collapsed": True},
        )
    }


def _ems_schema(ems: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    return {
        vol.Required(SECTION_EMS): section(
            vol.Schema(
                {
                    vol.Required(
                        CONF_OPTIMIZATION_MINUTES,
                        default=ems[CONF_OPTIMIZATION_MINUTES],
                    ): number_selector(1, 60, 1, "min"),
                    vol.Required(
                        CONF_CONTROL_SECONDS, default=ems[CONF_CONTROL_SECONDS]
                    ): number_selector(MIN_CONTROL_SECONDS, 300, 1, "s"),
                    vol.Required(
                        CONF_ENGINE, default=ems[CONF_ENGINE]
                    ): choice_selector(
                        [ENGINE_AUTO, ENGINE_HIGHS, ENGINE_CVXPY], CONF_ENGINE
                    ),
                    vol.Required(
                        CONF_FALLBACK, default=ems[CONF_FALLBACK]
                    ): choice_selector(
                        [fallback.value for fallback in Fallback], CONF_FALLBACK
                    ),
                    vol.Optional(
                        CONF_MQTT_BASE_TOPIC, default=ems[CONF_MQTT_BASE_TOPIC]
                    ): TextSelector(),
                }
            ),
            {"collapsed": False},
        )
    }


def _strategies_schema(strategies: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    def default(key: str) -> vol.Required:
        return vol.Required(key, default=strategies[key])

    return {
        vol.Required(SECTION_STRATEGIES): section(
            vol.Schema(
                {
                    default(CONF_SELECTION_MODE): choice_selector(
                        [SELECTION_AUTO, SELECTION_MANUAL], CONF_SELECTION_MODE
                    ),
                    default(CONF_MANUAL_STRATEGY): choice_selector(
                        [strategy.value for strategy in Strategy], CONF_MANUAL_STRATEGY
                    ),
                    default(CONF_SWITCH_THRESHOLD): number_selector(0, 1, 0.01),
                    default(CONF_BATTERY_PRICE): number_selector(
                        0, 10000, 1, "EUR/kWh"
                    ),
                    default(CONF_CYCLE_LIFE): number_selector(100, 100000, 100),
                    default(CONF_DEMAND_CHARGE): number_selector(
                        0, 1000, 0.01, "EUR/kW"
                    ),
                    default(CONF_MIN_PRICE_SPREAD): number_selector(
                        0, 1000, 0.1, "EUR/MWh"
                    ),
                    default(CONF_MIN_PROFIT): number_selector(0, 1000, 0.01, "EUR"),
                    default(CONF_PEAK_PERCENTILE): number_selector(0, 100, 1, "%"),
                    default(CONF_PEAK_REDUCTION): number_selector(0, 100, 1, "%"),
                    default(CONF_SMOOTHING_WINDOW): number_selector(1, 48, 1, "h"),
                    default(CONF_TARGET_LOAD_FACTOR): number_selector(0, 1, 0.01),
                    default(CONF_ALLOW_GRID_CHARGING): BooleanSelector(),
                }
            ),
            {"collapsed": False},
        )
    }
