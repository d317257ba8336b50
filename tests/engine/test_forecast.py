"""Built-in forecasts from the past only."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from custom_components.phoenyra_ems.engine.forecast import (
    DEPARTURE_GROW_HOURS,
    LoadForecastSettings,
    Series,
    daily_profile,
    forecast_load,
    forecast_loads,
    held_peak_kw,
    lowest_held_limits_kw,
    mean_series,
    net_load_outcomes,
    recent_departures,
    utc_offsets_us,
)
from custom_components.phoenyra_ems.engine.model import Battery, InvalidInputError


def test_profile_is_the_mean_of_recent_days_at_the_same_time() -> None:
    day = np.array([1.0, 2.0, 3.0, 4.0])
    history = np.concatenate([day, day + 2, day + 4])
    forecast = daily_profile(history, 4, 6, days=2, level_slots=0, day_decay=1.0)
    # The last two days, averaged: day + 3; the forecast starts at the day's first slot again.
    assert forecast == pytest.approx([4.0, 5.0, 6.0, 7.0, 4.0, 5.0])
    # Recent days weigh more: with decay 0.5 the last day counts twice the one before.
    weighted = daily_profile(history, 4, 4, days=2, level_slots=0, day_decay=0.5)
    assert weighted == pytest.approx(day + (2 * 4 + 1 * 2) / 3)


def test_recent_level_fades_into_the_profile() -> None:
    day = np.array([1.0, 1.0, 1.0, 1.0])
    history = np.concatenate(
        [day, day[:3], [3.0]]
    )  # the last slot ran 2 kW above usual
    with_level = daily_profile(history, 4, 8, days=2, level_slots=2, day_decay=1.0)
    without = daily_profile(history, 4, 8, days=2, level_slots=0, day_decay=1.0)
    # The last slot sits 3 - mean(1, 3) = 1 kW above its profile value; that fades with e^(-k/2).
    assert with_level - without == pytest.approx(np.exp(-np.arange(1, 9) / 2))


def test_unknown_values_are_left_out_of_the_profile() -> None:
    day = np.array([1.0, 2.0, 3.0, 4.0])
    unknown = np.full(4, np.nan)
    # Seven days asked for, three known (a recorder with three days), one slot missing once more.
    history = np.concatenate([unknown] * 4 + [day, day + 2, day + 4])
    history[-3] = np.nan
    forecast = daily_profile(history, 4, 4, days=7, level_slots=3, day_decay=1.0)
    profile = [3.0, (2 + 4) / 2, 5.0, 6.0]
    # The last value, 8, lies 2 above its profile value; that fades in.
    assert forecast == pytest.approx(profile + 2 * np.exp(-np.arange(1, 5) / 3))
    # The last value unknown: no level to carry; a time of day known on no day forecasts nothing.
    history[-1] = np.nan
    history[-5] = history[-9] = np.nan
    assert daily_profile(history, 4, 4, days=7, day_decay=1.0)[3] == 0.0


def test_the_day_in_progress_carries_its_sky_into_its_remaining_daylight() -> None:
    day = np.array([0.0, 0.0, 1.0, 2.0, 2.0, 1.0, 0.0, 0.0])
    # Three days, then a morning at half its usual PV, until just before the 2 kW slot.
    history = np.concatenate([day, day, day, day[:4] / 2])

    def forecast(sky_weight: float, values: np.ndarray = history) -> np.ndarray:
        return daily_profile(
            values, 8, 12, days=3, level_slots=0, day_decay=1.0, sky_weight=sky_weight
        )

    plain = forecast(0.0)
    # The profile so far (means of the three windows): 5/6 and 5/3 kW; measured 0.5 and 1 kW, so
    # 0.6 of it; with weight 0.8 the rest of the day's light at 1 + 0.8 × (0.6 - 1) = 0.68.
    assert plain[:2] == pytest.approx([2.0, 1.0])
    assert forecast(0.8)[:2] == pytest.approx([1.36, 0.68])
    # Night and the next day's light as without it.
    assert forecast(0.8)[2:] == pytest.approx(plain[2:])
    # A slot of the morning unknown: left out of both sides (1 kW measured against 5/3).
    gappy = history.copy()
    gappy[-2] = np.nan
    assert forecast(0.8, gappy)[:2] == pytest.approx(0.68 * forecast(0.0, gappy)[:2])
    # Starting at night: nothing to carry.
    night = np.concatenate([day, day, day, day[:7] / 2])
    assert daily_profile(
        night, 8, 9, days=3, level_slots=0, day_decay=1.0, sky_weight=0.8
    ) == pytest.approx(daily_profile(night, 8, 9, days=3, level_slots=0, day_decay=1.0))


def test_cold_start_carries_the_last_value() -> None:
    assert daily_profile(np.array([0.7, 0.9]), 96, 3, days=7) == pytest.approx(
        [0.9, 0.9, 0.9]
    )
    assert daily_profile(np.array([]), 96, 2, days=7) == pytest.approx([0.0, 0.0])


# --- mean_series and forecast_load -----------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "forecast"
T0 = datetime(2024, 4, 1, tzinfo=UTC)  # a Monday


def household() -> tuple[Series, Series]:
    """The fixture's load and PV (kW) on a 15-minute grid, as the integration keeps them."""
    with (FIXTURES / "household_30min_2024-03-25_2024-05-05.csv").open() as f:
        rows = list(csv.DictReader(f))
    times = [datetime.fromisoformat(r["timestamp_utc"]) for r in rows]
    slots = 2 * len(rows)

    def grid(column: str, fill: float) -> Series:
        values = np.array([float(r[column]) if r[column] else fill for r in rows])
        return mean_series(
            times,
            values / 1000,
            start=times[0],
            slots=slots,
            max_hold=timedelta(minutes=30),
        )

    return grid("load_w", np.nan), grid("pv_w", 0.0)


