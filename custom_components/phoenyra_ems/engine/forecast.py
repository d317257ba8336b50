"""Built-in forecasts from the past only: daily profiles of recent days (prices: prices.py).

The load forecast takes a recorded history on a regular grid (``Series``; ``mean_series`` makes one
from a recorder's state changes) and the site's time zone, and forecasts from weekday and weekend
profiles of the same local time of day.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
import functools
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .model import _require

if TYPE_CHECKING:
    from collections.abc import Sequence
    from zoneinfo import ZoneInfo

    from .model import Battery, FloatArray

type IntArray = npt.NDArray[np.int64]

_MINUTES_PER_DAY = 24 * 60
_DAY_S = 86400.0
_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000
_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Days of measured PV the recent days' profile averages (2024 backtest: 3 days captured 0.845 of the
# perfect-foresight saving, 7 days 0.850, 14 days 0.850).
PV_PROFILE_DAYS = 7


def daily_profile(
    history: FloatArray,
    slots_per_day: int,
    horizon: int,
    days: int,
    level_slots: float = 3.0,
    day_decay: float = 0.7,
    sky_weight: float = 0.0,
) -> FloatArray:
    """Forecast ``horizon`` slots as the mean of the same time of day over the last ``days`` days.

    Each day weighs ``day_decay`` times the day after it: recent days count more, as seasons and
    habits move on (measured on the 2024 backtest: 0.7 beats a plain mean). Unknown values (NaN)
    are left out: a time of day known on no day forecasts 0.

    ``history`` ends with the slot just before the first forecast slot. The last measurement's
    distance from its profile value carries into the first slots and fades with a time constant of
    ``level_slots`` (the recent level: a cloudy morning, a guest for dinner). With less than a day of
    history the last value is carried forward (a cold start).

    For PV, ``sky_weight`` carries the day in progress into its remaining hours: when the forecast
    starts in daylight, the rest of that daylight is scaled towards what the day has measured so far
    against its profile (a morning at half its usual PV: with weight 0.8 the afternoon at 60 %).
    """
    if len(history) == 0:
        return np.zeros(horizon)
    full_days = min(days, len(history) // slots_per_day)
    if full_days == 0:
        return np.full(horizon, float(np.nan_to_num(history[-1])))
    recent = history[len(history) - full_days * slots_per_day :].reshape(
        full_days, slots_per_day
    )
    known = ~np.isnan(recent)
    weights = (day_decay ** np.arange(full_days)[::-1])[:, np.newaxis] * known
    total = weights.sum(axis=0)
    profile = (weights * np.nan_to_num(recent)).sum(axis=0) / np.where(
        total > 0, total, 1.0
    )
    # Slot k of the forecast falls at the same time of day as profile slot k (the profile ends just
    # before the forecast starts).
    forecast: FloatArray = np.asarray(np.resize(profile, horizon), dtype=np.float64)
    scale = 1.0
    if sky_weight > 0:
        light = _daylight(profile)
        sky = _sky_so_far(history, profile, light)
        if sky is not None:
            scale = 1.0 + sky_weight * (sky - 1.0)
            # To the end of the day's light only: the next day's sky is another (household year:
            # a day's distance from its profile says nothing of the next day's).
            forecast[: _rest_of_daylight(light, horizon)] *= scale
    if level_slots > 0 and not np.isnan(history[-1]):
        offset = float(history[-1]) - float(profile[-1]) * scale
        forecast = forecast + offset * np.exp(-np.arange(1, horizon + 1) / level_slots)
    return np.asarray(forecast, dtype=np.float64)


# Share of the profile's highest PV below which a slot counts as night (daily_profile).
_DAYLIGHT_SHARE = 0.02


def _daylight(profile: FloatArray) -> npt.NDArray[np.bool_]:
    """Return which slots of a day's PV profile have light.

    Slots below a small share of the profile's highest PV count as night: dawn's first watts say
    nothing of the sky.
    """
    return np.asarray(profile > _DAYLIGHT_SHARE * float(profile.max(initial=0.0)))


def _rest_of_daylight(light: npt.NDArray[np.bool_], horizon: int) -> int:
    """Return how many of ``horizon`` forecast slots the daylight in progress lasts; 0 at night.

    ``light`` is _daylight of the profile whose slot k falls at the time of day of forecast slot k
    (the profile ends just before the forecast starts).
    """
    if not light[-1]:
        return 0
    dark = np.flatnonzero(~np.resize(light, horizon))
    return int(dark[0]) if len(dark) else horizon


def _sky_so_far(
    history: FloatArray, profile: FloatArray, light: npt.NDArray[np.bool_]
) -> float | None:
    """Return the day in progress's measured PV over its profile (0 to 3); None at night.

    The day in progress is the daylight (``light``) of the profile up to its last slot (the slot
    before the forecast); its slots unknown in ``history`` are left out.
    """
    if not light[-1]:
        return None
    dark = np.flatnonzero(~light)
    first = int(dark[-1]) + 1 if len(dark) else 0
    measured = history[len(history) - (len(profile) - first) :]
    known = ~np.isnan(measured)
    usual = float(profile[first:][known].sum())
    if usual <= 0:
        return None
    return min(max(float(measured[known].sum()) / usual, 0.0), 3.0)


# How far the day in progress's sky carries into its remaining hours (daily_profile's sky_weight).
# Household year (2024 backtest, arbitrage), with the last day's load level: 0.6 and 0.8 captured
# 0.877 of the perfect-foresight saving, 1.0 0.875, none 0.873; alone 0.8 took 0.869 to 0.873.
PV_SKY_WEIGHT = 0.8


def recent_days_pv(history: FloatArray, slots_per_day: int, horizon: int) -> FloatArray:
    """Forecast PV (kW) from the array's recent days: their profile, today's sky carried on."""
    return daily_profile(
        history, slots_per_day, horizon, PV_PROFILE_DAYS, sky_weight=PV_SKY_WEIGHT
    )


# Days whose departures from their usual day make a plan's other outcomes (recent_departures).
OUTCOME_DAYS = 7
# Hours over which a departure grows in from none: the forecast's first hours know the level of the
# hour just past (the load's last hour, the PV's sky so far). 2024 backtest (arbitrage): 3 hours
# captured 0.9002 of the perfect-foresight saving, 2 hours 0.9001; over March and June 3 hours
# beat 6, and departures at full size from the first slot did worse than no departures at all.
DEPARTURE_GROW_HOURS = 3.0
# Share of a PV departure in the rest of the daylight in progress, whose sky so far the PV forecast
# carries on: it has less room to turn out otherwise than a day ahead has (measured with a sunnier
# day as the only outcome: 0.5 captured 0.8844, 0.3 0.8841, 0.7 0.8833, 1 0.8815, 0 0.8821).
PV_DEPARTURE_REST_OF_TODAY = 0.5

# Outcomes whose net load differs from the forecast's by less than this anywhere are not worth a
# plan's time (kW; a week of identical days).
_OUTCOME_SPREAD_KW = 0.01


def recent_departures(
    history: FloatArray,
    slots_per_day: int,
    horizon: int,
    *,
    days: int = OUTCOME_DAYS,
    rest_of_today: float = 1.0,
) -> tuple[FloatArray, ...]:
    """Return how each of the last ``days`` days departed from their mean, over the forecast's slots.

    ``history`` ends just before the forecast starts (as in daily_profile); slot k of a departure
    is the day's distance from the days' mean at the time of day of forecast slot k, growing in
    from none over the first hours (DEPARTURE_GROW_HOURS). ``rest_of_today`` scales the rest of
    the daylight in progress (for PV, PV_DEPARTURE_REST_OF_TODAY). The most recent day comes
    first; unknown values depart by nothing (a day unknown throughout keeps its place, so that the
    load's and the PV's departures of the same day go together). With less than two days known at
    all there are none.
    """
    full_days = min(days, len(history) // slots_per_day)
    if full_days == 0:
        return ()
    recent = history[len(history) - full_days * slots_per_day :].reshape(
        full_days, slots_per_day
    )
    known = np.isfinite(recent)
    if np.count_nonzero(known.any(axis=1)) < 2:
        return ()
    usual = np.nan_to_num(recent).sum(axis=0) / np.maximum(known.sum(axis=0), 1)
    departures = np.where(known, recent - usual, 0.0)
    lead_h = np.arange(1, horizon + 1) * (24.0 / slots_per_day)
    grow = 1.0 - np.exp(-lead_h / DEPARTURE_GROW_HOURS)
    if rest_of_today != 1.0:
        grow[: _rest_of_daylight(_daylight(usual), horizon)] *= rest_of_today
    return tuple(
        np.asarray(np.resize(departure, horizon) * grow, dtype=np.float64)
        for departure in departures[::-1]
    )


def departed(
    forecast_kw: FloatArray, departures: Sequence[FloatArray]
) -> tuple[FloatArray, ...]:
    """Return the forecast moved by each of the recent days' departures, never below 0."""
    return tuple(np.clip(forecast_kw + departure, 0, None) for departure in departures)


