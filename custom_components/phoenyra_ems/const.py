"""Constants of the Phoenyra EMS integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "phoenyra_ems"
LOGGER = logging.getLogger(__package__)

# Entry data: what identifies and describes the site (user step, reconfigure).
CONF_SITE_NAME: Final = "site_name"
CONF_MODE: Final = "mode"
MODE_DEMO: Final = "demo"
MODE_LIVE: Final = "live"

SECTION_BATTERY: Final = "battery"
CONF_CAPACITY_KWH: Final = "capacity_kwh"
CONF_MAX_CHARGE_KW: Final = "max_charge_kw"
CONF_MAX_DISCHARGE_KW: Final = "max_discharge_kw"
CONF_CHARGE_EFFICIENCY: Final = "charge_efficiency"
CONF_DISCHARGE_EFFICIENCY: Final = "discharge_efficiency"
CONF_SOC_MIN: Final = "soc_min_pct"
CONF_SOC_MAX: Final = "soc_max_pct"

SECTION_GRID: Final = "grid"
CONF_MAX_IMPORT_KW: Final = "max_import_kw"
CONF_MAX_EXPORT_KW: Final = "max_export_kw"

SECTION_TARIFF: Final = "tariff"
CONF_PRICE_SOURCE: Final = "price_source"
PRICE_SOURCE_DEMO: Final = "demo"
PRICE_SOURCE_AWATTAR_AT: Final = "awattar_at"
PRICE_SOURCE_AWATTAR_DE: Final = "awattar_de"
PRICE_SOURCE_ENTITY: Final = "entity"
CONF_PRICE_ENTITY: Final = "price_entity"
CONF_VAT_PCT: Final = "vat_pct"
CONF_GRID_FEE_CT_KWH: Final = "grid_fee_ct_kwh"
CONF_EXPORT_MODE: Final = "export_mode"
EXPORT_SPOT: Final = "spot"
EXPORT_FIXED: Final = "fixed"
CONF_FEED_IN_CT_KWH: Final = "feed_in_ct_kwh"

# Entry options: what tunes the EMS (options flow).
SECTION_EMS: Final = "ems"
CONF_OPTIMIZATION_MINUTES: Final = "optimization_interval_minutes"
CONF_CONTROL_SECONDS: Final = "control_interval_seconds"
CONF_ENGINE: Final = "engine"
ENGINE_AUTO: Final = "auto"
ENGINE_HIGHS: Final = "highs"
ENGINE_CVXPY: Final = "cvxpy"
CVXPY_REQUIREMENT: Final = "cvxpy>=1.6"
# What the battery does while the EMS cannot follow its plan (engine.control.Fallback).
CONF_FALLBACK: Final = "fallback"
# Where the plan and state are published (retained) over MQTT for other systems; empty: nowhere.
CONF_MQTT_BASE_TOPIC: Final = "mqtt_base_topic"

SECTION_STRATEGIES: Final = "strategies"
CONF_SELECTION_MODE: Final = "selection_mode"
SELECTION_AUTO: Final = "auto"
SELECTION_MANUAL: Final = "manual"
CONF_MANUAL_STRATEGY: Final = "manual_strategy"
CONF_SWITCH_THRESHOLD: Final = "switch_threshold"
CONF_MIN_PRICE_SPREAD: Final = "arbitrage_min_price_spread_eur_mwh"
CONF_MIN_PROFIT: Final = "arbitrage_min_profit_eur"
CONF_PEAK_PERCENTILE: Final = "peak_threshold_percentile"
CONF_PEAK_REDUCTION: Final = "peak_target_reduction_pct"
CONF_SMOOTHING_WINDOW: Final = "load_balancing_smoothing_window"
CONF_TARGET_LOAD_FACTOR: Final = "load_balancing_target_load_factor"
CONF_ALLOW_GRID_CHARGING: Final = "self_consumption_allow_grid_charging"
CONF_BATTERY_PRICE: Final = "battery_price_eur_kwh"
CONF_CYCLE_LIFE: Final = "cycle_life"
CONF_DEMAND_CHARGE: Final = "demand_charge_eur_kw"

DEFAULT_SITE_NAME: Final = "Home battery"
DEFAULT_BATTERY: Final = {
    CONF_CAPACITY_KWH: 10.0,
    CONF_MAX_CHARGE_KW: 5.0,
    CONF_MAX_DISCHARGE_KW: 5.0,
    CONF_CHARGE_EFFICIENCY: 0.95,
    CONF_DISCHARGE_EFFICIENCY: 0.95,
    CONF_SOC_MIN: 10.0,
    CONF_SOC_MAX: 90.0,
}
DEFAULT_GRID: Final = {CONF_MAX_IMPORT_KW: 17.0, CONF_MAX_EXPORT_KW: 10.0}
DEFAULT_TARIFF: Final = {
    CONF_PRICE_SOURCE: PRICE_SOURCE_DEMO,
    CONF_VAT_PCT: 20.0,
    CONF_GRID_FEE_CT_KWH: 10.0,
    CONF_EXPORT_MODE: EXPORT_SPOT,
    CONF_FEED_IN_CT_KWH: 8.0,
}
DEFAULT_EMS: Final = {
    CONF_OPTIMIZATION_MINUTES: 15,
    CONF_CONTROL_SECONDS: 5,
    CONF_ENGINE: ENGINE_AUTO,
    CONF_FALLBACK: "idle",
    CONF_MQTT_BASE_TOPIC: "",
}
MIN_CONTROL_SECONDS: Final = 2
DEFAULT_STRATEGIES: Final = {
    CONF_SELECTION_MODE: SELECTION_AUTO,
    CONF_MANUAL_STRATEGY: "arbitrage",
    CONF_SWITCH_THRESHOLD: 0.15,
    CONF_MIN_PRICE_SPREAD: 20.0,
    CONF_MIN_PROFIT: 0.0,
    CONF_PEAK_PERCENTILE: 75.0,
    CONF_PEAK_REDUCTION: 20.0,
    CONF_SMOOTHING_WINDOW: 3,
    CONF_TARGET_LOAD_FACTOR: 0.8,
    CONF_ALLOW_GRID_CHARGING: False,
    CONF_BATTERY_PRICE: 400.0,
    CONF_CYCLE_LIFE: 6000,
    CONF_DEMAND_CHARGE: 0.0,
}

SECTION_FORECASTS: Final = "forecasts"
CONF_LOAD_FORECASTER: Final = "load_forecaster"
LOAD_FORECASTER_BUILTIN: Final = "builtin"
LOAD_FORECASTER_PROPHET: Final = "prophet"
PROPHET_REQUIREMENT: Final = "prophet>=1.1.5"
CONF_PV_FORECAST: Final = "pv_forecast"
PV_FORECAST_DEMO: Final = "demo"
PV_FORECAST_SOLAR: Final = "solar_forecast"
PV_FORECAST_WEATHER: Final = "weather"
CONF_SOLAR_FORECAST_ENTRIES: Final = "solar_forecast_entries"
CONF_WEATHER_ENTITY: Final = "weather_entity"
CONF_PV_KWP: Final = "pv_kwp"
CONF_PV_TILT: Final = "pv_tilt"
CONF_PV_AZIMUTH: Final = "pv_azimuth"
DEFAULT_FORECASTS: Final = {
    CONF_LOAD_FORECASTER: LOAD_FORECASTER_BUILTIN,
    CONF_PV_FORECAST: PV_FORECAST_DEMO,
    CONF_SOLAR_FORECAST_ENTRIES: [],
    CONF_PV_KWP: 5.0,
    CONF_PV_TILT: 30.0,
    CONF_PV_AZIMUTH: 180.0,
}

ATTRIBUTION: Final = (
    "Demo data: aWATTar day-ahead prices (AT), EMHASS household load and PV"
)
EXPECTED_PROFIT_HOURS: Final = 24.0

# Live mode: where the site's measurements come from and where the setpoint goes (entry data).
SECTION_DEVICE: Final = "device"
CONF_TRANSPORT: Final = "transport"
TRANSPORT_ENTITIES: Final = "entities"
TRANSPORT_MQTT: Final = "mqtt"
TRANSPORT_MODBUS: Final = "modbus"
CONF_SETPOINT_TARGET: Final = "setpoint_target"
TARGET_NONE: Final = "none"
TARGET_NUMBER: Final = "number_entity"
TARGET_MQTT: Final = "mqtt"
TARGET_MODBUS: Final = "modbus"
CONF_SETPOINT_ENTITY: Final = "setpoint_entity"
CONF_INVERT_SETPOINT: Final = "invert_setpoint"
CONF_WRITE_DEADBAND_KW: Final = "write_deadband_kw"
CONF_WRITE_MIN_SECONDS: Final = "write_min_interval_seconds"
# Per measured signal (engine.registers.SIGNALS): "<signal>_entity", "<signal>_topic",
# "<signal>_json_path".
ENTITY_SUFFIX: Final = "_entity"
TOPIC_SUFFIX: Final = "_topic"
JSON_PATH_SUFFIX: Final = "_json_path"
CONF_INVERT_BATTERY_POWER: Final = "invert_battery_power"
CONF_INVERT_GRID_POWER: Final = "invert_grid_power"
CONF_POWER_UNIT: Final = "power_unit"
CONF_SETPOINT_TOPIC: Final = "setpoint_topic"
CONF_CONNECTION: Final = "connection"
CONF_REGISTER_MAP: Final = "register_map"
DEFAULT_DEVICE: Final = {
    CONF_SETPOINT_TARGET: TARGET_NONE,
    CONF_INVERT_SETPOINT: False,
    CONF_WRITE_DEADBAND_KW: 0.05,
    CONF_WRITE_MIN_SECONDS: 10.0,
    CONF_INVERT_BATTERY_POWER: False,
    CONF_INVERT_GRID_POWER: False,
    CONF_POWER_UNIT: "W",
}
