"""Sensors of Phoenyra EMS: measurements, price, plan results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
import math
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfEnergy, UnitOfPower
from homeassistant.util import dt as dt_util
import numpy as np

from .const import EXPECTED_PROFIT_HOURS
from .coordinator import SOC_KEY
from .engine.model import Strategy
from .engine.prices import retail_prices
from .entity import PhoenyraEntity

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
    from homeassistant.helpers.typing import StateType

    from .coordinator import EmsCoordinator, PhoenyraConfigEntry
    from .engine.kpi import EnergyTotals
    from .engine.model import PlanningProblem

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PhoenyraSensorEntityDescription(SensorEntityDescription):
    """A sensor and how it reads its value from the coordinator."""

    value_fn: Callable[[EmsCoordinator], StateType]
    attributes_fn: Callable[[EmsCoordinator], dict[str, Any]] | None = None
    # Plan results are unavailable while there is no valid plan; measurements never depend on it.
    needs_plan: bool = False
    # Measurements are unavailable while the device does not report them.
    measured: bool = False
    # Today's totals start again at local midnight (last_reset), so statistics see a new cycle.
    resets_daily: bool = False


def _ratio_pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def _energy(
    key: str, kwh: Callable[[EnergyTotals], float]
) -> PhoenyraSensorEntityDescription:
    """Describe an energy counter in kWh since the site was set up (for the Energy dashboard)."""
    return PhoenyraSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=lambda c: round(kwh(c.memory.kpi.total), 4),
    )


def _power(
    key: str,
    kw: Callable[[EmsCoordinator], float],
    *,
    measured: bool = False,
    attributes_fn: Callable[[EmsCoordinator], dict[str, Any]] | None = None,
) -> PhoenyraSensorEntityDescription:
    """Describe a power sensor in kW (signs as in the Energy dashboard)."""
    return PhoenyraSensorEntityDescription(
        measured=measured,
        attributes_fn=attributes_fn,
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=lambda c: round(kw(c), 4),
    )


SENSORS: tuple[PhoenyraSensorEntityDescription, ...] = (
    PhoenyraSensorEntityDescription(
        key=SOC_KEY,
        translation_key="state_of_charge",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        measured=True,
        value_fn=lambda c: round(c.measurement.soc_pct, 3),
    ),
    _power("battery_power", lambda c: c.measurement.battery_kw, measured=True),
    _power(
        "battery_setpoint",
        lambda c: c.setpoint_kw,
        attributes_fn=lambda c: setpoint_attributes(c),
    ),
    _power("grid_power", lambda c: c.measurement.grid_kw, measured=True),
    _power("pv_power", lambda c: c.measurement.pv_kw, measured=True),
    _power("load_power", lambda c: c.measurement.load_kw, measured=True),
    PhoenyraSensorEntityDescription(
        key="current_price",
        translation_key="current_price",
        native_unit_of_measurement="EUR/kWh",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=4,
        value_fn=lambda c: _finite(c.current_price_eur_kwh, 5),
        attributes_fn=lambda c: price_components(c),
    ),
    PhoenyraSensorEntityDescription(
        key="price_forecast",
        translation_key="price_forecast",
        native_unit_of_measurement="EUR/kWh",
        suggested_display_precision=4,
        needs_plan=True,
        value_fn=lambda c: _mean_import_price(c),
        attributes_fn=lambda c: price_series(c),
    ),
    PhoenyraSensorEntityDescription(
        key="load_forecast",
        translation_key="load_forecast",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        needs_plan=True,
        value_fn=lambda c: _next_day_kwh(c, "load_kw"),
        attributes_fn=lambda c: power_series(c, "load_kw", "load"),
    ),
    PhoenyraSensorEntityDescription(
        key="pv_forecast",
        translation_key="pv_forecast",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        needs_plan=True,
        value_fn=lambda c: _next_day_kwh(c, "pv_kw"),
        attributes_fn=lambda c: power_series(c, "pv_kw", "pv"),
    ),
    PhoenyraSensorEntityDescription(
        key="expected_profit",
        translation_key="expected_profit",
        device_class=SensorDeviceClass.MONETARY,
        native_unit_of_measurement="EUR",
        suggested_display_precision=2,
        needs_plan=True,
        value_fn=lambda c: c.expected_profit_eur(EXPECTED_PROFIT_HOURS),
    ),
    PhoenyraSensorEntityDescription(
        key="profit_today",
        translation_key="profit_today",
        device_class=SensorDeviceClass.MONETARY,
        native_unit_of_measurement="EUR",
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        resets_daily=True,
        value_fn=lambda c: round(c.memory.kpi.today.profit_eur, 4),
    ),
    PhoenyraSensorEntityDescription(
        key="profit_total",
        translation_key="profit_total",
        device_class=SensorDeviceClass.MONETARY,
        native_unit_of_measurement="EUR",
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        value_fn=lambda c: round(c.memory.kpi.total.profit_eur, 4),
    ),
    _energy("energy_charged", lambda t: t.charged_kwh),
    _energy("energy_discharged", lambda t: t.discharged_kwh),
    _energy("grid_import_energy", lambda t: t.import_kwh),
    _energy("grid_export_energy", lambda t: t.export_kwh),
    _energy("pv_energy", lambda t: t.pv_kwh),
    PhoenyraSensorEntityDescription(
        key="equivalent_full_cycles",
        translation_key="equivalent_full_cycles",
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=lambda c: round(c.memory.kpi.total.cycles(c.usable_window_kwh), 4),
    ),
    PhoenyraSensorEntityDescription(
        key="average_soc_today",
        translation_key="average_soc_today",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda c: _ratio_pct(
            None if (soc := c.memory.kpi.today.average_soc_pct) is None else soc / 100
        ),
    ),
    PhoenyraSensorEntityDescription(
        key="self_consumption_today",
        translation_key="self_consumption_today",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda c: _ratio_pct(c.memory.kpi.today.self_consumption_ratio),
    ),
    PhoenyraSensorEntityDescription(
        key="autarky_today",
        translation_key="autarky_today",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda c: _ratio_pct(c.memory.kpi.today.autarky),
    ),
    PhoenyraSensorEntityDescription(
        key="active_strategy",
        translation_key="active_strategy",
        device_class=SensorDeviceClass.ENUM,
        options=[strategy.value for strategy in Strategy],
        needs_plan=True,
        value_fn=lambda c: c.active_strategy.value,
        attributes_fn=lambda c: run_attributes(c),
    ),
)


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def price_components(coordinator: EmsCoordinator) -> dict[str, Any]:
    """Describe the import price now: spot, grid fee and levies, VAT; and the export price."""
    spot = coordinator.spot_now()
    attributes: dict[str, Any] = {"price_source": coordinator.prices.name}
    if spot is None:
        return attributes
    parts = retail_prices(np.array([spot]), coordinator.site.tariff)
    return {
        **attributes,
        "spot_eur_kwh": round(spot, 5),
        "grid_fee_eur_kwh": round(float(parts.grid_fee_eur_kwh[0]), 5),
        "vat_eur_kwh": round(float(parts.vat_eur_kwh[0]), 5),
        "export_price_eur_kwh": round(float(parts.export_eur_kwh[0]), 5),
        "is_forecast": coordinator.prices.spot_at(coordinator.measurement.time) is None,
    }


def _slot_starts(problem: PlanningProblem) -> list[str]:
    step = timedelta(minutes=problem.slot_minutes)
    return [(problem.start + k * step).isoformat() for k in range(problem.slots)]


def _mean_import_price(coordinator: EmsCoordinator) -> float | None:
    """Mean import price over the plan's horizon, EUR/kWh."""
    problem = coordinator.problem
    if problem is None:
        return None
    return round(float(problem.tariff.import_price(problem.spot_eur_kwh).mean()), 5)