def net_load_outcomes(
    load_kw: FloatArray,
    pv_kw: FloatArray,
    load_departures: Sequence[FloatArray],
    pv_departures: Sequence[FloatArray],
) -> tuple[FloatArray, ...]:
    """Return the net loads (load minus PV) of the forecasts with each recent day's departures.

    Day j's load departure goes with day j's PV departure (a dull day's PV with that day's load;
    recent_departures of the same days); where one has fewer days, the others depart in the load
    or the PV alone. Load and PV never go below 0 (departed). None where no outcome differs from
    the forecast.
    """
    forecast = load_kw - pv_kw
    days = max(len(load_departures), len(pv_departures))
    loads = departed(load_kw, load_departures) + (load_kw,) * days
    pvs = departed(pv_kw, pv_departures) + (pv_kw,) * days
    outcomes = tuple(loads[j] - pvs[j] for j in range(days))
    if all(
        float(np.abs(outcome - forecast).max(initial=0.0)) < _OUTCOME_SPREAD_KW
        for outcome in outcomes
    ):
        return ()
    return outcomes


# A solar forecast's share in the PV forecast beside the array's recent days (see blend_pv).
SOLAR_FORECAST_WEIGHT = 0.5


def blend_pv(
    solar_forecast_kw: FloatArray,
    recent_kw: FloatArray,
    weight: float = SOLAR_FORECAST_WEIGHT,
) -> FloatArray:
    """Return a solar forecast averaged with the recent days' profile of the array's measured PV.

    A solar forecast knows the coming weather but not the array as it is (shading, soiling, clipping,
    the figures its owner entered); the recent days know the array and today's sky so far but not
    tomorrow's. Their errors differ, so their average is the better forecast to plan on: over the
    2024 backtest the household's published forecast captured 0.853 of the perfect-foresight saving,
    its recent days 0.850, and the two averaged 0.866 (70/30 and 30/70 mixes did worse).
    """
    return np.asarray(
        weight * solar_forecast_kw + (1 - weight) * recent_kw, dtype=np.float64
    )