def test_state_changes_become_time_weighted_slot_means() -> None:
    times = [T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=40)]
    series = mean_series(times, np.array([1.0, 3.0, 2.0]), start=T0, slots=4)
    # 5 min at 1 and 10 at 3; then 3 held until 00:40 and 2 held to the end of the grid.
    assert series.values == pytest.approx(
        [(5 + 30) / 15, 3.0, (10 * 3 + 5 * 2) / 15, 2.0]
    )
    assert series.end == T0 + timedelta(hours=1)


def test_unknown_time_is_left_out_of_slot_means() -> None:
    times = [T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=15)]
    # Unavailable from 00:10: the first slot is the mean of its known two thirds.
    series = mean_series(times, np.array([1.0, np.nan, 2.0]), start=T0, slots=2)
    assert series.values == pytest.approx([1.0, 2.0])
    # Known for only 5 of 15 minutes: unknown.
    series = mean_series(
        [T0 + timedelta(minutes=10)], np.array([1.0]), start=T0, slots=1
    )
    assert np.isnan(series.values[0])


def test_slot_means_with_a_missing_row_keep_the_gap() -> None:
    times = [T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=90)]
    half_hour = timedelta(minutes=30)
    series = mean_series(
        times, np.array([1.0, 2.0, 4.0]), start=T0, slots=8, max_hold=half_hour
    )
    assert series.values[:4] == pytest.approx([1.0, 1.0, 2.0, 2.0])
    assert np.isnan(series.values[4:6]).all()  # the 01:00 row is missing
    assert series.values[6:] == pytest.approx([4.0, 4.0])


def test_series_rejects_a_naive_start() -> None:
    with pytest.raises(InvalidInputError, match="start"):
        Series(start=datetime(2024, 4, 1), slot_minutes=15, values=np.zeros(2))


def synthetic(days: int, weekend_extra: float = 0.0) -> Series:
    """A household at 0.3 kW with 2 kW from 07:00 to 08:00 local, ``weekend_extra`` more on weekends."""
    start = datetime(2024, 4, 1, tzinfo=PARIS).astimezone(UTC)
    values = np.full(days * 96, 0.3)
    for day in range(days):
        values[day * 96 + 28 : day * 96 + 32] = 2.0
        if day % 7 >= 5:
            values[day * 96 : (day + 1) * 96] += weekend_extra
    return Series(start=start, slot_minutes=15, values=values)