def price_series(coordinator: EmsCoordinator) -> dict[str, Any]:
    """Describe the plan's prices per slot, forecast ones marked (not recorded: too big)."""
    problem = coordinator.problem
    if problem is None:
        return {}
    parts = retail_prices(problem.spot_eur_kwh, problem.tariff)
    forecast = coordinator.price_is_forecast
    published = int((~forecast).sum())
    return {
        "price_source": coordinator.prices.name,
        "slot_minutes": problem.slot_minutes,
        "published_until": (
            problem.start + timedelta(minutes=problem.slot_minutes * published)
        ).isoformat(),
        "prices": [
            {
                "start": start,
                "spot": round(float(parts.spot_eur_kwh[k]), 5),
                "import": round(float(parts.import_eur_kwh[k]), 5),
                "export": round(float(parts.export_eur_kwh[k]), 5),
                "forecast": bool(forecast[k]),
            }
            for k, start in enumerate(_slot_starts(problem))
        ],
    }


def _next_day_kwh(coordinator: EmsCoordinator, series: str) -> float | None:
    """Energy of a forecast power series over the next 24 hours, kWh."""
    problem = coordinator.problem
    if problem is None:
        return None
    slots = round(24 * 60 / problem.slot_minutes)
    values = getattr(problem, series)[:slots]
    return round(float(values.sum()) * problem.slot_hours, 3)


