"""Load and PV forecasts of a site, from what Home Assistant knows.

Load: the built-in forecaster (or Prophet, where it installs) learns from the load sensor's recorder
statistics (5-minute means, kept about ten days, completed by hourly long-term statistics); the demo
site starts from its replayed past until the recorder has two days of its own.
PV: the demo replay's recent days, the solar forecasts that integrations give the Energy dashboard
(Forecast.Solar, Solcast; averaged with the array's own recent days once the recorder has them), or a
weather entity's hourly cloud cover with a clear-sky model of the array, calibrated against the
measured PV.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from homeassistant.components.energy.websocket_api import async_get_energy_platforms
from homeassistant.components.recorder import DOMAIN as RECORDER_DOMAIN, get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import Platform, UnitOfPower
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import numpy as np

from .const import (
    CONF_LOAD_FORECASTER,
    CONF_MODE,
    CONF_PV_AZIMUTH,
    CONF_PV_FORECAST,
    CONF_PV_KWP,
    CONF_PV_TILT,
    CONF_SOLAR_FORECAST_ENTRIES,
    CONF_TRANSPORT,
    CONF_WEATHER_ENTITY,
    DEFAULT_FORECASTS,
    DOMAIN,
    ENTITY_SUFFIX,
    LOAD_FORECASTER_PROPHET,
    LOGGER,
    MODE_DEMO,
    PV_FORECAST_SOLAR,
    PV_FORECAST_WEATHER,
    SECTION_DEVICE,
    SECTION_FORECASTS,
    TRANSPORT_ENTITIES,
)
from .engine.forecast import (
    CAUTIOUS_LOAD_QUANTILE,
    LOAD_QUANTILE,
    OUTCOME_DAYS,
    PEAK_HELD_DAYS,
    PV_DEPARTURE_REST_OF_TODAY,
    PV_PROFILE_DAYS,
    LoadForecastSettings,
    Series,
    blend_pv,
    forecast_loads,
    held_peak_kw,
    mean_series,
    recent_days_pv,
    recent_departures,
)
from .engine.model import Battery, InvalidInputError
from .engine.prophet_forecast import prophet_available, prophet_forecast_load
from .engine.solar import Calibration, PvArray, calibrate, pv_forecast_kw
from .repairs import async_source_found, async_source_missing

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from homeassistant.components.energy.types import GetSolarForecastType
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

    from .engine.model import FloatArray
    from .engine.simulator import SiteSeries

SOLAR_PLATFORMS: HassKey[dict[str, GetSolarForecastType]] = HassKey(
    f"{DOMAIN}_solar_forecast_platforms"
)
# The forecasters' own grid.
GRID_MINUTES = 15
# The history read: the load forecast's and peak shaving's held limit's.
HISTORY_DAYS = max(LoadForecastSettings().days, PEAK_HELD_DAYS)
# The recorder's statistics are read again at most this often.
HISTORY_REFRESH = timedelta(hours=1)
# With fewer days of its own history the demo site learns from its replayed past.
MIN_RECORDED_DAYS = 2
# Prophet is fitted at most once a day, for this far ahead.
PROPHET_AHEAD = timedelta(hours=72)

# The forecasting methods, as the panel and the reports name them.
METHOD_BUILT_IN = "built_in"
METHOD_PROPHET = "prophet"
METHOD_SOLAR_FORECAST = "solar_forecast"
METHOD_WEATHER = "weather"
METHOD_RECENT_DAYS = "recent_days"
METHOD_SOLAR_FORECAST_BLEND = "solar_forecast_blend"
# Where the recent days' PV comes from when the site has no recording of its own.
DEMO_REPLAY = "demo replay"


async def async_solar_forecast_platforms(
    hass: HomeAssistant,
) -> dict[str, GetSolarForecastType]:
    """Return the solar forecast function of each integration that has one (for the Energy dashboard).

    Looked up once per Home Assistant run: the dictionary keeps growing as such integrations load,
    and each lookup would register another listener.
    """
    if SOLAR_PLATFORMS not in hass.data:
        hass.data[SOLAR_PLATFORMS] = await async_get_energy_platforms(hass)
    return hass.data[SOLAR_PLATFORMS]


def forecast_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the entry's forecast options, with defaults for what was never set."""
    return {**DEFAULT_FORECASTS, **options.get(SECTION_FORECASTS, {})}