def test_weekend_profile_differs_from_the_weekday_one() -> None:
    history = synthetic(21, weekend_extra=1.0)  # Monday 1 to Sunday 21 April
    saturday = datetime(2024, 4, 27, tzinfo=PARIS)
    forecast = forecast_load(
        history, start=history.end, slots=7 * 96, tz=PARIS
    ).reshape(7, 96)
    # Monday 22 to Friday 26 at the weekday level, Saturday and Sunday 1 kW higher.
    assert forecast[:5, 0] == pytest.approx(0.3, abs=0.02)
    assert forecast[5:, 0] == pytest.approx(1.3, abs=0.02)
    assert forecast[5:, 30] == pytest.approx(3.0, abs=0.02)
    assert saturday.weekday() == 5


def test_profile_follows_local_time_across_the_dst_change() -> None:
    # 31 March 2024 is the spring DST change in Paris: the 07:00 peak stays at 07:00 local.
    start = datetime(2024, 3, 17, tzinfo=PARIS).astimezone(UTC)
    stamps = [start + timedelta(minutes=15 * k) for k in range(21 * 96)]
    values = np.array([2.0 if t.astimezone(PARIS).hour == 7 else 0.3 for t in stamps])
    history = Series(start=start, slot_minutes=15, values=values)
    first = datetime(2024, 4, 8, tzinfo=PARIS).astimezone(UTC)
    forecast = forecast_load(history, start=first, slots=96, tz=PARIS)
    assert forecast[28:32] == pytest.approx(2.0, abs=0.01)
    assert forecast[24:28] == pytest.approx(0.3, abs=0.01)


def test_missing_days_do_not_pull_the_profile_down() -> None:
    history = synthetic(21)
    gappy = history.values.copy()
    gappy[7 * 96 : 9 * 96] = np.nan  # two days lost
    gappy[15 * 96 + 28 : 15 * 96 + 32] = np.nan  # one morning peak lost
    forecast = forecast_load(history, start=history.end, slots=96, tz=PARIS)
    with_gaps = forecast_load(
        Series(start=history.start, slot_minutes=15, values=gappy),
        start=history.end,
        slots=96,
        tz=PARIS,
    )
    assert np.isfinite(with_gaps).all()
    assert with_gaps == pytest.approx(forecast)


def test_a_high_quantile_is_a_load_the_slot_rarely_exceeds() -> None:
    # 20 weekdays whose 07:00 load is 1, 2, ..., 20 kW in a shuffled order, equally weighted.
    history = synthetic(28)
    values = history.values.copy()
    weekdays = [day for day in range(28) if day % 7 < 5]
    for load_kw, day in zip(
        np.random.default_rng(3).permutation(20) + 1.0, weekdays, strict=True
    ):
        values[day * 96 + 28] = load_kw
    history = Series(start=history.start, slot_minutes=15, values=values)

    def at_seven(quantile: float | None) -> float:
        settings = LoadForecastSettings(
            days=28,
            day_decay=1.0,
            neighbour_weight=0.0,
            level_hours=0,
            day_level_weight=0.0,
        )
        # Monday 29 April, a day after the history; the forecast's slot 28 is 07:00.
        forecast = forecast_load(
            history,
            start=history.end,
            slots=96,
            tz=PARIS,
            settings=settings,
            quantile=quantile,
        )
        return float(forecast[28])

    assert at_seven(0.9) == 18.0  # 18 of the 20 days stayed at or below it
    assert at_seven(0.5) == 10.0
    assert at_seven(None) == pytest.approx(10.5)
    assert at_seven(1.0) == 20.0
    assert at_seven(0.0) == 1.0
    # Several quantiles at once are the same forecasts.
    median, high = forecast_loads(
        history, start=history.end, slots=96, tz=PARIS, quantiles=(0.5, 0.9)
    )
    assert np.array_equal(
        median, forecast_load(history, start=history.end, slots=96, tz=PARIS)
    )
    assert np.array_equal(
        high,
        forecast_load(history, start=history.end, slots=96, tz=PARIS, quantile=0.9),
    )
    assert high[28] > median[28]


