"""The "EMS enabled" switch of Phoenyra EMS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import STATE_OFF, EntityCategory
from homeassistant.helpers.restore_state import RestoreEntity

from .entity import PhoenyraEntity

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import PhoenyraConfigEntry

PARALLEL_UPDATES = 1

ENABLED_SWITCH = SwitchEntityDescription(
    key="ems_enabled",
    translation_key="ems_enabled",
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PhoenyraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switch."""
    async_add_entities([PhoenyraEnabledSwitch(entry.runtime_data.ems, ENABLED_SWITCH)])


class PhoenyraEnabledSwitch(PhoenyraEntity, SwitchEntity, RestoreEntity):
    """Lets the EMS drive the battery (on) or holds it idle (off); kept across restarts."""

    async def async_added_to_hass(self) -> None:
        """Restore the last choice."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None and last.state == STATE_OFF:
            await self.coordinator.async_set_enabled(False)

    @property
    def is_on(self) -> bool:
        """Whether the EMS drives the battery."""
        return self.coordinator.enabled

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Let the EMS drive the battery."""
        await self.coordinator.async_set_enabled(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Hold the battery idle."""
        await self.coordinator.async_set_enabled(False)
