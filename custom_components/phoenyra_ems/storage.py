"""What a site remembers across restarts: KPIs, the run log and the month's peak import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.helpers.storage import Store

from .const import DOMAIN, LOGGER
from .engine.kpi import KpiTracker
from .engine.runs import RunLog

if TYPE_CHECKING:
    from datetime import timedelta

    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

STORAGE_VERSION = 1
# Writes are batched: a crash loses at most this much of the KPIs (Home Assistant also writes on stop).
SAVE_DELAY_S = 300


@dataclass(slots=True)
class SiteMemory:
    """The site's persistent state."""

    kpi: KpiTracker
    runs: RunLog = field(default_factory=RunLog)
    # (year, month) of the billing period and its highest grid import so far (kW).
    peak_month: tuple[int, int] | None = None
    peak_import_kw: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for the store."""
        return {
            "kpi": self.kpi.as_dict(),
            "runs": self.runs.as_list(),
            "peak_month": list(self.peak_month) if self.peak_month else None,
            "peak_import_kw": self.peak_import_kw,
        }


class SiteStore:
    """The store of one config entry."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Use the entry's own storage file."""
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}"
        )

    async def async_load(self, max_gap: timedelta) -> SiteMemory:
        """Read the stored state; damaged data is logged and replaced, never fatal."""
        data = await self._store.async_load()
        if data is None:
            return SiteMemory(kpi=KpiTracker(max_gap))
        try:
            peak_month = data.get("peak_month")
            return SiteMemory(
                kpi=KpiTracker.from_dict(data.get("kpi", {}), max_gap),
                runs=RunLog.from_list(data.get("runs", [])),
                peak_month=(int(peak_month[0]), int(peak_month[1]))
                if peak_month
                else None,
                peak_import_kw=float(data.get("peak_import_kw", 0.0)),
            )
        except (ValueError, TypeError, IndexError, AttributeError) as err:
            LOGGER.warning(
                "Stored KPIs and run history of %s are unreadable and start again: %s",
                self._store.key,
                err,
            )
            return SiteMemory(kpi=KpiTracker(max_gap))

    def schedule_save(self, memory: SiteMemory) -> None:
        """Write the state a little later (batched)."""
        self._store.async_delay_save(memory.as_dict, SAVE_DELAY_S)

    async def async_save(self, memory: SiteMemory) -> None:
        """Write the state now (on unload)."""
        await self._store.async_save(memory.as_dict())

    async def async_remove(self) -> None:
        """Delete the stored state (the entry is removed)."""
        await self._store.async_remove()