def test_cold_start() -> None:
    start = datetime(2024, 4, 1, tzinfo=UTC)
    # Less than a day: the mean of what is known.
    short = Series(start=start, slot_minutes=15, values=np.array([0.2, np.nan, 0.4]))
    assert forecast_load(short, start=short.end, slots=3, tz=PARIS) == pytest.approx(
        [0.3] * 3
    )
    empty = Series(start=start, slot_minutes=15, values=np.array([]))
    assert forecast_load(empty, start=start, slots=2, tz=PARIS) == pytest.approx(
        [0.0, 0.0]
    )
    # Three weekdays forecasting a Saturday: no weekend seen yet, so the all-days profile.
    weekdays = synthetic(3, weekend_extra=5.0)
    saturday = datetime(2024, 4, 6, tzinfo=PARIS).astimezone(UTC)
    forecast = forecast_load(weekdays, start=saturday, slots=96, tz=PARIS)
    assert forecast[0] == pytest.approx(0.3, abs=0.01)
    assert forecast[30] == pytest.approx(2.0, abs=0.01)


def test_recent_level_fades() -> None:
    history = synthetic(14)
    values = history.values.copy()
    values[-4:] += 1.0  # the last hour ran 1 kW above usual
    raised = Series(start=history.start, slot_minutes=15, values=values)
    # The level alone (the day's shape: test_yesterdays_shape_recurs).
    settings = LoadForecastSettings(day_shape_weight=0.0)
    base = forecast_load(
        history, start=history.end, slots=96, tz=PARIS, settings=settings
    )
    forecast = forecast_load(
        raised, start=history.end, slots=96, tz=PARIS, settings=settings
    )
    lift = forecast - base
    assert 0.7 < lift[0] < 1.0
    assert np.all(np.diff(lift[:12]) < 0)
    # Ten hours on, what stays is the day's share: the hour is 1/24 of the last day, half of that.
    assert lift[40:] == pytest.approx(0.5 / 24, abs=1e-4)


def test_a_busier_day_raises_the_whole_forecast_by_half() -> None:
    history = synthetic(15)  # to Monday 15 April
    values = history.values.copy()
    values[-96:] += 1.0  # the last day ran 1 kW above usual, the last hour too
    values[-4:] -= 1.0  # but the last hour was a usual one
    busier = Series(start=history.start, slot_minutes=15, values=values)
    # The level alone (the day's shape: test_yesterdays_shape_recurs).
    level = LoadForecastSettings(day_shape_weight=0.0)
    base = forecast_load(
        history, start=history.end, slots=2 * 96, tz=PARIS, settings=level
    )
    forecast = forecast_load(
        busier, start=history.end, slots=2 * 96, tz=PARIS, settings=level
    )
    lift = forecast - base
    # The usual last hour holds the first slots near the profile; then half the day's distance
    # (23 hours 1 kW above, one hour not) lasts, tomorrow too.
    assert lift[0] < 0.3
    assert lift[40:] == pytest.approx(0.5 * 23 / 24, abs=1e-4)
    # Without the day's share the forecast returns to the (median) profile, which one busier day
    # does not move.
    settings = LoadForecastSettings(day_level_weight=0.0, day_shape_weight=0.0)
    plain = forecast_load(
        busier, start=history.end, slots=2 * 96, tz=PARIS, settings=settings
    )
    assert plain[40:] == pytest.approx(base[40:], abs=1e-4)


def test_yesterdays_shape_recurs() -> None:
    history = synthetic(15)  # to Monday 15 April, midnight
    values = history.values.copy()
    values[-96 + 80 : -96 + 84] += (
        1.0  # dinner yesterday: 1 kW more from 20:00 to 21:00
    )
    late = Series(start=history.start, slot_minutes=15, values=values)
    base = forecast_load(history, start=history.end, slots=2 * 96, tz=PARIS)
    forecast = forecast_load(late, start=history.end, slots=2 * 96, tz=PARIS)
    lift = forecast - base
    # Half the day's level (one hour in 24) lasts; half of yesterday's distance around each time
    # of day (an hour either side: 4 of the 9 slots at 20:30) less that level comes back, today
    # and (from the same day, the last one known) tomorrow.
    level = 0.5 / 24
    for dinner in (82, 96 + 82):
        assert lift[dinner] == pytest.approx(level + 0.5 * (4 / 9 - 1 / 24), abs=1e-4)
    # Away from dinner time the shape takes the level back out: the day ran as usual there.
    assert lift[40:60] == pytest.approx(0.0, abs=1e-4)
    assert lift[96 + 40 : 96 + 60] == pytest.approx(0.0, abs=1e-4)
    # A load the slot rarely exceeds spans the days' timing already: the shape does not move it.
    settings = LoadForecastSettings(day_shape_weight=0.0)
    high = [
        forecast_loads(
            late,
            start=history.end,
            slots=2 * 96,
            tz=PARIS,
            quantiles=(0.5, 0.9),
            settings=each,
        )[1]
        for each in (None, settings)
    ]
    assert np.array_equal(high[0], high[1])
    # Without it, the level alone.
    plain = forecast_load(
        late, start=history.end, slots=2 * 96, tz=PARIS, settings=settings
    ) - forecast_load(
        history, start=history.end, slots=2 * 96, tz=PARIS, settings=settings
    )
    assert plain[82] == pytest.approx(level, abs=1e-4)