# --- Load forecasts from a recorded history ------------------------------------------------------

# A slot's mean is reported when at least this share of it is known (a few missing minutes are the
# recorder's normal life; a slot known for one minute is noise).
_MIN_COVERAGE = 0.5


@dataclass(frozen=True, kw_only=True, slots=True)
class Series:
    """Means over consecutive slots of equal length on a regular grid.

    ``values[k]`` is the mean over ``[start + k * slot_minutes, start + (k + 1) * slot_minutes)``;
    NaN where it is unknown.
    """

    start: datetime
    slot_minutes: int
    values: FloatArray

    def __post_init__(self) -> None:
        """Reject grids that cannot be placed in time or in the day."""
        _require(self.start.tzinfo is not None, "start", "must be timezone-aware")
        _require(
            self.slot_minutes > 0 and _MINUTES_PER_DAY % self.slot_minutes == 0,
            "slot_minutes",
            "must divide a day into whole slots",
        )
        _require(self.values.ndim == 1, "values", "must be one-dimensional")

    @property
    def end(self) -> datetime:
        """End of the last slot."""
        return self.start + timedelta(minutes=self.slot_minutes * len(self.values))

    def slot_starts_s(self) -> FloatArray:
        """POSIX seconds of the slot starts."""
        return _grid_s(self.start, self.slot_minutes, len(self.values))