def to_slots(values: FloatArray, slot_minutes: int) -> FloatArray:
    """Average a 15-minute forecast onto the plan's slots (15 or 60 minutes)."""
    per = slot_minutes // GRID_MINUTES
    return np.asarray(values.reshape(-1, per).mean(axis=1), dtype=np.float64)


async def async_recorded_series(
    hass: HomeAssistant, entity_id: str, start: datetime, end: datetime
) -> Series | None:
    """Return a sensor's 15-minute means from the recorder's statistics, or None without a recorder.

    5-minute statistics where the recorder still has them, hourly long-term statistics before.
    """
    if RECORDER_DOMAIN not in hass.config.components:
        return None
    slots = int((end - start) / timedelta(minutes=GRID_MINUTES))
    means: FloatArray = np.full(slots, np.nan)
    for period, length in (
        ("hour", timedelta(hours=1)),
        ("5minute", timedelta(minutes=5)),
    ):
        rows = (
            await get_instance(hass).async_add_executor_job(
                statistics_during_period,
                hass,
                start,
                end,
                {entity_id},
                period,
                # Whatever unit a source sensor records in, kW here.
                {"power": UnitOfPower.KILO_WATT},
                {"mean"},
            )
        ).get(entity_id, [])
        times = [dt_util.utc_from_timestamp(row["start"]) for row in rows]
        values = np.array(
            [np.nan if row.get("mean") is None else row["mean"] for row in rows]
        )
        finer = mean_series(
            times,
            values,
            start=start,
            slots=slots,
            slot_minutes=GRID_MINUTES,
            max_hold=length,
        ).values
        # The finer statistics win where both exist.
        means = np.asarray(np.where(np.isfinite(finer), finer, means))
    return Series(start=start, slot_minutes=GRID_MINUTES, values=means)


def days_before(series: Series, end: datetime, days: int) -> FloatArray:
    """Return the ``days`` days of ``series`` that end at ``end``; NaN where it has no value.

    A recorded history is read at most hourly, so it may end up to an hour before the plan starts;
    the recent days' profile needs them to end where the forecast begins.
    """
    slots = days * 1440 // series.slot_minutes
    stop = round((end - series.start) / timedelta(minutes=series.slot_minutes))
    window: FloatArray = np.full(slots, np.nan)
    first = stop - slots
    known = series.values[max(first, 0) : max(stop, 0)]
    window[max(-first, 0) : max(-first, 0) + len(known)] = known
    return window


def known_days(series: Series | None) -> float:
    """Days of known values in ``series``."""
    if series is None:
        return 0.0
    return float(np.isfinite(series.values).sum()) * GRID_MINUTES / 1440


def local_zone() -> ZoneInfo:
    """Home Assistant's time zone (a ZoneInfo in every supported version)."""
    zone = dt_util.get_default_time_zone()
    assert isinstance(zone, ZoneInfo)
    return zone


def _utc(text: str) -> datetime:
    """Parse an ISO time (as integrations give them) into UTC, or raise a clear error."""
    parsed = dt_util.parse_datetime(text)
    if parsed is None:
        raise HomeAssistantError(f"{text!r} is not a time")
    return dt_util.as_utc(parsed)


@dataclass(slots=True)
class ForecastResult:
    """A forecast on the plan's slots and where it came from."""

    values: FloatArray
    source: str
    # A cautious forecast, a value each slot rarely exceeds (the load's, for peak shaving).
    high: FloatArray | None = None
    # How each of the recent days departed from their usual day, over the plan's slots
    # (recent_departures): with the other forecast's, the plan's other outcomes.
    departures: tuple[FloatArray, ...] = ()