def test_the_recent_level_moves_every_quantile_alike() -> None:
    # On every third day the 2 kW load starts an hour early, at 06:00; today it did not.
    history = synthetic(21)
    values = history.values.copy()
    for day in range(0, 21, 3):
        values[day * 96 + 24 : day * 96 + 28] = 2.0
    values = np.r_[values, np.full(28, 0.3)]  # Monday 22 April until 07:00
    today = Series(start=history.start, slot_minutes=15, values=values)
    median, high = forecast_loads(
        today, start=today.end, slots=96, tz=PARIS, quantiles=(0.5, 0.9)
    )
    # The usual 06:00 was 0.3 kW like today's: no level shift, for the median nor the high load.
    # Measured against the high load's own profile (2 kW at 06:00), today's morning would have
    # pulled the high load far below the median just as the 2 kW arrive.
    assert median[:4] == pytest.approx(2.0, abs=0.01)
    assert high[:4] == pytest.approx(2.0, abs=0.01)
    assert np.all(high >= median)


def test_only_the_past_is_used() -> None:
    history = synthetic(21)
    middle = history.start + timedelta(days=14)
    truncated = Series(
        start=history.start, slot_minutes=15, values=history.values[: 14 * 96]
    )
    assert forecast_load(history, start=middle, slots=96, tz=PARIS) == pytest.approx(
        forecast_load(truncated, start=middle, slots=96, tz=PARIS)
    )


def test_household_day_ahead_beats_the_seasonal_naive_forecast() -> None:
    load, _ = household()
    errors, naive_errors = [], []
    for day in range(21, 41):  # 15 April to 4 May, issued at 12:00 the day before
        midnight = datetime(2024, 3, 25, tzinfo=PARIS) + timedelta(days=day)
        first = int((midnight.astimezone(UTC) - load.start) / timedelta(minutes=15))
        issued = first - 48
        history = Series(start=load.start, slot_minutes=15, values=load.values[:issued])
        forecast = forecast_load(
            history,
            start=load.start + timedelta(minutes=15 * issued),
            slots=144,
            tz=PARIS,
        )[48:]
        actual = load.values[first : first + 96]
        naive = load.values[first - 7 * 96 : first - 6 * 96]
        known = np.isfinite(actual) & np.isfinite(naive)
        errors.append(np.abs(forecast - actual)[known])
        naive_errors.append(np.abs(naive - actual)[known])
    ratio = np.concatenate(errors).mean() / np.concatenate(naive_errors).mean()
    assert ratio < 0.9