def _grid_s(start: datetime, slot_minutes: int, slots: int) -> FloatArray:
    return start.timestamp() + 60.0 * slot_minutes * np.arange(slots, dtype=np.float64)


def mean_series(
    times: Sequence[datetime],
    values: FloatArray,
    *,
    start: datetime,
    slots: int,
    slot_minutes: int = 15,
    max_hold: timedelta | None = None,
) -> Series:
    """Turn timed values into time-weighted slot means on a regular grid.

    Each value holds from its time until the next one (a recorder's state changes), but for at most
    ``max_hold`` when given: a recorder writes a state only when it changes, so a steady load may
    hold for hours (no limit, the default), while rows that are already slot means hold for one slot
    (``max_hold`` = their length, so that a missing row stays a gap). NaN values (``unavailable``)
    are unknown time. A slot is the mean of its known part, or NaN when less than half of it is known.
    """
    _require(len(times) == len(values), "values", "must have one value per time")
    _require(
        all(t.tzinfo is not None for t in times), "times", "must be timezone-aware"
    )
    grid = Series(start=start, slot_minutes=slot_minutes, values=np.zeros(slots))
    if len(times) == 0:
        return replace(grid, values=np.full(slots, np.nan))
    stamps = np.array([t.timestamp() for t in times])
    order = np.argsort(stamps, kind="stable")
    stamps, held = stamps[order], np.asarray(values, dtype=np.float64)[order]
    edges = _grid_s(start, slot_minutes, slots + 1)
    # The last value holds until the end of the grid (the recorder has not seen a change since).
    ends = np.append(stamps[1:], max(edges[-1], stamps[-1]))
    if max_hold is not None:
        ends = np.minimum(ends, stamps + max_hold.total_seconds())
    known = np.isfinite(held)
    begin, finish, held = stamps[known], ends[known], held[known]
    # The integrals of value and of known time are piecewise linear in time with knots at the
    # segment ends, so interpolating their running sums at the slot edges is exact.
    knots = np.column_stack([begin, finish]).ravel()
    lengths = finish - begin
    area = np.cumsum(np.column_stack([np.zeros_like(held), held * lengths]).ravel())
    cover = np.cumsum(np.column_stack([np.zeros_like(held), lengths]).ravel())
    if len(knots) == 0:
        return replace(grid, values=np.full(slots, np.nan))
    slot_area = np.diff(np.interp(edges, knots, area))
    slot_cover = np.diff(np.interp(edges, knots, cover))
    enough = slot_cover >= _MIN_COVERAGE * 60.0 * slot_minutes
    means = np.full(slots, np.nan)
    means[enough] = slot_area[enough] / slot_cover[enough]
    return replace(grid, values=means)


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadForecastSettings:
    """How the built-in load forecast weighs the past.

    The defaults were chosen on the first three months of the household benchmark (March to May 2024,
    ``./scripts/bench forecast``): recent days matter far more than a long memory there.
    """

    # History taken into account: three weeks, six weekend days.
    days: int = 21
    # Each day back weighs this much less than the day after it: habits and seasons move on.
    day_decay: float = 0.85
    # Weight of the neighbouring slots (a meal cooked ten minutes later is the same meal).
    neighbour_weight: float = 0.5
    # Days of one kind (weekday, weekend) with data at a time of day before their own profile is used
    # there instead of the all-days one.
    min_days_per_kind: int = 2
    # Time constant of the fade of the recent level's distance from the profile.
    level_hours: float = 1.0
    # The recent level is the mean of the last hour (one slot is too noisy: a kettle).
    level_window_hours: float = 1.0
    # Share of the last day's distance from the profile that holds for the whole forecast: a house
    # that ran warm or busy yesterday mostly does so today and tomorrow (household year: half the
    # last 24 hours' mean distance from the profile recurs at every lead time up to a day and a
    # half; 2024 backtest, arbitrage: 0.5 captured 0.873 of the perfect-foresight saving, 1.0 0.869,
    # none 0.869; with the PV's sky of the day in progress 0.3 0.878, 0.5 0.877).
    day_level_weight: float = 0.5
    # Share of the last day's shape that recurs: its distance from the profile at the same time of
    # day (averaged over ``day_shape_hours`` either side), less its mean distance (the level above).
    # A late dinner yesterday is likelier late again today (household year: such hourly
    # distances correlate 0.28 with the next day's at the same time, 0.16 with a week later; 2024
    # backtest, arbitrage: 0.3 captured 0.8812 of the perfect-foresight saving, 0.5 0.8815, 0.8
    # 0.8783, none 0.8784; over two hours either side 0.3 0.8813).
    day_shape_weight: float = 0.5
    day_shape_hours: float = 1.0