def power_series(coordinator: EmsCoordinator, series: str, kind: str) -> dict[str, Any]:
    """Describe a forecast power series per slot and where it came from (not recorded: too big)."""
    problem = coordinator.problem
    if problem is None:
        return {}
    values = getattr(problem, series)
    return {
        "source": coordinator.forecast_sources.get(kind),
        "slot_minutes": problem.slot_minutes,
        "forecast": [
            {"start": start, "kw": round(float(values[k]), 4)}
            for k, start in enumerate(_slot_starts(problem))
        ],
    }


def setpoint_attributes(coordinator: EmsCoordinator) -> dict[str, Any]:
    """Describe the setpoint: what the plan asked, what reached the device, why not."""
    planned = coordinator.planned_setpoint_kw(coordinator.measurement.time)
    return {
        "planned_kw": None if planned is None else round(planned, 4),
        "written_kw": coordinator.written_kw,
        "dry_run": coordinator.dry_run,
        "fallback_reason": coordinator.watchdog_reason,
        "write_error": coordinator.write_error,
        "device": coordinator.link.name,
    }


def run_attributes(coordinator: EmsCoordinator) -> dict[str, Any]:
    """Describe the last optimization run: why this strategy, with which engine, how fast."""
    selection = coordinator.data
    plan = selection.plan
    return {
        "reason": selection.reason,
        "engine": plan.engine,
        "status": plan.status,
        "solve_time_ms": round(plan.solve_ms, 1),
        "horizon_slots": plan.slots,
        "planned_at": plan.start.isoformat(),
        "strategy_costs_eur": {
            str(strategy): round(cost, 4) for strategy, cost in selection.costs.items()
        },
    }


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PhoenyraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the site's sensors."""
    coordinator = entry.runtime_data.ems
    async_add_entities(
        PhoenyraSensor(coordinator, description) for description in SENSORS
    )


class PhoenyraSensor(PhoenyraEntity, SensorEntity):
    """A sensor of the site's EMS."""

    entity_description: PhoenyraSensorEntityDescription
    # Forecast series are far over the recorder's 16 KB attribute limit and change every plan.
    _unrecorded_attributes = frozenset({"prices", "forecast"})

    @property
    def available(self) -> bool:
        """Measurements while the device reports them; plan results with a valid plan."""
        description = self.entity_description
        coordinator = self.coordinator
        if description.measured:
            return coordinator.link.available and coordinator.measurement_fresh
        return not description.needs_plan or coordinator.last_update_success

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details of the sensor's value, where it has any."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator)

    @property
    def last_reset(self) -> datetime | None:
        """Start of today for daily totals."""
        day = self.coordinator.memory.kpi.day
        if not self.entity_description.resets_daily or day is None:
            return None
        return dt_util.start_of_local_day(day)

    @property
    def native_value(self) -> StateType:
        """The sensor's value now."""
        return self.entity_description.value_fn(self.coordinator)