@pytest.mark.parametrize(
    "zone", ["Europe/Paris", "America/St_Johns", "Australia/Lord_Howe", "UTC"]
)
def test_utc_offsets_are_those_of_the_time_zone(zone: str) -> None:
    tz = ZoneInfo(zone)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    # A year of quarter-hours, and a grid that is not on whole minutes.
    stamps = [start + k * timedelta(minutes=15) for k in range(366 * 96)]
    stamps += [
        start + timedelta(seconds=7.5) + k * timedelta(minutes=10) for k in range(8000)
    ]
    stamps_us = np.array(
        [
            (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
            for t in stamps
        ],
        dtype=np.int64,
    )
    expected = [
        (t.astimezone(tz).utcoffset() or timedelta(0)) // timedelta(microseconds=1)
        for t in stamps
    ]
    assert utc_offsets_us(stamps_us, tz).tolist() == expected


def grown(horizon: int, slots_per_day: int) -> np.ndarray:
    """How far a departure has grown in at each forecast slot (DEPARTURE_GROW_HOURS)."""
    lead_h = np.arange(1, horizon + 1) * 24 / slots_per_day
    return 1 - np.exp(-lead_h / DEPARTURE_GROW_HOURS)


def test_departures_are_the_recent_days_distances_from_their_mean() -> None:
    sunny = np.array([0.0, 2.0, 4.0, 2.0])
    cloudy = sunny / 4
    # A week of sunny and cloudy days; the last slot is the day's last: the forecast starts a day.
    week = [sunny, cloudy, sunny, cloudy, cloudy, sunny, cloudy]
    history = np.concatenate(week)
    departures = recent_departures(history, 4, 8, days=7)
    mean = np.mean(week, axis=0)
    # One per day, the most recent first, at the same times of day, grown in over the first hours.
    assert len(departures) == 7
    for departure, day in zip(departures, week[::-1], strict=True):
        assert departure == pytest.approx(np.tile(day - mean, 2) * grown(8, 4))
    # Fewer days asked for: the last ones, about their own mean.
    assert recent_departures(history, 4, 4, days=2)[0] == pytest.approx(
        (cloudy - (sunny + cloudy) / 2) * grown(4, 4)
    )


def test_the_rest_of_today_departs_less_than_tomorrow() -> None:
    sunny = np.array([0.0, 0.0, 1.0, 2.0, 4.0, 2.0, 1.0, 0.0])
    cloudy = sunny / 4
    week = [sunny, cloudy, sunny, cloudy, cloudy, sunny, cloudy]
    # The forecast starts at noon (slot 4 of 8): three slots of today's light remain.
    history = np.concatenate([*week[1:], sunny[:4]])
    full = recent_departures(history, 8, 16, days=7)
    pv = recent_departures(history, 8, 16, days=7, rest_of_today=0.5)
    for whole, today_halved in zip(full, pv, strict=True):
        assert today_halved[:3] == pytest.approx(0.5 * whole[:3])
        assert today_halved[3:] == pytest.approx(whole[3:])
    # The sunny days lie above the mean in today's light and tomorrow's; the night stays dark.
    assert min(full[1][8:11]) > 0.2
    assert full[1][3:6] == pytest.approx(0.0)


def test_no_departures_without_two_known_days() -> None:
    day = np.array([0.0, 2.0, 4.0, 2.0])
    assert recent_departures(day, 4, 8) == ()
    assert recent_departures(np.zeros(0), 4, 8) == ()
    # An unknown value departs by nothing, a day unknown throughout too (keeping its place, so
    # that the load's and the PV's departures of one day go together); the mean is the known days'.
    gaps = np.concatenate([np.full(4, np.nan), day, day * 2])
    gaps[6] = np.nan
    departures = recent_departures(gaps, 4, 4, days=3)
    assert len(departures) == 3
    assert departures[0][2] == 0
    assert departures[0][1] == pytest.approx((4.0 - 3.0) * grown(4, 4)[1])
    assert departures[2] == pytest.approx(np.zeros(4))
    assert recent_departures(np.concatenate([np.full(8, np.nan), day]), 4, 4) == ()


def test_outcomes_pair_each_days_load_and_pv() -> None:
    load, pv = np.array([1.0, 1.0, 1.0]), np.array([0.0, 2.0, 0.5])
    busy = np.array([0.5, 0.5, 0.5])
    dull = np.array([0.0, -1.5, -1.0])
    outcomes = net_load_outcomes(load, pv, (busy, -busy), (dull, -dull))
    # Day by day: the busier day's load with its duller PV; load and PV never below 0.
    assert outcomes[0] == pytest.approx([1.5, 1.0, 1.5])
    assert outcomes[1] == pytest.approx([0.5, -3.0, -1.0])
    # Where the PV knows fewer days, the last days depart in the load alone.
    assert net_load_outcomes(load, pv, (busy, busy), (dull,))[1] == pytest.approx(
        load + busy - pv
    )
    # Nothing to weigh where no day departs.
    assert net_load_outcomes(load, pv, (), ()) == ()
    assert net_load_outcomes(load, pv, (np.zeros(3),) * 2, ()) == ()


PLANT_BATTERY = Battery(
    capacity_kwh=100,
    max_charge_kw=50,
    max_discharge_kw=50,
    charge_efficiency=0.95,
    discharge_efficiency=0.95,
    soc_min_pct=10,
    soc_max_pct=90,
)


def plant(days: int, peak_kw: float = 80.0) -> Series:
    """A plant at 20 kW with ``peak_kw`` from 10:00 to 12:00 local."""
    start = datetime(2024, 4, 1, tzinfo=PARIS).astimezone(UTC)
    values = np.full(days * 96, 20.0)
    for day in range(days):
        values[day * 96 + 40 : day * 96 + 48] = peak_kw
    return Series(start=start, slot_minutes=15, values=values)


def test_the_held_peak_is_what_a_full_battery_holds_on_the_busiest_day() -> None:
    history = plant(30)
    # 72 kWh can leave the 80 kWh window at 95 %: 38 kW off two hours, so 80 - 38 = 42 kW.
    held = held_peak_kw(history, end=history.end, tz=PARIS, battery=PLANT_BATTERY)
    assert held == pytest.approx(42.0, abs=0.02)
    # A busier day in the last four weeks raises it; one before them, or the day not over yet, not.
    values = history.values.copy()
    values[20 * 96 + 40 : 20 * 96 + 48] = 100.0
    busier = Series(start=history.start, slot_minutes=15, values=values)
    assert held_peak_kw(
        busier, end=busier.end, tz=PARIS, battery=PLANT_BATTERY
    ) == pytest.approx(62.0, abs=0.02)
    before = busier.start + timedelta(days=50)  # day 20 is more than 28 days back then
    longer = Series(
        start=busier.start,
        slot_minutes=15,
        values=np.r_[values, plant(20).values],
    )
    assert held_peak_kw(
        longer, end=before, tz=PARIS, battery=PLANT_BATTERY
    ) == pytest.approx(42.0, abs=0.02)
    midday = history.start + timedelta(days=29, hours=12)
    assert held_peak_kw(
        busier, end=midday, tz=PARIS, battery=PLANT_BATTERY
    ) == pytest.approx(62.0, abs=0.02)


def test_the_lowest_held_limit_counts_the_recharge_between_peaks() -> None:
    one_peak = plant(1).values
    two_peaks = one_peak.copy()
    two_peaks[56:64] = 80.0  # 14:00 to 16:00 as well, two hours after the first
    limits = lowest_held_limits_kw(
        np.array([one_peak, two_peaks]), PLANT_BATTERY, dt=0.25
    )
    # One peak: 42 kW as above. Two: the first peak's 2 (80 - L) / 0.95 kWh out, two hours of
    # recharge at (L - 20) kW in at 95 %, and the second peak's out again must fit the 80 kWh
    # window: 80 - 4 (80 - L) / 0.95 + 1.9 (L - 20) = 0.
    assert limits == pytest.approx([42.0, 294.842 / (4 / 0.95 + 1.9)], abs=0.02)
    # Each row is its own: the same limits one by one.
    alone = [
        lowest_held_limits_kw(row[None, :], PLANT_BATTERY, dt=0.25)[0]
        for row in (one_peak, two_peaks)
    ]
    assert alone == pytest.approx(list(limits), abs=1e-9)


def test_days_with_gaps_do_not_count_for_the_held_peak() -> None:
    history = plant(3)
    values = history.values.copy()
    values[96 + 44] = (
        np.nan
    )  # a reading lost in the second day's peak, which was busier
    values[96 + 40 : 96 + 44] = 150.0
    gappy = Series(start=history.start, slot_minutes=15, values=values)
    assert held_peak_kw(
        gappy, end=gappy.end, tz=PARIS, battery=PLANT_BATTERY
    ) == pytest.approx(42.0, abs=0.02)
    # Without a whole day: nothing to go by.
    day_and_a_half = Series(
        start=history.start, slot_minutes=15, values=np.full(96 + 48, 20.0)
    )
    start = history.start + timedelta(hours=12)
    assert (
        held_peak_kw(
            Series(start=start, slot_minutes=15, values=np.full(96, 20.0)),
            end=start + timedelta(days=1),
            tz=PARIS,
            battery=PLANT_BATTERY,
        )
        is None
    )
    # A day and a half: the whole day counts (a flat 20 kW, of which the battery's 80 kWh take
    # 80 * 0.95 / 24 kW all day long).
    assert held_peak_kw(
        day_and_a_half, end=day_and_a_half.end, tz=PARIS, battery=PLANT_BATTERY
    ) == pytest.approx(20.0 - 80 * 0.95 / 24, abs=0.02)