# The load forecast the plans run on: the median minimises the absolute error (household load is
# spiky, so the mean overshoots most slots).
LOAD_QUANTILE = 0.5
# A load each slot rarely exceeds (nine days in ten): peak shaving plans its import limit on it, so
# that the battery still has energy when a busier day than the usual one peaks. On the commercial
# benchmark profile it cut the monthly peaks by 10.5 % where the median forecast cut 4.9 %.
CAUTIOUS_LOAD_QUANTILE = 0.9


@dataclass(frozen=True, kw_only=True, slots=True)
class _Clock:
    """Local time of day (slot of the day) and kind of day of each slot."""

    slot_of_day: npt.NDArray[np.int64]
    weekend: npt.NDArray[np.bool_]


# Forecasts over weeks of history ask for the same days' offsets again and again (a backtest
# thousands of times).
@functools.lru_cache(maxsize=8192)
def _utc_offset_us(instant_us: int, tz: tzinfo) -> int:
    moment = _EPOCH + timedelta(microseconds=instant_us)
    return (moment.astimezone(tz).utcoffset() or timedelta(0)) // _MICROSECOND


def utc_offsets_us(stamps_us: IntArray, tz: tzinfo) -> IntArray:
    """Return the UTC offset of ``tz`` at each instant (microseconds since the epoch).

    Offsets change a few times a year: they are sampled a day apart, an hour apart within the days
    where they change, and instant by instant within the hours where they do (some zones change at
    half hours UTC). A zone that changed and changed back within one day would be missed.
    """
    offsets = np.zeros(len(stamps_us), dtype=np.int64)
    pending = np.arange(len(stamps_us))
    for unit_us in (_DAY_US, _HOUR_US):
        buckets, inverse = np.unique(stamps_us[pending] // unit_us, return_inverse=True)
        edges = np.union1d(buckets, buckets + 1)
        at_edge = {int(edge): _utc_offset_us(int(edge) * unit_us, tz) for edge in edges}
        begin = np.array([at_edge[b] for b in buckets.tolist()], dtype=np.int64)
        end = np.array([at_edge[b + 1] for b in buckets.tolist()], dtype=np.int64)
        steady = (begin == end)[inverse]
        offsets[pending[steady]] = begin[inverse][steady]
        pending = pending[~steady]
    for position in pending.tolist():
        offsets[position] = _utc_offset_us(int(stamps_us[position]), tz)
    return offsets


def _local_clock(stamps_s: FloatArray, tz: ZoneInfo, slot_minutes: int) -> _Clock:
    offsets_us = utc_offsets_us(np.round(stamps_s * 1e6).astype(np.int64), tz)
    local_s = stamps_s + offsets_us.astype(np.float64) / 1e6
    days = np.floor(local_s / _DAY_S)
    slot_of_day = ((local_s - days * _DAY_S) // (60.0 * slot_minutes)).astype(np.int64)
    # 1970-01-01, day 0, was a Thursday (weekday 3 with Monday 0).
    weekend = (days.astype(np.int64) + 3) % 7 >= 5
    return _Clock(slot_of_day=slot_of_day, weekend=weekend)


def _group_statistics(
    groups: npt.NDArray[np.int64],
    values: FloatArray,
    weights: FloatArray,
    n_groups: int,
    quantiles: Sequence[float | None],
) -> list[FloatArray]:
    """Weighted quantiles (None: mean) of ``values`` per group; NaN for empty groups."""
    total = np.bincount(groups, weights, n_groups)
    filled = total > 0
    # Sorted once for every quantile: by group, and by value within each group.
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    cumulative = np.cumsum(weights[order])
    first = np.searchsorted(g, np.arange(n_groups), side="left")
    last = np.searchsorted(g, np.arange(n_groups), side="right")
    before = np.where(first > 0, cumulative[np.maximum(first - 1, 0)], 0.0)
    statistics: list[FloatArray] = []
    for quantile in quantiles:
        out = np.full(n_groups, np.nan)
        if quantile is None:
            sums = np.bincount(groups, weights * values, n_groups)
            out[filled] = sums[filled] / total[filled]
        elif len(values):
            share = before + (cumulative[np.maximum(last - 1, 0)] - before) * quantile
            # The first value whose running weight reaches the quantile's share of its group's.
            index = np.clip(
                np.searchsorted(cumulative, share, side="left"), first, last - 1
            )
            out[filled] = v[index[filled]]
        statistics.append(out)
    return statistics


def forecast_load(
    history: Series,
    *,
    start: datetime,
    slots: int,
    tz: ZoneInfo,
    settings: LoadForecastSettings | None = None,
    quantile: float | None = LOAD_QUANTILE,
) -> FloatArray:
    """Forecast the load (kW) for ``slots`` slots of ``history.slot_minutes`` from ``start``.

    The forecast at one quantile (None: the mean) of forecast_loads.
    """
    return forecast_loads(
        history,
        start=start,
        slots=slots,
        tz=tz,
        settings=settings,
        quantiles=(quantile,),
    )[0]


def forecast_loads(
    history: Series,
    *,
    start: datetime,
    slots: int,
    tz: ZoneInfo,
    quantiles: Sequence[float | None],
    settings: LoadForecastSettings | None = None,
) -> list[FloatArray]:
    """Forecast the load (kW) at each of ``quantiles`` (None: the mean), sharing the work.

    Each slot is the recency-weighted quantile of the same local time of day on past days of its
    kind (Monday to Friday, or Saturday and Sunday), neighbouring slots weighing less; a kind with
    too few days at a time of day falls back on all days (LOAD_QUANTILE and CAUTIOUS_LOAD_QUANTILE
    say which quantiles the plans use). Unknown (NaN) slots of the history are left out, so gaps do
    not pull the profile down. Every quantile moves by the recent distance from the median
    profile: a share of the last day's throughout (``day_level_weight``), the last hour's in the
    first slots, fading into it; the median (and the mean) by a share of the last day's shape at
    each time of day as well (``day_shape_weight``). Only history before ``start`` is used. With
    less than a day of history the forecast is its mean (the last value alone is too often a
    kettle); with none, 0.
    """
    settings = settings or LoadForecastSettings()
    _require(slots >= 0, "slots", "must not be negative")
    step_s = 60.0 * history.slot_minutes
    start_s = start.timestamp()
    stamps = history.slot_starts_s()
    window = (stamps + step_s <= start_s) & (stamps >= start_s - settings.days * _DAY_S)
    known = window & np.isfinite(history.values)
    stamps, values = stamps[known], history.values[known]
    per_day = _MINUTES_PER_DAY // history.slot_minutes
    if len(values) < per_day:
        level = float(values.mean()) if len(values) else 0.0
        return [np.full(slots, level) for _ in quantiles]

    clock = _local_clock(stamps, tz, history.slot_minutes)
    weights = settings.day_decay ** ((start_s - stamps) / _DAY_S)
    # Profiles of slot of the day x kind (0 weekday, 1 weekend), and of all days.
    kind_groups = clock.slot_of_day + per_day * clock.weekend
    # Days of each kind seen at each slot of the day (one sample a day, two on an autumn DST day).
    seen = np.bincount(kind_groups, minlength=2 * per_day)
    ahead_s = _grid_s(start, history.slot_minutes, slots)
    ahead = _local_clock(ahead_s, tz, history.slot_minutes)
    ahead_groups = ahead.slot_of_day + per_day * ahead.weekend
    # Time from the end of the history to the middle of each forecast slot.
    lead_h = (ahead_s + step_s / 2 - stamps[-1] - step_s) / 3600.0
    # The median besides the quantiles asked for: the recent level is measured against it.
    statistics = [*quantiles, LOAD_QUANTILE]
    by_kind = _profiles(
        kind_groups, values, weights, 2 * per_day, per_day, settings, statistics
    )
    by_day = _profiles(
        clock.slot_of_day, values, weights, per_day, per_day, settings, statistics
    )
    profiles = [
        np.where(
            (seen >= settings.min_days_per_kind) & np.isfinite(kind_profile),
            kind_profile,
            np.tile(day_profile, 2),
        )
        for kind_profile, day_profile in zip(by_kind, by_day, strict=True)
    ]
    profiles = [np.where(np.isfinite(p), p, float(values.mean())) for p in profiles]
    # Level shifts move every quantile alike. Measured against each quantile's own profile, a high
    # quantile would always lie above the recent level and be pulled down by the whole spread of
    # the load (the cautious load fell below the median in the very hour the load ramped up).
    median = profiles[-1]

    def distance(hours: float) -> float:
        # The known slots of the last ``hours`` (the last one at least) against their profile.
        past = stamps >= min(stamps[-1] + step_s - hours * 3600.0, stamps[-1])
        return float(values[past].mean() - median[kind_groups[past]].mean())

    day_distance = distance(24.0)
    day_shift = settings.day_level_weight * day_distance
    # The last hour's distance takes over from the day's in the first slots and fades into it.
    shift = np.full(slots, day_shift)
    if settings.level_hours > 0:
        fade = np.exp(-lead_h / settings.level_hours)
        shift += (distance(settings.level_window_hours) - day_shift) * fade
    # Yesterday's shape moves the central forecast only: the other quantiles span how the days'
    # timing varies already (moved by it too, the cautious load the peak-shaving plans run on cut
    # the commercial benchmark's monthly peaks by 14.2 % instead of 15.6 %).
    shape: FloatArray = np.zeros(slots)
    if settings.day_shape_weight > 0:
        shape = settings.day_shape_weight * _day_shape(
            stamps,
            values - median[kind_groups],
            ahead_s - start_s,
            start_s,
            settings.day_shape_hours,
            day_distance,
        )
    return [
        np.asarray(profile[ahead_groups], dtype=np.float64)
        + shift
        + (shape if quantile in (None, LOAD_QUANTILE) else 0.0)
        for profile, quantile in zip(profiles[:-1], quantiles, strict=True)
    ]


def _day_shape(
    stamps: FloatArray,
    distances: FloatArray,
    after_start_s: FloatArray,
    start_s: float,
    hours: float,
    day_distance: float,
) -> FloatArray:
    """Return the last past day's shape at the time of day of each forecast slot.

    ``distances`` are the known slots' (at ``stamps``) distances from the profile; a forecast slot
    ``after_start_s`` seconds after ``start_s`` looks at the most recent day before ``start_s`` at
    the same time: the mean distance of the known slots within ``hours`` either side, less
    ``day_distance`` (the last day's mean, which the level accounts for). 0 where none is known.
    """
    days_back = np.floor(after_start_s / _DAY_S) + 1
    then = start_s + after_start_s - days_back * _DAY_S
    half = hours * 3600.0
    # Running sums: the window of each forecast slot is a difference of two.
    sums = np.concatenate([[0.0], np.cumsum(distances)])
    first = np.searchsorted(stamps, then - half, side="left")
    last = np.searchsorted(stamps, then + half, side="right")
    count = last - first
    shape = np.zeros(len(after_start_s))
    seen = count > 0
    shape[seen] = (sums[last[seen]] - sums[first[seen]]) / count[seen] - day_distance
    return shape


def _profiles(
    groups: npt.NDArray[np.int64],
    values: FloatArray,
    weights: FloatArray,
    n_groups: int,
    per_day: int,
    settings: LoadForecastSettings,
    quantiles: Sequence[float | None],
) -> list[FloatArray]:
    """Statistics per group of slots, the neighbouring slots of the day counted at a lower weight."""
    parts_g, parts_v, parts_w = [groups], [values], [weights]
    if settings.neighbour_weight > 0:
        day_slot = groups % per_day
        for shift in (-1, 1):
            parts_g.append(groups - day_slot + (day_slot + shift) % per_day)
            parts_v.append(values)
            parts_w.append(weights * settings.neighbour_weight)
    return _group_statistics(
        np.concatenate(parts_g),
        np.concatenate(parts_v),
        np.concatenate(parts_w),
        n_groups,
        quantiles,
    )


# Peak shaving's floor looks back this many days: about a billing month.
PEAK_HELD_DAYS = 28
_HELD_PRECISION_KW = 0.01


def held_peak_kw(
    history: Series,
    *,
    end: datetime,
    tz: ZoneInfo,
    battery: Battery,
    days: int = PEAK_HELD_DAYS,
) -> float | None:
    """Return the lowest grid import limit the battery would have held on each past day.

    For each whole local day of the ``days`` before ``end`` the lowest limit that a battery full at
    midnight (the top of its window) keeps import under, discharging above the limit and recharging
    below it, each within its power; the highest of these. None without a whole known day.

    Peak shaving plans with it as the import it leaves alone: on the commercial benchmark the
    monthly peaks then fell by 16 % against 10 % with a limit from the forecast alone (a forecast
    of the usual day set the limit too low for a busier one, and the battery ran empty before its
    peak).
    """
    per_day = _MINUTES_PER_DAY // history.slot_minutes
    stamps = history.slot_starts_s()
    offsets = utc_offsets_us(np.round(stamps * 1e6).astype(np.int64), tz)
    local_day = np.floor((stamps + offsets / 1e6) / _DAY_S).astype(np.int64)
    # Local days since the epoch, as local_day counts them; the day of ``end`` is not whole yet.
    last_day = (end.astimezone(tz).date() - _EPOCH.date()).days
    rows = []
    for day in range(last_day - days, last_day):
        values = history.values[local_day == day]
        # Whole days only (23 or 25 hours on daylight-saving days).
        if len(values) >= per_day - 4 and np.isfinite(values).all():
            rows.append(np.pad(values, (0, per_day + 4 - len(values))))
    if not rows:
        return None
    limits = lowest_held_limits_kw(np.array(rows), battery, history.slot_minutes / 60)
    return float(limits.max())


def lowest_held_limits_kw(load: FloatArray, battery: Battery, dt: float) -> FloatArray:
    """Return for each row of ``load`` (kW per slot of ``dt`` hours) the lowest import limit held.

    Held: a battery full at the row's start (the top of its window) keeps import under the limit,
    discharging above it and recharging below it, each within its power. The backtest's
    perfect-foresight bound of peak shaving is this over each whole month.
    """
    # Bisection, every row at once: holding is monotone in the limit.
    low: FloatArray = np.zeros(len(load))
    high: FloatArray = np.maximum(load.max(axis=1), 0.0)
    while float((high - low).max()) > _HELD_PRECISION_KW:
        limit = (low + high) / 2
        held = _holds(load, limit, battery, dt)
        high, low = np.where(held, limit, high), np.where(held, low, limit)
    return high


def _holds(
    load: FloatArray, limit: FloatArray, battery: Battery, dt: float
) -> npt.NDArray[np.bool_]:
    """Return for each day (row of ``load``) whether a full battery keeps import under its limit."""
    stored = np.full(len(load), battery.energy_max_kwh)
    held = np.ones(len(load), dtype=np.bool_)
    for slot in load.T:
        excess = slot - limit
        discharge = np.clip(excess, 0, None)
        drawn = discharge * dt / battery.discharge_efficiency
        held &= (discharge <= battery.max_discharge_kw + 1e-9) & (
            drawn <= stored - battery.energy_min_kwh + 1e-9
        )
        charge = np.minimum(np.clip(-excess, 0, None), battery.max_charge_kw)
        stored = np.minimum(
            battery.energy_max_kwh,
            stored - drawn + charge * dt * battery.charge_efficiency,
        )
    return held
