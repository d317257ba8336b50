"""Strategy select of Phoenyra EMS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory

from .coordinator import STRATEGY_AUTO, PhoenyraConfigEntry
from .engine.model import Strategy
from .entity import PhoenyraEntity

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

PARALLEL_UPDATES = 1

STRATEGY_SELECT = SelectEntityDescription(
    key="strategy",
    translation_key="strategy",
    entity_category=EntityCategory.CONFIG,
    options=[STRATEGY_AUTO, *(strategy.value for strategy in Strategy)],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PhoenyraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the strategy select."""
    async_add_entities(
        [PhoenyraStrategySelect(entry.runtime_data.ems, STRATEGY_SELECT)]
    )


class PhoenyraStrategySelect(PhoenyraEntity, SelectEntity):
    """Chooses the strategy the EMS follows, or automatic selection."""

    @property
    def current_option(self) -> str:
        """The strategy choice in force."""
        return self.coordinator.strategy_choice

    async def async_select_option(self, option: str) -> None:
        """Follow another strategy (or automatic selection)."""
        await self.coordinator.async_set_strategy(option)
