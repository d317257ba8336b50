"""Phoenyra EMS: plans and controls a battery against day-ahead prices, load and PV."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.const import Platform
from homeassistant.exceptions import ConfigEntryError

from .const import DOMAIN
from .coordinator import EmsCoordinator, PhoenyraConfigEntry, PhoenyraData
from .engine.cvxpy_engine import cvxpy_available
from .engine.model import InvalidInputError
from .engine.simulator import SiteSeries

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

PLATFORMS: list[Platform] = [
    Platform.BUTTON,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup_entry(hass: HomeAssistant, entry: PhoenyraConfigEntry) -> bool:
    """Set up a site: plan once, then start the entities and the control loop."""
    series = await hass.async_add_executor_job(SiteSeries.load_bundled)
    # Looks for cvxpy on disk once, off the event loop; the coordinator asks the cached answer.
    await hass.async_add_executor_job(cvxpy_available)
    try:
        coordinator = EmsCoordinator(hass, entry, series)
    except InvalidInputError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_configuration",
            translation_placeholders={"error": str(err)},
        ) from err
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = PhoenyraData(ems=coordinator)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.async_start_control()
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: PhoenyraConfigEntry) -> bool:
    """Unload a site; the control loop and listeners stop through the entry's unload callbacks."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def _async_options_updated(
    hass: HomeAssistant, entry: PhoenyraConfigEntry
) -> None:
    if not await entry.runtime_data.ems.async_options_updated(entry.options):
        await hass.config_entries.async_reload(entry.entry_id)
