"""Binary sensors of Phoenyra EMS: forecast stale, safe fallback active (watchdog)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.util import dt as dt_util

from .entity import PhoenyraEntity

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import EmsCoordinator, PhoenyraConfigEntry

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PhoenyraBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A problem the EMS reports, and what it says about it."""

    is_on_fn: Callable[[EmsCoordinator], bool]
    attributes_fn: Callable[[EmsCoordinator], dict[str, Any]]


def _stale_attributes(coordinator: EmsCoordinator) -> dict[str, Any]:
    """Which inputs are stale and why; when prices last arrived."""
    prices = coordinator.prices
    return {
        "stale_inputs": coordinator.stale_inputs(dt_util.utcnow()),
        "prices_updated": prices.last_success.isoformat()
        if prices.last_success
        else None,
    }


BINARY_SENSORS: tuple[PhoenyraBinarySensorEntityDescription, ...] = (
    # On while an input of the plan (prices, load or PV forecast) is older than it should be.
    PhoenyraBinarySensorEntityDescription(
        key="forecast_stale",
        translation_key="forecast_stale",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda c: bool(c.stale_inputs(dt_util.utcnow())),
        attributes_fn=_stale_attributes,
    ),
    # On while the watchdog holds the battery in its safe fallback instead of the plan.
    PhoenyraBinarySensorEntityDescription(
        key="fallback_active",
        translation_key="fallback_active",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda c: c.watchdog_reason is not None,
        attributes_fn=lambda c: {
            "reason": c.watchdog_reason,
            "measurement_error": c.measurement_error,
            "write_error": c.write_error,
        },
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PhoenyraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensors."""
    async_add_entities(
        PhoenyraProblemSensor(entry.runtime_data.ems, description)
        for description in BINARY_SENSORS
    )


class PhoenyraProblemSensor(PhoenyraEntity, BinarySensorEntity):
    """A problem of the site's EMS."""

    entity_description: PhoenyraBinarySensorEntityDescription

    @property
    def is_on(self) -> bool:
        """Whether the problem is there now."""
        return self.entity_description.is_on_fn(self.coordinator)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """What the problem is."""
        return self.entity_description.attributes_fn(self.coordinator)
