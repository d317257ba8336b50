"""The "forecast stale" binary sensor of Phoenyra EMS."""

from __future__ import annotations

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
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import PhoenyraConfigEntry

PARALLEL_UPDATES = 0

STALE_SENSOR = BinarySensorEntityDescription(
    key="forecast_stale",
    translation_key="forecast_stale",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PhoenyraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensor."""
    async_add_entities([PhoenyraStaleSensor(entry.runtime_data.ems, STALE_SENSOR)])


class PhoenyraStaleSensor(PhoenyraEntity, BinarySensorEntity):
    """On while an input of the plan (prices, load or PV forecast) is older than it should be."""

    @property
    def is_on(self) -> bool:
        """Whether an input is stale."""
        return bool(self.coordinator.stale_inputs(dt_util.utcnow()))

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Which inputs are stale and why; when prices last arrived."""
        prices = self.coordinator.prices
        return {
            "stale_inputs": self.coordinator.stale_inputs(dt_util.utcnow()),
            "prices_updated": prices.last_success.isoformat()
            if prices.last_success
            else None,
        }
