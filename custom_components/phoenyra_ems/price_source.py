"""Where a site's spot prices come from: the demo data, aWATTar, or a Home Assistant price entity.

aWATTar and entity prices are kept in the site's storage, so a restart or an outage does not lose today
and tomorrow, and the weeks before feed the built-in price forecast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import (
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import (
    CONF_PRICE_ENTITY,
    CONF_PRICE_SOURCE,
    DOMAIN,
    LOGGER,
    PRICE_SOURCE_AWATTAR_AT,
    PRICE_SOURCE_AWATTAR_DE,
    PRICE_SOURCE_ENTITY,
    SECTION_TARIFF,
)
from .engine.horizon import prices_known_until
from .engine.prices import (
    FORECAST_WEEKS,
    PriceDataError,
    PricePoint,
    known_until,
    merge_prices,
    next_fetch,
    parse_price_attributes,
    prices_from_json,
    prices_to_json,
)
from .repairs import async_source_found, async_source_missing
from .sources.awattar import AwattarClient, PriceFetchError, Region

# The aWATTar API of each price source.
AWATTAR_REGIONS: dict[str, Region] = {
    PRICE_SOURCE_AWATTAR_AT: "at",
    PRICE_SOURCE_AWATTAR_DE: "de",
}

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.config_entries import ConfigEntry

    from .engine.simulator import SiteSeries

STORAGE_VERSION = 1
# Prices kept: the weeks the forecast looks back, and a little more.
HISTORY = timedelta(weeks=FORECAST_WEEKS, days=3)
# A price source that has not delivered for this long raises a repair issue.
FAILING_FOR = timedelta(days=1)


class PriceSource(ABC):
    """Known spot prices (EUR/kWh, net) and how fresh they are."""

    name: str

    def __init__(self) -> None:
        """Start without prices."""
        self.points: list[PricePoint] = []
        self.last_success: datetime | None = None
        self.error: str | None = None
        self._unsubscribe: CALLBACK_TYPE | None = None

    async def async_start(self, on_new_prices: Callable[[], None]) -> None:
        """Get the first prices; ``on_new_prices`` is called when more arrive on their own."""
        await self.async_refresh(dt_util.utcnow())

    @callback
    def async_stop(self) -> None:
        """Stop the source's timer or listener, where it has one."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @abstractmethod
    async def async_refresh(self, now: datetime) -> None:
        """Bring the prices up to date (each planning run calls this)."""

    def spot_at(self, when: datetime) -> float | None:
        """Return the spot price at ``when``, or None where no price is known."""
        for point in self.points:
            if point.start <= when < point.end:
                return point.price_eur_kwh
        return None


class DemoPriceSource(PriceSource):
    """The bundled prices, replayed: published day by day as the real market would be."""

    name = "demo"

    def __init__(self, series: SiteSeries) -> None:
        """Replay ``series``."""
        super().__init__()
        self._series = series

    async def async_refresh(self, now: datetime) -> None:
        """Publish the weeks before and today, and tomorrow once the auction has been held."""
        local = dt_util.as_local(now)
        start = dt_util.start_of_local_day(local) - HISTORY
        end = prices_known_until(local)
        step = timedelta(minutes=self._series.step_min)
        # In UTC: adding to a local time would add wall-clock time and break daylight-saving days.
        first, last = dt_util.as_utc(start), dt_util.as_utc(end)
        slots = int((last - first) / step)
        spot, _, _ = self._series.window(start, slots, self._series.step_min)
        self.points = [
            PricePoint(
                start=first + k * step,
                end=first + (k + 1) * step,
                price_eur_kwh=float(spot[k]),
            )
            for k in range(slots)
        ]
        self.last_success = now
        self.error = None


class StoredPriceSource(PriceSource):
    """Prices fetched from outside, merged into what is kept in the site's storage.

    Failures keep the last good prices, are logged once when they start and once when they end,
    and raise a repair issue after a day.
    """

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Keep the prices in the entry's own price store."""
        super().__init__()
        self.hass = hass
        self.entry = entry
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, _store_key(entry)
        )
        self._failing_since: datetime | None = None
        self._issue_id = f"price_source_failing_{entry.entry_id}"

    async def async_start(self, on_new_prices: Callable[[], None]) -> None:
        """Load the kept prices, then fetch."""
        stored = await self._store.async_load()
        if stored is not None:
            try:
                self.points = prices_from_json(stored.get("prices"))
                last = stored.get("last_success")
                self.last_success = (
                    dt_util.parse_datetime(last) if isinstance(last, str) else None
                )
            except PriceDataError as err:
                LOGGER.warning(
                    "Kept prices of %s are unreadable and are fetched again: %s",
                    self.entry.title,
                    err,
                )
        await super().async_start(on_new_prices)

    async def _async_fetched(self, fetched: list[PricePoint], now: datetime) -> bool:
        """Merge fresh prices, store them and clear failures; True when something new came."""
        before = self.points
        self.points = merge_prices(self.points, fetched, keep_from=now - HISTORY)
        self.last_success = now
        if self.error is not None:
            LOGGER.info("Prices of %s are available again", self.entry.title)
        self.error = None
        self._failing_since = None
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
        await self._store.async_save(
            {
                "prices": prices_to_json(self.points),
                "last_success": now.isoformat(),
            }
        )
        return self.points != before

    def _failed(self, message: str, now: datetime) -> None:
        """Note a failure: logged once, a repair issue after a day without prices."""
        if self.error is None:
            LOGGER.warning(
                "Prices of %s could not be updated (the last good ones are used): %s",
                self.entry.title,
                message,
            )
        self.error = message
        if self._failing_since is None:
            self._failing_since = self.last_success or now
        if now - self._failing_since >= FAILING_FOR:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="price_source_failing",
                translation_placeholders={
                    "site": self.entry.title,
                    "source": self.name,
                    "error": message,
                },
            )


