"""Base entity of Phoenyra EMS: one device per site."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_MODE, DOMAIN, MODE_DEMO
from .coordinator import EmsCoordinator

if TYPE_CHECKING:
    from homeassistant.helpers.entity import EntityDescription


class PhoenyraEntity(CoordinatorEntity[EmsCoordinator]):
    """An entity of one site's EMS."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: EmsCoordinator, description: EntityDescription
    ) -> None:
        """Create the entity ``description`` describes, on the site's device."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        self._attr_unique_id = f"{entry.unique_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, str(entry.unique_id))},
            name=entry.title,
            manufacturer="Phoenyra",
            model="EMS, simulated battery"
            if entry.data[CONF_MODE] == MODE_DEMO
            else "EMS",
        )

    @property
    def available(self) -> bool:
        """The EMS runs (measures, controls, takes choices) whether or not the last plan succeeded.

        Entities that show plan results narrow this down.
        """
        return True
