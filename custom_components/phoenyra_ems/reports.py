"""What the EMS tells its users: state, plan, forecast, history and analytics as plain data.

Actions and websocket commands answer with the same reports; one function builds each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.components.recorder import DOMAIN as RECORDER_DOMAIN, get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import Platform
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import numpy as np

from .const import (
    CONF_CONNECTION,
    CONF_INVERT_BATTERY_POWER,
    CONF_INVERT_GRID_POWER,
    CONF_INVERT_SETPOINT,
    CONF_MODE,
    CONF_POWER_UNIT,
    CONF_REGISTER_MAP,
    CONF_SETPOINT_ENTITY,
    CONF_SETPOINT_TARGET,
    CONF_SETPOINT_TOPIC,
    CONF_TRANSPORT,
    CONF_WRITE_DEADBAND_KW,
    CONF_WRITE_MIN_SECONDS,
    DOMAIN,
    ENTITY_SUFFIX,
    EXPECTED_PROFIT_HOURS,
    JSON_PATH_SUFFIX,
    MODE_LIVE,
    TARGET_MQTT,
    TARGET_NUMBER,
    TOPIC_SUFFIX,
    TRANSPORT_ENTITIES,
    TRANSPORT_MODBUS,
    TRANSPORT_MQTT,
)
from .device import device_config
from .engine.registers import SETPOINT, SIGNALS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

    from .coordinator import EmsCoordinator
    from .engine.kpi import EnergyTotals
    from .forecasts import Alternative

# Sensors whose history get_history returns (keys of the sensor descriptions).
HISTORY_SENSORS = (
    "state_of_charge",
    "battery_power",
    "battery_setpoint",
    "grid_power",
    "pv_power",
    "load_power",
    "current_price",
)
MAX_HISTORY_HOURS = 168
MAX_ANALYTICS_DAYS = 365
RECENT_RUNS = 15


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def state_report(coordinator: EmsCoordinator) -> dict[str, Any]:
    """Report the site now: measurements, setpoint, strategy, prices, KPIs."""
    measurement = coordinator.measurement
    import_price, export_price = coordinator.prices_now()
    planned = coordinator.last_update_success and coordinator.data is not None
    kpi = coordinator.memory.kpi
    return {
        "time": measurement.time.isoformat(),
        "enabled": coordinator.enabled,
        "dry_run": coordinator.dry_run,
        "plan_valid": planned,
        # Whether the measurements below are recent; the last good ones otherwise.
        "measured": coordinator.measurement_fresh,
        "fallback_reason": coordinator.watchdog_reason,
        "strategy_choice": coordinator.strategy_choice,
        "active_strategy": coordinator.active_strategy.value if planned else None,
        "soc_pct": _round(measurement.soc_pct, 3),
        "battery_kw": _round(measurement.battery_kw),
        "setpoint_kw": _round(coordinator.setpoint_kw),
        "grid_kw": _round(measurement.grid_kw),
        "pv_kw": _round(measurement.pv_kw),
        "load_kw": _round(measurement.load_kw),
        "import_price_eur_kwh": _round(import_price, 5),
        "export_price_eur_kwh": _round(export_price, 5),
        "expected_profit_eur": coordinator.expected_profit_eur(EXPECTED_PROFIT_HOURS)
        if planned
        else None,
        "profit_today_eur": _round(kpi.today.profit_eur),
        "profit_total_eur": _round(kpi.total.profit_eur),
        "month_peak_import_kw": _round(coordinator.memory.peak_import_kw),
    }


def plan_report(coordinator: EmsCoordinator) -> dict[str, Any]:
    """Report the current plan slot by slot, and how it came about."""
    if coordinator.data is None or not coordinator.last_update_success:
        return {"valid": False, "slots": []}
    selection = coordinator.data
    plan = selection.plan
    step = timedelta(minutes=plan.slot_minutes)
    slots = [
        {
            "start": (plan.start + k * step).isoformat(),
            "battery_kw": round(float(plan.battery_kw[k]), 4),
            "soc_pct": round(float(plan.soc_pct[k]), 3),
            "grid_import_kw": round(float(plan.grid_import_kw[k]), 4),
            "grid_export_kw": round(float(plan.grid_export_kw[k]), 4),
            "pv_curtailed_kw": round(float(plan.pv_curtailed_kw[k]), 4),
            "import_price_eur_kwh": round(float(plan.import_price_eur_kwh[k]), 5),
            "export_price_eur_kwh": round(float(plan.export_price_eur_kwh[k]), 5),
            "cost_eur": round(float(plan.cost_eur[k]), 5),
            "baseline_cost_eur": round(float(plan.baseline_cost_eur[k]), 5),
            "stored_energy_value_eur_kwh": round(
                float(plan.stored_energy_value_eur_kwh[k]), 5
            ),
        }
        for k in range(plan.slots)
    ]
    return {
        "valid": True,
        "strategy": plan.strategy.value,
        "reason": selection.reason,
        "engine": plan.engine,
        "status": plan.status,
        "solve_time_ms": round(plan.solve_ms, 2),
        "start": plan.start.isoformat(),
        "slot_minutes": plan.slot_minutes,
        "initial_soc_pct": round(plan.initial_soc_pct, 3),
        "expected_profit_eur": coordinator.expected_profit_eur(EXPECTED_PROFIT_HOURS),
        "terminal_value_eur_kwh": round(plan.terminal_value_eur_kwh, 5),
        "strategy_costs_eur": {
            str(strategy): round(cost, 4) for strategy, cost in selection.costs.items()
        },
        "slots": slots,
    }


def forecast_report(coordinator: EmsCoordinator) -> dict[str, Any]:
    """Report the forecasts the current plan was made for: prices, load and PV per slot."""
    problem = coordinator.problem
    if problem is None:
        return {"slots": []}
    tariff = problem.tariff
    import_price = tariff.import_price(problem.spot_eur_kwh)
    export_price = tariff.export_price(problem.spot_eur_kwh)
    step = timedelta(minutes=problem.slot_minutes)
    forecast = coordinator.price_is_forecast
    slots = [
        {
            "start": (problem.start + k * step).isoformat(),
            "spot_eur_kwh": round(float(problem.spot_eur_kwh[k]), 5),
            "import_price_eur_kwh": round(float(import_price[k]), 5),
            "export_price_eur_kwh": round(float(export_price[k]), 5),
            "price_is_forecast": bool(forecast[k]),
            "load_kw": round(float(problem.load_kw[k]), 4),
            "pv_kw": round(float(problem.pv_kw[k]), 4),
        }
        for k in range(problem.slots)
    ]
    if problem.load_high_kw is not None:
        # The cautious load forecast peak shaving plans on.
        for slot, high in zip(slots, problem.load_high_kw, strict=True):
            slot["load_high_kw"] = round(float(high), 4)
    pv_outcomes = coordinator.pv_outcomes_kw
    if problem.net_load_outcomes_kw and pv_outcomes:
        # The sunniest and the dullest of the recent days' PV the plan weighs, at each slot.
        for name, envelope in (
            ("pv_high_kw", np.max(pv_outcomes, axis=0)),
            ("pv_low_kw", np.min(pv_outcomes, axis=0)),
        ):
            for slot, value in zip(slots, envelope, strict=True):
                slot[name] = round(float(value), 4)
    return {
        "start": problem.start.isoformat(),
        "slot_minutes": problem.slot_minutes,
        "slots": slots,
    }


def _alternative(alternative: Alternative) -> dict[str, Any]:
    values = alternative.values
    return {
        "method": alternative.method,
        "label": alternative.label,
        "detail": alternative.detail,
        "used": alternative.used,
        "kw": None if values is None else [round(float(value), 4) for value in values],
        "error": alternative.error,
    }


async def async_forecast_report(
    coordinator: EmsCoordinator, *, alternatives: bool = False
) -> dict[str, Any]:
    """Report the plan's forecasts; with ``alternatives``, every load and PV forecast the site has.

    The alternatives (per slot of the plan, the plan's own marked ``used``) are computed only here,
    once per planning run.
    """
    report = forecast_report(coordinator)
    problem = coordinator.problem
    if not alternatives:
        return report
    if problem is None:
        return {**report, "alternatives": {"load": [], "pv": []}}
    found = await coordinator.forecaster.async_alternatives(
        dt_util.as_utc(problem.start),
        problem.slot_minutes,
        problem.load_kw,
        problem.pv_kw,
    )
    return {
        **report,
        "alternatives": {
            "load": [_alternative(alternative) for alternative in found.load],
            "pv": [_alternative(alternative) for alternative in found.pv],
        },
    }


def _sensor_entity_ids(
    hass: HomeAssistant, coordinator: EmsCoordinator
) -> dict[str, str]:
    """Return the site's history sensors by key, as the entity registry names them now."""
    registry = er.async_get(hass)
    unique_prefix = coordinator.config_entry.unique_id
    found: dict[str, str] = {}
    for key in HISTORY_SENSORS:
        entity_id = registry.async_get_entity_id(
            Platform.SENSOR, DOMAIN, f"{unique_prefix}_{key}"
        )
        if entity_id is not None:
            found[key] = entity_id
    return found


async def async_history_report(
    hass: HomeAssistant, coordinator: EmsCoordinator, hours: int
) -> dict[str, Any]:
    """Report the last ``hours`` of the site's sensors (recorder statistics) and optimization runs.

    Sensors come as the recorder's 5-minute means up to a day, hourly means beyond: a week of
    5-second states would be far too much to send.
    """
    end = dt_util.utcnow()
    start = end - timedelta(hours=hours)
    sensors = _sensor_entity_ids(hass, coordinator)
    period = "5minute" if hours <= 24 else "hour"
    stats: dict[str, list[Any]] = {}
    # Without the recorder there is no sensor history, but the runs are still there.
    if RECORDER_DOMAIN in hass.config.components:
        stats = await get_instance(hass).async_add_executor_job(
            statistics_during_period,
            hass,
            start,
            end,
            set(sensors.values()),
            period,
            None,
            {"mean"},
        )
    series = {
        key: [
            {
                "start": dt_util.utc_from_timestamp(row["start"]).isoformat(),
                "mean": _round(row.get("mean")),
            }
            for row in stats.get(entity_id, [])
        ]
        for key, entity_id in sensors.items()
    }
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "period": period,
        "entities": sensors,
        "sensors": series,
        "optimizations": [
            run.as_dict() for run in coordinator.memory.runs.since(start)
        ],
    }


