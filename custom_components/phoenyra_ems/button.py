"""The "optimize now" button of Phoenyra EMS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription

from .entity import PhoenyraEntity

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import PhoenyraConfigEntry

PARALLEL_UPDATES = 1

OPTIMIZE_BUTTON = ButtonEntityDescription(
    key="optimize_now", translation_key="optimize_now"
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PhoenyraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the button."""
    async_add_entities(
        [PhoenyraOptimizeButton(entry.runtime_data.ems, OPTIMIZE_BUTTON)]
    )


class PhoenyraOptimizeButton(PhoenyraEntity, ButtonEntity):
    """Re-plans the battery at once instead of waiting for the next optimization interval."""

    async def async_press(self) -> None:
        """Plan now."""
        await self.coordinator.async_refresh()
