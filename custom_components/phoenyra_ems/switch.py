"""Switches of Phoenyra EMS: EMS enabled, dry run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import STATE_OFF, STATE_ON, EntityCategory
from homeassistant.helpers.restore_state import RestoreEntity

from .entity import PhoenyraEntity

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import EmsCoordinator, PhoenyraConfigEntry

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PhoenyraSwitchEntityDescription(SwitchEntityDescription):
    """A switch: how it reads and sets its coordinator flag, and its state on a first start."""

    is_on_fn: Callable[[EmsCoordinator], bool]
    set_fn: Callable[[EmsCoordinator, bool], Coroutine[Any, Any, None]]
    default_on: bool


SWITCHES: tuple[PhoenyraSwitchEntityDescription, ...] = (
    # On: the EMS drives the battery. Off: holds it idle.
    PhoenyraSwitchEntityDescription(
        key="ems_enabled",
        translation_key="ems_enabled",
        entity_category=EntityCategory.CONFIG,
        is_on_fn=lambda c: c.enabled,
        set_fn=lambda c, on: c.async_set_enabled(on),
        default_on=True,
    ),
    # On: the EMS decides and shows what it would write, and writes nothing.
    PhoenyraSwitchEntityDescription(
        key="dry_run",
        translation_key="dry_run",
        entity_category=EntityCategory.CONFIG,
        is_on_fn=lambda c: c.dry_run,
        set_fn=lambda c, on: c.async_set_dry_run(on),
        default_on=False,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PhoenyraConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switches."""
    async_add_entities(
        PhoenyraSwitch(entry.runtime_data.ems, description) for description in SWITCHES
    )


class PhoenyraSwitch(PhoenyraEntity, SwitchEntity, RestoreEntity):
    """A switch of the site's EMS; its choice is kept across restarts."""

    entity_description: PhoenyraSwitchEntityDescription

    async def async_added_to_hass(self) -> None:
        """Restore the last choice."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is None or last.state not in (STATE_ON, STATE_OFF):
            return
        on = last.state == STATE_ON
        if on != self.entity_description.default_on:
            await self.entity_description.set_fn(self.coordinator, on)

    @property
    def is_on(self) -> bool:
        """Whether the switch is on."""
        return self.entity_description.is_on_fn(self.coordinator)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn the switch on."""
        await self.entity_description.set_fn(self.coordinator, True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the switch off."""
        await self.entity_description.set_fn(self.coordinator, False)