def _day_figures(totals: EnergyTotals, window_kwh: float) -> dict[str, Any]:
    return {
        "profit_eur": round(totals.profit_eur, 4),
        "cost_eur": round(totals.cost_eur, 4),
        "baseline_cost_eur": round(totals.baseline_cost_eur, 4),
        "charged_kwh": round(totals.charged_kwh, 4),
        "discharged_kwh": round(totals.discharged_kwh, 4),
        "import_kwh": round(totals.import_kwh, 4),
        "export_kwh": round(totals.export_kwh, 4),
        "load_kwh": round(totals.load_kwh, 4),
        "pv_kwh": round(totals.pv_kwh, 4),
        "cycles": round(totals.cycles(window_kwh), 4),
        "average_soc_pct": _round(totals.average_soc_pct, 2),
        "self_consumption_ratio": _round(totals.self_consumption_ratio),
        "autarky": _round(totals.autarky),
        "hours": round(totals.hours, 4),
        "strategy_hours": {
            key: round(value, 4) for key, value in totals.strategy_hours.items()
        },
    }


def analytics_report(coordinator: EmsCoordinator, days: int) -> dict[str, Any]:
    """Report the last ``days`` local days (today included).

    Per day, totals, the strategies' shares and the latest runs.
    """
    today = dt_util.now().date()
    since = today - timedelta(days=days - 1)
    records = coordinator.memory.kpi.records(since)
    window = coordinator.usable_window_kwh
    profit = sum(record.totals.profit_eur for record in records)
    hours = sum(record.totals.hours for record in records)
    soc_hours = sum(record.totals.soc_pct_hours for record in records)
    strategy_hours: dict[str, float] = {}
    for record in records:
        for key, value in record.totals.strategy_hours.items():
            strategy_hours[key] = strategy_hours.get(key, 0.0) + value
    return {
        "first_day": since.isoformat(),
        "last_day": today.isoformat(),
        "days_with_data": len(records),
        "total_profit_eur": round(profit, 4),
        "average_daily_profit_eur": round(profit / len(records), 4)
        if records
        else None,
        "cycles": round(
            sum(record.totals.discharged_kwh for record in records) / window, 4
        ),
        "average_soc_pct": round(soc_hours / hours, 2) if hours > 0 else None,
        "strategy_hours": {
            key: round(value, 4) for key, value in strategy_hours.items()
        },
        "daily": [
            {"day": record.day.isoformat(), **_day_figures(record.totals, window)}
            for record in records
        ],
        "recent_optimizations": [
            run.as_dict() for run in coordinator.memory.runs.runs[-RECENT_RUNS:]
        ][::-1],
    }


