"""Sensors of Phoenyra EMS: measurements, price, plan results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfEnergy, UnitOfPower
from homeassistant.util import dt as dt_util

from .const import EXPECTED_PROFIT_HOURS
from .coordinator import SOC_KEY
from .engine.model import Strategy
from .entity import PhoenyraEntity

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
    from homeassistant.helpers.typing import StateType

    from .coordinator import EmsCoordinator, PhoenyraConfigEntry
    from .engine.kpi import EnergyTotals

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PhoenyraSensorEntityDescription(SensorEntityDescription):
    """A sensor and how it reads its value from the coordinator."""

    value_fn: Callable[[EmsCoordinator], StateType]
    attributes_fn: Callable[[EmsCoordinator], dict[str, Any]] | None = None
    # Plan results are unavailable while there is no valid plan; measurements never depend on it.
    needs_plan: bool = False
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
    key: str, kw: Callable[[EmsCoordinator], float]
) -> PhoenyraSensorEntityDescription:
    """Describe a power sensor in kW (signs as in the Energy dashboard)."""
    return PhoenyraSensorEntityDescription(
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
        value_fn=lambda c: round(c.measurement.soc_pct, 3),
    ),
    _power("battery_power", lambda c: c.measurement.battery_kw),
    _power("battery_setpoint", lambda c: c.setpoint_kw),
    _power("grid_power", lambda c: c.measurement.grid_kw),
    _power("pv_power", lambda c: c.measurement.pv_kw),
    _power("load_power", lambda c: c.measurement.load_kw),
    PhoenyraSensorEntityDescription(
        key="current_price",
        translation_key="current_price",
        native_unit_of_measurement="EUR/kWh",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=4,
        value_fn=lambda c: round(c.current_price_eur_kwh, 5),
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

    @property
    def available(self) -> bool:
        """Measurements are always there; plan results only with a valid plan."""
        return (
            not self.entity_description.needs_plan
            or self.coordinator.last_update_success
        )

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