@dataclass(slots=True)
class Alternative:
    """One forecasting method's forecast over the plan's horizon, for comparison.

    ``values`` (kW per plan slot) is None when the method failed or cannot run; ``error`` says why.
    ``used`` marks the forecast the plan was made for.
    """

    method: str
    label: str
    used: bool
    # What the method ran on (entries, entity, recorder or demo replay), shown with its name.
    detail: str | None = None
    values: FloatArray | None = None
    error: str | None = None


@dataclass(slots=True)
class Alternatives:
    """Every load and PV forecast the site has for one planning run."""

    load: list[Alternative]
    pv: list[Alternative]


class SiteForecaster:
    """Forecasts a site's load and PV for each planning run."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, series: SiteSeries
    ) -> None:
        """Forecast with the entry's options; ``series`` is the demo site's replay."""
        self.hass = hass
        self.entry = entry
        self._unique_id = str(entry.unique_id)
        self.options = forecast_options(entry.options)
        self._series = series
        self._demo = entry.data.get(CONF_MODE) == MODE_DEMO
        # A live site's own sensors for load and PV, by signal (entities transport only).
        device = entry.data.get(SECTION_DEVICE, {})
        self._source_entities: dict[str, str] = {
            key: device[key + ENTITY_SUFFIX]
            for key in ("load_power", "pv_power")
            if device.get(CONF_TRANSPORT) == TRANSPORT_ENTITIES
            and device.get(key + ENTITY_SUFFIX)
        }
        self._history: dict[str, tuple[datetime, Series | None]] = {}
        self._prophet: tuple[datetime, datetime, FloatArray] | None = None
        # Peak shaving's held limit, by what it is computed from (async_held_peak).
        self._held: tuple[tuple[object, ...], float | None] | None = None
        self._calibration: tuple[datetime, Calibration] | None = None
        # Which method made the last plan's load and PV forecasts, and why Prophet did not.
        self.used: dict[str, str] = {}
        self._prophet_error: str | None = None
        self._recent_source = DEMO_REPLAY
        # The planning runs so far, and the alternatives of one of them (computed when asked).
        self._runs = 0
        self._alternatives: (
            tuple[tuple[object, ...], asyncio.Task[Alternatives]] | None
        ) = None
        # When each input was last fresh, and what fails now (for the "forecast stale" sensor).
        self.updated: dict[str, datetime] = {}
        self.errors: dict[str, str] = {}

    def _own_sensor(self, key: str) -> str | None:
        """Return the entity id of one of the site's own sensors."""
        return er.async_get(self.hass).async_get_entity_id(
            Platform.SENSOR, DOMAIN, f"{self._unique_id}_{key}"
        )

    async def _async_history(
        self, key: str, now: datetime, entity_id: str | None = None
    ) -> Series | None:
        """Return the recorded history of the site's ``key`` sensor (or of ``entity_id``), read at most hourly."""
        entity_id = entity_id or self._own_sensor(key)
        cached = self._history.get(f"{key} {entity_id}")
        if cached is not None and now - cached[0] < HISTORY_REFRESH:
            return cached[1]
        series = None
        if entity_id is not None:
            end = dt_util.as_utc(now).replace(second=0, microsecond=0)
            end -= timedelta(minutes=end.minute % GRID_MINUTES)
            series = await async_recorded_series(
                self.hass, entity_id, end - timedelta(days=HISTORY_DAYS), end
            )
        self._history[f"{key} {entity_id}"] = (now, series)
        return series

    async def _async_learned_history(
        self, key: str, start: datetime, column: int, days: int
    ) -> tuple[Series, str]:
        """Return the history a forecast learns from, and what it is.

        The site's own sensor once it has two days; before that a live site's source sensor (an
        inverter integration's, often with months of statistics); else the demo household.
        """
        history = await self._async_history(key, start)
        if known_days(history) >= MIN_RECORDED_DAYS:
            assert history is not None
            return history, "recorder"
        if (source_id := self._source_entities.get(key)) is not None:
            source = await self._async_history(key, start, source_id)
            if known_days(source) >= MIN_RECORDED_DAYS:
                assert source is not None
                return source, f"recorder, {source_id}"
        return self._replayed(column, start, days), DEMO_REPLAY

    def _replayed(self, column: int, end: datetime, days: int) -> Series:
        """Return the demo replay's past ``days`` days before ``end`` (UTC), on the 15-minute grid."""
        slots = days * 1440 // GRID_MINUTES
        start = end - timedelta(days=days)
        window = self._series.window(dt_util.as_local(start), slots, GRID_MINUTES)
        return Series(start=start, slot_minutes=GRID_MINUTES, values=window[column])

    async def _async_load_history(self, start: datetime) -> tuple[Series, str]:
        """Return the load history the forecasters learn from, and where it comes from."""
        return await self._async_learned_history("load_power", start, 1, HISTORY_DAYS)

    async def _async_built_in_load(
        self, history: Series, start: datetime, slots: int
    ) -> tuple[FloatArray, FloatArray]:
        """Run the built-in forecast: the median and the cautious load.

        CPU work (weighted quantiles over weeks): off the event loop.
        """
        median, high = await self.hass.async_add_executor_job(
            partial(
                forecast_loads,
                history,
                start=start,
                slots=slots,
                tz=local_zone(),
                quantiles=(LOAD_QUANTILE, CAUTIOUS_LOAD_QUANTILE),
            )
        )
        return median, high

    async def async_load(
        self, start: datetime, slots: int, slot_minutes: int
    ) -> ForecastResult:
        """Forecast the load for ``slots`` plan slots from ``start`` (UTC), with a cautious one."""
        self._runs += 1
        grid_slots = slots * slot_minutes // GRID_MINUTES
        history, source = await self._async_load_history(start)
        departures = self._departures(
            days_before(history, start, OUTCOME_DAYS), source, grid_slots, slot_minutes
        )
        built_in, high = await self._async_built_in_load(history, start, grid_slots)
        values: FloatArray | None = None
        method = METHOD_BUILT_IN
        if self.options[CONF_LOAD_FORECASTER] == LOAD_FORECASTER_PROPHET:
            values = await self._async_prophet(history, start, grid_slots)
            if values is not None:
                source, method = f"prophet, {source}", METHOD_PROPHET
        if values is None:
            values = built_in
            source = f"built-in, {source}"
        self.used["load"] = method
        self.updated["load"] = start
        load_kw = to_slots(np.clip(values, 0, None), slot_minutes)
        # Never below the forecast itself (Prophet's may lie above the built-in quantile).
        high_kw = np.maximum(to_slots(np.clip(high, 0, None), slot_minutes), load_kw)
        return ForecastResult(
            load_kw,
            source,
            high=high_kw,
            departures=departures,
        )

    def _departures(
        self,
        history: FloatArray,
        source: str,
        slots: int,
        slot_minutes: int,
        rest_of_today: float = 1.0,
    ) -> tuple[FloatArray, ...]:
        """Return the recent days' departures (recent_departures) on the plan's slots.

        From the site's own recorded days (``source``); a live site still learning from the demo
        household's replay has none (those days say nothing about it).
        """
        if not self._demo and source == DEMO_REPLAY:
            return ()
        return tuple(
            to_slots(departure, slot_minutes)
            for departure in recent_departures(
                history, 1440 // GRID_MINUTES, slots, rest_of_today=rest_of_today
            )
        )

    async def async_held_peak(self, start: datetime, battery: Battery) -> float | None:
        """Return the lowest import limit ``battery`` would have held on each of the past days.

        From the recorded load (the demo's replay while the recorder has too little): for peak
        shaving, whose plan leaves import below it alone (forecast.held_peak_kw). CPU work: off
        the event loop, and once for each history read: the limit comes from whole past days, so
        it changes when the history or the day does, not with every run.
        """
        history, source = await self._async_load_history(start)
        zone = local_zone()
        key = (
            source,
            history.start,
            history.end,
            start.astimezone(zone).date(),
            battery,
        )
        if self._held is None or self._held[0] != key:
            held = await self.hass.async_add_executor_job(
                partial(held_peak_kw, history, end=start, tz=zone, battery=battery)
            )
            self._held = (key, held)
        return self._held[1]

    async def _async_prophet(
        self, history: Series, start: datetime, slots: int
    ) -> FloatArray | None:
        """Prophet's forecast, fitted once a day; None where it cannot run (the built-in one serves)."""
        if not prophet_available():
            self._prophet_error = "Prophet is not installed"
            return None
        day = dt_util.start_of_local_day(dt_util.as_local(start))
        end = start + timedelta(minutes=GRID_MINUTES * slots)
        cached = self._prophet
        if cached is None or cached[0] != day or end > cached[1] + PROPHET_AHEAD:
            fit_start = dt_util.as_utc(start)
            ahead = int(PROPHET_AHEAD / timedelta(minutes=GRID_MINUTES))
            try:
                values = await self.hass.async_add_executor_job(
                    lambda: prophet_forecast_load(
                        history,
                        start=fit_start,
                        slots=ahead,
                        tz=local_zone(),
                    )
                )
            except InvalidInputError as err:
                LOGGER.info(
                    "Prophet cannot forecast yet, built-in forecast used: %s", err
                )
                self._prophet_error = str(err)
                return None
            except Exception:  # noqa: BLE001 - an optional third-party model must never stop the plan
                LOGGER.warning(
                    "Prophet failed, the built-in forecast is used", exc_info=True
                )
                self._prophet_error = "Prophet failed (see the log)"
                return None
            cached = self._prophet = (day, fit_start, values)
        self._prophet_error = None
        offset = int((start - cached[1]) / timedelta(minutes=GRID_MINUTES))
        return cached[2][offset : offset + slots]

    async def async_pv(
        self, start: datetime, slots: int, slot_minutes: int
    ) -> ForecastResult:
        """Forecast the PV for ``slots`` plan slots from ``start`` (UTC)."""
        grid_slots = slots * slot_minutes // GRID_MINUTES
        choice = self.options[CONF_PV_FORECAST]
        # What the user chose, by name: the weather entity, or the source.
        chosen = (
            self.options.get(CONF_WEATHER_ENTITY, "")
            if choice == PV_FORECAST_WEATHER
            else choice
        )
        try:
            if choice == PV_FORECAST_SOLAR:
                values = await self._async_solar_forecast(start, grid_slots)
                source, method = "solar forecast", METHOD_SOLAR_FORECAST
                recent_kw, recent_source = await self._async_recent_pv(
                    start, grid_slots
                )
                if recent_source != DEMO_REPLAY:
                    # The array's own recent days sharpen the solar forecast (blend_pv); the demo
                    # household's would not.
                    values = blend_pv(values, recent_kw)
                    source = f"solar forecast and recent days ({recent_source})"
                    method = METHOD_SOLAR_FORECAST_BLEND
            elif choice == PV_FORECAST_WEATHER:
                values = await self._async_weather_pv(start, grid_slots)
                source, method = f"weather {chosen}", METHOD_WEATHER
            else:
                values, source = await self._async_recent_pv(start, grid_slots)
                method = METHOD_RECENT_DAYS
        except HomeAssistantError as err:
            # The plan goes on with the recent days' PV; the failure is logged once and shown.
            if "pv" not in self.errors:
                LOGGER.warning(
                    "PV forecast from %s failed, the recent days' PV is used: %s",
                    chosen,
                    err,
                )
            self.errors["pv"] = f"{chosen}: {err}"
            values, recent = await self._async_recent_pv(start, grid_slots)
            source, method = f"{recent} ({chosen} failed)", METHOD_RECENT_DAYS
        else:
            if self.errors.pop("pv", None) is not None:
                LOGGER.info("PV forecast from %s works again", chosen)
            self.updated["pv"] = start
        self.used["pv"] = method
        values = np.clip(values, 0, None)
        # However it was forecast, the plan also weighs the recent days' departures from it.
        recent_kw, recent_source = await self._async_recent_pv_history(start)
        return ForecastResult(
            to_slots(values, slot_minutes),
            source,
            departures=self._departures(
                recent_kw,
                recent_source,
                grid_slots,
                slot_minutes,
                PV_DEPARTURE_REST_OF_TODAY,
            ),
        )

    async def _async_recent_pv_history(self, start: datetime) -> tuple[FloatArray, str]:
        """Return the recent days' PV before ``start``: recorded where there are days of it, else replayed."""
        history, source = await self._async_learned_history(
            "pv_power", start, 2, PV_PROFILE_DAYS
        )
        self._recent_source = source
        return days_before(history, start, PV_PROFILE_DAYS), source

    async def _async_recent_pv(
        self, start: datetime, slots: int
    ) -> tuple[FloatArray, str]:
        """Forecast PV as the recent days' profile (_async_recent_pv_history)."""
        recent, source = await self._async_recent_pv_history(start)
        per_day = 1440 // GRID_MINUTES
        return recent_days_pv(recent, per_day, slots), source

    async def _async_solar_forecast(
        self, start: datetime, slots: int, *, repair: bool = True
    ) -> FloatArray:
        """Return the sum of the chosen integrations' solar forecasts (what the Energy dashboard shows).

        ``repair``: raise (and withdraw) a repair issue when a chosen entry is missing (when planning).
        """
        platforms = await async_solar_forecast_platforms(self.hass)
        total = np.zeros(slots)
        for entry_id in self.options[CONF_SOLAR_FORECAST_ENTRIES]:
            entry = self.hass.config_entries.async_get_entry(entry_id)
            if entry is None:
                if repair:
                    async_source_missing(
                        self.hass, self.entry, entry_id, "solar forecast"
                    )
                raise HomeAssistantError(f"{entry_id} does not exist")
            if repair:
                async_source_found(self.hass, self.entry, entry_id)
            if (platform := platforms.get(entry.domain)) is None:
                raise HomeAssistantError(f"{entry.title} gives no solar forecast")
            forecast = await platform(self.hass, entry_id)
            if not forecast:
                raise HomeAssistantError(f"{entry.title} has no solar forecast now")
            hours = forecast["wh_hours"]
            times = [_utc(key) for key in hours]
            # Wh in an hour is the hour's mean power in W.
            values = np.array([float(wh) / 1000 for wh in hours.values()])
            series = mean_series(
                times,
                values,
                start=start,
                slots=slots,
                slot_minutes=GRID_MINUTES,
                max_hold=timedelta(hours=1),
            )
            total += np.nan_to_num(series.values)
        return total

    async def _async_weather_pv(
        self, start: datetime, slots: int, *, repair: bool = True
    ) -> FloatArray:
        """Model the array clear-sky under the weather entity's hourly cloud cover.

        ``repair``: raise (and withdraw) a repair issue when the entity is missing (when planning).
        """
        entity_id = self.options[CONF_WEATHER_ENTITY]
        if self.hass.states.get(entity_id) is None:
            if repair:
                async_source_missing(self.hass, self.entry, entity_id, "weather entity")
            raise HomeAssistantError(f"{entity_id} does not exist")
        if repair:
            async_source_found(self.hass, self.entry, entity_id)
        response = await self.hass.services.async_call(
            "weather",
            "get_forecasts",
            {"entity_id": entity_id, "type": "hourly"},
            blocking=True,
            return_response=True,
        )
        answer: Any = (response or {}).get(entity_id) or {}
        hourly: list[dict[str, Any]] = answer.get("forecast") or []
        if not hourly:
            raise HomeAssistantError(f"{entity_id} has no hourly forecast")
        times = [_utc(item["datetime"]) for item in hourly]

        def column(name: str) -> FloatArray:
            values = np.array(
                [np.nan if item.get(name) is None else item[name] for item in hourly],
                dtype=np.float64,
            )
            return mean_series(
                times,
                values,
                start=start,
                slots=slots,
                slot_minutes=GRID_MINUTES,
                max_hold=timedelta(hours=1),
            ).values

        cloud, temperature = column("cloud_coverage"), column("temperature")
        array = self.pv_array()
        calibration = await self._async_calibration(start, array)
        with_weather = pv_forecast_kw(
            array,
            start=start,
            slots=slots,
            slot_minutes=GRID_MINUTES,
            cloud_pct=np.nan_to_num(cloud, nan=0.0),
            temperature_c=np.nan_to_num(temperature, nan=15.0),
            calibration=calibration,
        )
        typical = pv_forecast_kw(
            array,
            start=start,
            slots=slots,
            slot_minutes=GRID_MINUTES,
            calibration=calibration,
        )
        # Beyond the weather forecast: the calibration's typical clearness (no cloud input).
        return np.where(np.isfinite(cloud), with_weather, typical)

    async def async_alternatives(
        self,
        start: datetime,
        slot_minutes: int,
        load_kw: FloatArray,
        pv_kw: FloatArray,
    ) -> Alternatives:
        """Every load and PV forecast the site has for the last plan, the plan's own marked as used.

        ``start`` (UTC) and ``slot_minutes`` are the plan's, ``load_kw`` and ``pv_kw`` its forecasts.
        Computed only when asked (the panel's Forecasts tab), once per planning run: later questions
        about the same run, and questions while it is being computed, share one answer.
        """
        key = (self._runs, start, slot_minutes, len(load_kw))
        if self._alternatives is None or self._alternatives[0] != key:
            task = self.hass.async_create_task(
                self._async_alternatives(start, slot_minutes, load_kw, pv_kw),
                f"{DOMAIN} forecast alternatives",
            )
            self._alternatives = (key, task)
        task = self._alternatives[1]
        try:
            # One asker giving up (a closed panel) must not cancel it for the others.
            return await asyncio.shield(task)
        except Exception:
            if self._alternatives is not None and self._alternatives[1] is task:
                self._alternatives = None
            raise

    async def _async_alternatives(
        self,
        start: datetime,
        slot_minutes: int,
        load_kw: FloatArray,
        pv_kw: FloatArray,
    ) -> Alternatives:
        grid_slots = len(load_kw) * slot_minutes // GRID_MINUTES

        def on_slots(values: FloatArray) -> FloatArray:
            return to_slots(np.clip(values, 0, None), slot_minutes)

        # Load: the built-in forecast always; Prophet's too when it is the chosen forecaster.
        used_load = self.used.get("load", METHOD_BUILT_IN)
        built_in = Alternative(
            METHOD_BUILT_IN, "Built-in", used_load == METHOD_BUILT_IN
        )
        load = [built_in]
        if self.options[CONF_LOAD_FORECASTER] == LOAD_FORECASTER_PROPHET:
            load.append(
                Alternative(METHOD_PROPHET, "Prophet", used_load == METHOD_PROPHET)
            )
        for alternative in load:
            if alternative.used:
                alternative.values = load_kw
        if not built_in.used:
            history, _ = await self._async_load_history(start)
            median, _ = await self._async_built_in_load(history, start, grid_slots)
            built_in.values = on_slots(median)
        if len(load) > 1 and not load[1].used:
            # Prophet was chosen but could not forecast: the plan ran on the built-in one.
            load[1].error = self._prophet_error or "Prophet could not forecast"

        # PV: the chosen source, every other configured one, and the recent days' profile.
        choice = self.options[CONF_PV_FORECAST]
        used_pv = self.used.get("pv", METHOD_RECENT_DAYS)
        pv: list[Alternative] = []
        if used_pv == METHOD_SOLAR_FORECAST_BLEND:
            pv.append(
                Alternative(
                    METHOD_SOLAR_FORECAST_BLEND,
                    f"Solar forecast and recent days ({self._recent_source})",
                    True,
                    self._recent_source,
                    pv_kw,
                )
            )
        entries = self.options[CONF_SOLAR_FORECAST_ENTRIES]
        if choice == PV_FORECAST_SOLAR or entries:
            titles = []
            for entry_id in entries:
                entry = self.hass.config_entries.async_get_entry(entry_id)
                titles.append(entry_id if entry is None else entry.title)
            pv.append(
                await self._async_pv_alternative(
                    METHOD_SOLAR_FORECAST,
                    "Solar forecast",
                    ", ".join(titles),
                    choice == PV_FORECAST_SOLAR,
                    used_pv,
                    pv_kw,
                    partial(
                        self._async_solar_forecast, start, grid_slots, repair=False
                    ),
                )
            )
        if weather := self.options.get(CONF_WEATHER_ENTITY):
            pv.append(
                await self._async_pv_alternative(
                    METHOD_WEATHER,
                    "Weather-based",
                    weather,
                    choice == PV_FORECAST_WEATHER,
                    used_pv,
                    pv_kw,
                    partial(self._async_weather_pv, start, grid_slots, repair=False),
                )
            )

        async def recent() -> FloatArray:
            values, _ = await self._async_recent_pv(start, grid_slots)
            return values

        recent_days = await self._async_pv_alternative(
            METHOD_RECENT_DAYS, "Recent days", None, False, used_pv, pv_kw, recent
        )
        # Known once the recent days were read (for the plan, or just now).
        recent_days.detail = self._recent_source
        recent_days.label = f"Recent days ({self._recent_source})"
        pv.append(recent_days)
        for alternative in pv:
            if alternative.values is not None and not alternative.used:
                alternative.values = on_slots(alternative.values)
        # The plan's own forecast first.
        pv.sort(key=lambda alternative: not alternative.used)
        return Alternatives(load=load, pv=pv)

    async def _async_pv_alternative(
        self,
        method: str,
        name: str,
        detail: str | None,
        chosen: bool,
        used: str,
        pv_kw: FloatArray,
        forecast: Callable[[], Awaitable[FloatArray]],
    ) -> Alternative:
        """One PV method's forecast: the plan's own, the chosen one's failure, or a new forecast."""
        label = name if detail is None else f"{name} ({detail})"
        alternative = Alternative(method, label, used == method, detail)
        if alternative.used:
            alternative.values = pv_kw
        elif chosen and "pv" in self.errors:
            # The chosen source failed when planning (the plan ran on the recent days): not again.
            alternative.error = self.errors["pv"]
        else:
            try:
                alternative.values = await forecast()
            except HomeAssistantError as err:
                alternative.error = str(err)
        return alternative

    def pv_array(self) -> PvArray:
        """Return the configured array at Home Assistant's location."""
        return PvArray(
            latitude_deg=self.hass.config.latitude,
            longitude_deg=self.hass.config.longitude,
            kwp=self.options[CONF_PV_KWP],
            tilt_deg=self.options[CONF_PV_TILT],
            azimuth_deg=self.options[CONF_PV_AZIMUTH],
        )

    async def _async_calibration(self, now: datetime, array: PvArray) -> Calibration:
        """Learn the array from the measured PV, once a day."""
        day = dt_util.start_of_local_day(dt_util.as_local(now))
        if self._calibration is not None and self._calibration[0] == day:
            return self._calibration[1]
        measured = await self._async_history("pv_power", now)
        calibration = (
            Calibration()
            if measured is None
            else await self.hass.async_add_executor_job(calibrate, measured, array)
        )
        self._calibration = (day, calibration)
        return calibration
