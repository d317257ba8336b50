"""Phoenyra EMS: plans and controls a battery against day-ahead prices, load and PV."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv

from .const import CONF_MQTT_BASE_TOPIC, DOMAIN
from .coordinator import (
    EmsCoordinator,
    PhoenyraConfigEntry,
    PhoenyraData,
    ems_options,
    kpi_max_gap,
)
from .engine.cvxpy_engine import cvxpy_available
from .engine.model import InvalidInputError
from .engine.simulator import SiteSeries
from .mqtt_publish import MqttPublisher
from .panel import async_register_panel, async_unregister_panel
from .price_source import async_remove_kept_prices
from .services import async_setup_services
from .storage import SiteStore
from .websocket_api import async_setup_websocket, async_site_unloaded

if TYPE_CHECKING:
    from homeassistant.core import Event, HomeAssistant
    from homeassistant.helpers.typing import ConfigType

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and websocket commands, shared by all sites."""
    async_setup_services(hass)
    async_setup_websocket(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PhoenyraConfigEntry) -> bool:
    """Set up a site: plan once, then start the entities and the control loop."""
    series = await hass.async_add_executor_job(SiteSeries.load_bundled)
    # Looks for cvxpy on disk once, off the event loop; the coordinator asks the cached answer.
    await hass.async_add_executor_job(cvxpy_available)
    store = SiteStore(hass, entry)
    memory = await store.async_load(kpi_max_gap(entry.options))
    try:
        coordinator = EmsCoordinator(hass, entry, series, store, memory)
    except InvalidInputError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_configuration",
            translation_placeholders={"error": str(err)},
        ) from err
    try:
        await coordinator.async_start_link()
        await coordinator.async_config_entry_first_refresh()
    except Exception:
        await coordinator.link.async_stop()
        raise
    entry.runtime_data = PhoenyraData(ems=coordinator)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.async_start_control()

    async def _async_stopping(_event: Event) -> None:
        # Home Assistant stops without unloading entries: leave the battery idle all the same.
        await coordinator.async_shutdown_control()

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stopping)
    )
    if base_topic := ems_options(entry.options)[CONF_MQTT_BASE_TOPIC]:
        entry.async_on_unload(
            MqttPublisher(hass, coordinator, base_topic).async_start()
        )
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    # The first site adds the panel and cards; later ones find them there.
    await async_register_panel(hass)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: PhoenyraConfigEntry) -> bool:
    """Unload a site: the battery is left idle, the device disconnected, what it learned saved."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        ems = entry.runtime_data.ems
        await ems.async_shutdown_control()
        await ems.store.async_save(ems.memory)
        # The panel's live subscriptions end; it follows the site again when it is back.
        async_site_unloaded(hass, entry.entry_id)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: PhoenyraConfigEntry) -> None:
    """Forget what the removed site remembered (KPIs, runs); the last site takes the panel along."""
    await SiteStore(hass, entry).async_remove()
    await async_remove_kept_prices(hass, entry)
    if not any(
        other.entry_id != entry.entry_id
        for other in hass.config_entries.async_entries(DOMAIN)
    ):
        async_unregister_panel(hass)


async def _async_options_updated(
    hass: HomeAssistant, entry: PhoenyraConfigEntry
) -> None:
    if not await entry.runtime_data.ems.async_options_updated(entry.options):
        await hass.config_entries.async_reload(entry.entry_id)