# The Modbus connection as the Modbus step of the flows names its fields.
_MODBUS_TCP = ("host", "port", "timeout_s")
_MODBUS_RTU = ("serial_port", "baudrate", "parity", "stopbits", "bytesize", "timeout_s")
# Per register: what the registers step asks; unit id and byte orders are the Modbus step's.
_REGISTER_FIELDS = ("address", "register_type", "data_type", "scale")
_REGISTER_SHARED = ("unit_id", "word_order", "byte_order")


def _fields(
    values: Mapping[str, Any], keys: tuple[str, ...] | list[str]
) -> list[dict[str, Any]]:
    """Return the ``keys`` of ``values`` that are set, as (key, value) rows."""
    return [
        {"key": key, "value": values[key]}
        for key in keys
        if values.get(key) not in (None, "")
    ]


def device_report(entry: ConfigEntry) -> dict[str, Any]:
    """Describe where a site's measurements come from and where its setpoint goes.

    Grouped by the step of the flows that sets them (device, entities, mqtt_topics, modbus,
    registers), with the flows' field names, so the panel labels them with the flows' texts.
    A demo site has no device: its battery is simulated.
    """
    if entry.data.get(CONF_MODE) != MODE_LIVE:
        return {"mode": entry.data.get(CONF_MODE, "demo"), "groups": []}
    device = device_config(entry.data)
    transport = device.get(CONF_TRANSPORT)
    target = device[CONF_SETPOINT_TARGET]
    keys = [CONF_TRANSPORT, CONF_SETPOINT_TARGET]
    if target == TARGET_NUMBER:
        keys.append(CONF_SETPOINT_ENTITY)
    keys += [CONF_INVERT_SETPOINT, CONF_WRITE_DEADBAND_KW, CONF_WRITE_MIN_SECONDS]
    groups: list[dict[str, Any]] = [{"step": "device", "fields": _fields(device, keys)}]
    signs = [CONF_INVERT_BATTERY_POWER, CONF_INVERT_GRID_POWER]
    if transport == TRANSPORT_ENTITIES:
        keys = [signal + ENTITY_SUFFIX for signal in SIGNALS]
        groups.append({"step": "entities", "fields": _fields(device, keys + signs)})
    elif transport == TRANSPORT_MQTT:
        keys = []
        for signal in SIGNALS:
            keys += [signal + TOPIC_SUFFIX, signal + JSON_PATH_SUFFIX]
        keys.append(CONF_POWER_UNIT)
        if target == TARGET_MQTT:
            keys.append(CONF_SETPOINT_TOPIC)
        groups.append({"step": "mqtt_topics", "fields": _fields(device, keys + signs)})
    elif transport == TRANSPORT_MODBUS:
        connection = dict(device.get(CONF_CONNECTION) or {})
        protocol = connection.pop(CONF_TRANSPORT, None)
        if protocol == "rtu":
            # Stored as "port"; the Modbus step asks for it as the serial port.
            connection["serial_port"] = connection.pop("port", None)
        registers: dict[str, Any] = device.get(CONF_REGISTER_MAP) or {}
        shared: dict[str, Any] = next(iter(registers.values()), {})
        groups.append(
            {
                "step": "modbus",
                "fields": [
                    {"key": "protocol", "value": protocol},
                    *_fields(
                        connection, _MODBUS_RTU if protocol == "rtu" else _MODBUS_TCP
                    ),
                    *_fields(shared, _REGISTER_SHARED),
                ],
            }
        )
        groups.append(
            {
                "step": "registers",
                "registers": [
                    {
                        "signal": name,
                        **{key: registers[name].get(key) for key in _REGISTER_FIELDS},
                    }
                    for name in (*SIGNALS, SETPOINT)
                    if name in registers
                ],
            }
        )
    return {"mode": MODE_LIVE, "groups": groups}