class AwattarPriceSource(StoredPriceSource):
    """Day-ahead prices from aWATTar (Austria or Germany), fetched when they are published."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, region: Region) -> None:
        """Fetch ``region``'s prices through Home Assistant's shared HTTP session."""
        super().__init__(hass, entry)
        self.name = f"awattar_{region}"
        self._client = AwattarClient(async_get_clientsession(hass), region)
        self._failures = 0
        self._last_attempt: datetime | None = None
        self._on_new_prices: Callable[[], None] | None = None

    async def async_start(self, on_new_prices: Callable[[], None]) -> None:
        """Load the kept prices, fetch what is missing, and fetch again when the next day is out."""
        await super().async_start(on_new_prices)
        self._on_new_prices = on_new_prices
        await self._async_fetch(dt_util.utcnow())

    async def async_refresh(self, now: datetime) -> None:
        """Nothing to do: fetches follow the publication rhythm on their own timer."""

    async def _async_fetch(self, now: datetime) -> None:
        local_midnight = dt_util.start_of_local_day(dt_util.as_local(now))
        # The first fetch also brings the weeks the forecast looks back on.
        start = local_midnight - (HISTORY if not self.points else timedelta(0))
        self._last_attempt = now
        try:
            fetched = await self._client.fetch(
                start, local_midnight + timedelta(days=2)
            )
        except PriceFetchError as err:
            self._failures += 1
            self._failed(str(err), now)
        else:
            new = await self._async_fetched(fetched, now)
            self._failures = 0 if new else self._failures + 1
            if new and self._on_new_prices is not None:
                self._on_new_prices()
        self._schedule(now)

    def _schedule(self, now: datetime) -> None:
        due = next_fetch(
            now, known_until(self.points, now), self._last_attempt, self._failures
        )
        self.async_stop()
        self._unsubscribe = async_track_point_in_utc_time(
            self.hass, self._async_timer, due
        )

    async def _async_timer(self, _scheduled: datetime) -> None:
        self._unsubscribe = None
        # The time it really is: a late timer (a busy or suspended host) gets the time it was due.
        await self._async_fetch(dt_util.utcnow())


class EntityPriceSource(StoredPriceSource):
    """Prices listed in a Home Assistant entity's attributes (Nord Pool, EPEX Spot, Tibber, ...)."""

    name = "entity"

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, entity_id: str) -> None:
        """Read ``entity_id``'s price list."""
        super().__init__(hass, entry)
        self.entity_id = entity_id

    async def async_start(self, on_new_prices: Callable[[], None]) -> None:
        """Load the kept prices, read the entity, and read it again whenever it changes."""
        await super().async_start(on_new_prices)

        async def changed(_event: Event[EventStateChangedData]) -> None:
            if await self._async_read(dt_util.utcnow()):
                on_new_prices()

        self._unsubscribe = async_track_state_change_event(
            self.hass, self.entity_id, changed
        )

    async def async_refresh(self, now: datetime) -> None:
        """Read the entity's prices again."""
        await self._async_read(now)

    async def _async_read(self, now: datetime) -> bool:
        """Read the entity; True when it brought new prices."""
        state = self.hass.states.get(self.entity_id)
        if state is None:
            async_source_missing(self.hass, self.entry, self.entity_id, "price entity")
            self._failed(f"{self.entity_id} does not exist", now)
            return False
        async_source_found(self.hass, self.entry, self.entity_id)
        try:
            points = read_price_entity(
                state.attributes, state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
            )
        except PriceDataError as err:
            self._failed(f"{self.entity_id}: {err}", now)
            return False
        return await self._async_fetched(points, now)


async def async_remove_kept_prices(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Delete a removed site's kept prices."""
    await Store[dict[str, Any]](hass, STORAGE_VERSION, _store_key(entry)).async_remove()


def _store_key(entry: ConfigEntry) -> str:
    return f"{DOMAIN}.{entry.entry_id}.prices"


def read_price_entity(attributes: Any, unit: Any) -> list[PricePoint]:
    """Read a price entity's list of prices (raises PriceDataError naming what is wrong)."""
    return parse_price_attributes(attributes, unit if isinstance(unit, str) else None)


def price_source(
    hass: HomeAssistant, entry: ConfigEntry, series: SiteSeries
) -> PriceSource:
    """Return the price source the entry asks for."""
    tariff = entry.data[SECTION_TARIFF]
    source = tariff[CONF_PRICE_SOURCE]
    if source in AWATTAR_REGIONS:
        return AwattarPriceSource(hass, entry, AWATTAR_REGIONS[source])
    if source == PRICE_SOURCE_ENTITY:
        return EntityPriceSource(hass, entry, tariff[CONF_PRICE_ENTITY])
    return DemoPriceSource(series)
