"""Rolling day-ahead forecasts of household load and PV over the shared household year.

Every day at 12:00 local time (when day-ahead prices appear and the next day gets planned) each
forecaster sees the past only and forecasts the whole next local day. The history is put on the
integration's 15-minute grid with ``mean_series`` (each 30-minute mean holds for its 30 minutes, a
missing row stays a gap); forecasts are averaged back to 30 minutes and compared with the measured
30-minute means, in W.

Load: the built-in forecast, Prophet (fitted on the last 28 days; on every ``--prophet-every``-th day
only, as a fit takes seconds, with the other forecasters scored on the same days alongside) and the
seasonal naive forecast (the same local time one week earlier). Slots where the measured load or the
naive forecast is missing are left out for all. PV: the built-in clear-sky model calibrated on the past
30 days (no weather is recorded for the site, so no cloud input: the typical recent clearness stands
in), yesterday's measured PV at the same local time, and the forecast the house really had; PV NaN
counts as 0 (night). The array's tilt and azimuth are unknown: the model assumes 30° facing south and
leaves the rest to the calibration.

The clear-sky model with cloud attenuation is also compared with Open-Meteo's radiation (a 72-hour
sample from another site), hour by hour.

    ./scripts/bench forecast [--prophet-every 7] [--no-prophet]
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
import json
from pathlib import Path
import statistics
import time
from zoneinfo import ZoneInfo

import numpy as np

from custom_components.phoenyra_ems.engine.forecast import (
    Series,
    forecast_load,
    mean_series,
)
from custom_components.phoenyra_ems.engine.prophet_forecast import (
    prophet_available,
    prophet_forecast_load,
)
from custom_components.phoenyra_ems.engine.solar import (
    PvArray,
    calibrate,
    ghi_w_m2,
    pv_forecast_kw,
)

from .data import HOUSEHOLD, SHARED

LOCAL = ZoneInfo("Europe/Paris")
OPEN_METEO = SHARED / "weather_samples" / "eos_weatherforecast_openmeteo_1.json"
# The household's array: place and size known, tilt and azimuth not.
ARRAY = PvArray(latitude_deg=48.83, longitude_deg=6.86, kwp=5.0)
STEP = 15
CALIBRATION_DAYS = 30
HALF_HOUR = timedelta(minutes=30)


def parse(argv: list[str]) -> argparse.Namespace:
    """Read the options."""
    p = argparse.ArgumentParser(prog="./scripts/bench forecast")
    p.add_argument("--data", type=Path, default=HOUSEHOLD)
    p.add_argument(
        "--prophet-every",
        type=int,
        default=7,
        help="fit Prophet on every N-th day only",
    )
    p.add_argument("--no-prophet", action="store_true")
    p.add_argument("--first", default=None, help="first forecast day (YYYY-MM-DD)")
    p.add_argument("--last", default=None, help="last forecast day (YYYY-MM-DD)")
    return p.parse_args(argv)


def read_columns(path: Path) -> tuple[list[datetime], dict[str, np.ndarray]]:
    """Read the household CSV: UTC times and each power column in kW (NaN where empty)."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    times = [datetime.fromisoformat(r["timestamp_utc"]) for r in rows]
    columns = {
        name: np.array([float(r[name]) if r[name] else np.nan for r in rows]) / 1000
        for name in ("load_no_var_loads_w", "pv_power_w", "pv_forecast_w")
    }
    return times, columns


def local_time(day: date, hour: int = 0) -> datetime:
    """Return a local wall-clock hour of a date, in UTC."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL).astimezone(UTC)


def on_30min(values: np.ndarray) -> np.ndarray:
    """Average pairs of 15-minute slots into 30-minute slots."""
    return np.asarray(values.reshape(-1, 2).mean(axis=1))


def errors(forecast: np.ndarray, actual: np.ndarray) -> tuple[float, float, int]:
    """Sum of absolute errors, sum of squared errors and count (for pooling over days), in W."""
    diff = (forecast - actual) * 1000
    return float(np.abs(diff).sum()), float((diff**2).sum()), len(diff)


class Score:
    """Pooled MAE and RMSE of one forecaster."""

    def __init__(self) -> None:
        """Start empty."""
        self.abs, self.sq, self.n = 0.0, 0.0, 0

    def add(self, forecast: np.ndarray, actual: np.ndarray) -> None:
        """Add one day's slots."""
        a, s, n = errors(forecast, actual)
        self.abs, self.sq, self.n = self.abs + a, self.sq + s, self.n + n

    def mae(self) -> float | None:
        """Mean absolute error, W."""
        return round(self.abs / self.n, 1) if self.n else None

    def rmse(self) -> float | None:
        """Root mean square error, W."""
        return round((self.sq / self.n) ** 0.5, 1) if self.n else None


def validate_clear_sky() -> dict[str, object] | None:
    """Compare the modelled global irradiance under Open-Meteo's cloud cover with its radiation."""
    if not OPEN_METEO.exists():
        return None
    sample = json.loads(OPEN_METEO.read_text())
    hourly = sample["hourly"]
    offset = timedelta(seconds=sample["utc_offset_seconds"])
    # Open-Meteo's radiation is the mean over the hour before its time stamp.
    first = datetime.fromisoformat(hourly["time"][0]).replace(tzinfo=UTC) - offset
    hours = len(hourly["time"])
    cloud = np.array(hourly["cloud_cover"], dtype=np.float64)
    measured = np.array(hourly["shortwave_radiation"], dtype=np.float64)
    clear = ghi_w_m2(
        sample["latitude"],
        sample["longitude"],
        start=first - timedelta(hours=1),
        slots=hours,
        slot_minutes=60,
        altitude_m=sample["elevation"],
    )
    cloudy = ghi_w_m2(
        sample["latitude"],
        sample["longitude"],
        start=first - timedelta(hours=1),
        slots=hours,
        slot_minutes=60,
        altitude_m=sample["elevation"],
        cloud_pct=cloud,
    )
    day = (clear > 0) | (measured > 0)
    clear_hours = day & (cloud <= 10)
    diff = cloudy[day] - measured[day]
    return {
        "source": OPEN_METEO.name,
        "daylight_hours": int(day.sum()),
        "ghi_mae_w_m2": round(float(np.abs(diff).mean()), 1),
        "ghi_rmse_w_m2": round(float((diff**2).mean() ** 0.5), 1),
        "ghi_bias_w_m2": round(float(diff.mean()), 1),
        "measured_mean_w_m2": round(float(measured[day].mean()), 1),
        "clear_hours": int(clear_hours.sum()),
        "clear_hours_mae_w_m2": round(
            float(np.abs(clear[clear_hours] - measured[clear_hours]).mean()), 1
        )
        if clear_hours.any()
        else None,
    }


def main(argv: list[str]) -> None:
    """Run the rolling forecasts and print the scores; the last line is JSON."""
    args = parse(argv)
    began = time.perf_counter()
    times, columns = read_columns(args.data)
    start = times[0]
    slots = int((times[-1] + HALF_HOUR - start) / timedelta(minutes=STEP))

    def on_grid(values: np.ndarray) -> Series:
        return mean_series(
            times,
            values,
            start=start,
            slots=slots,
            slot_minutes=STEP,
            max_hold=HALF_HOUR,
        )

    load = on_grid(columns["load_no_var_loads_w"])
    pv = on_grid(np.nan_to_num(columns["pv_power_w"], nan=0.0))
    recorded = on_grid(np.clip(np.nan_to_num(columns["pv_forecast_w"]), 0, None))

    def index(t: datetime) -> int:
        return int((t - start) / timedelta(minutes=STEP))

    first_day = (
        date.fromisoformat(args.first)
        if args.first
        else (start.astimezone(LOCAL) + timedelta(days=8)).date()
    )
    last_day = (
        date.fromisoformat(args.last)
        if args.last
        else (start + timedelta(minutes=STEP * slots)).astimezone(LOCAL).date()
        - timedelta(days=1)
    )
    use_prophet = not args.no_prophet and prophet_available()
    load_scores = {name: Score() for name in ("builtin", "seasonal_naive")}
    prophet_days = {name: Score() for name in ("builtin", "prophet", "seasonal_naive")}
    pv_scores = {
        name: Score()
        for name in ("builtin", "builtin_no_shape", "yesterday", "recorded_forecast")
    }
    fit_s: list[float] = []
    day, n_days = first_day, 0
    while day <= last_day:
        begin, end = local_time(day), local_time(day + timedelta(days=1))
        issued = local_time(day - timedelta(days=1), 12)
        i0, i1, k = index(begin), index(end), index(issued)
        history = replace(load, values=load.values[:k])
        ahead = i1 - k
        actual = on_30min(load.values[i0:i1])
        # The same local time one week earlier (local dates keep DST weeks aligned).
        week_ago = index(local_time(day - timedelta(days=7)))
        naive = on_30min(load.values[week_ago : week_ago + (i1 - i0)])
        builtin = on_30min(
            forecast_load(history, start=issued, slots=ahead, tz=LOCAL)[i0 - k :]
        )
        scored = np.isfinite(actual) & np.isfinite(naive)
        load_scores["builtin"].add(builtin[scored], actual[scored])
        load_scores["seasonal_naive"].add(naive[scored], actual[scored])
        if use_prophet and n_days % args.prophet_every == 0:
            fit_began = time.perf_counter()
            prophet = on_30min(
                prophet_forecast_load(history, start=issued, slots=ahead, tz=LOCAL)[
                    i0 - k :
                ]
            )
            fit_s.append(time.perf_counter() - fit_began)
            prophet_days["prophet"].add(prophet[scored], actual[scored])
            prophet_days["builtin"].add(builtin[scored], actual[scored])
            prophet_days["seasonal_naive"].add(naive[scored], actual[scored])

        # PV: calibrated on the last 30 days before the forecast is issued.
        past = replace(
            pv,
            start=pv.start
            + timedelta(minutes=STEP * max(0, k - CALIBRATION_DAYS * 96)),
            values=pv.values[max(0, k - CALIBRATION_DAYS * 96) : k],
        )
        pv_actual = on_30min(pv.values[i0:i1])
        for name, shape in (("builtin", True), ("builtin_no_shape", False)):
            calibration = calibrate(past, ARRAY, learn_shape=shape)
            forecast = pv_forecast_kw(
                ARRAY, start=begin, slots=i1 - i0, calibration=calibration
            )
            pv_scores[name].add(on_30min(forecast), pv_actual)
        yesterday = index(local_time(day - timedelta(days=1)))
        yesterday_pv = pv.values[yesterday : yesterday + (i1 - i0)]
        if len(yesterday_pv) == i1 - i0:
            pv_scores["yesterday"].add(on_30min(yesterday_pv), pv_actual)
        pv_scores["recorded_forecast"].add(on_30min(recorded.values[i0:i1]), pv_actual)
        day += timedelta(days=1)
        n_days += 1

    builtin_mae = load_scores["builtin"].mae()
    naive_mae = load_scores["seasonal_naive"].mae()
    if args.no_prophet:
        prophet_note = "not run (--no-prophet)"
    elif not prophet_available():
        prophet_note = "prophet is not installed"
    else:
        prophet_note = f"fitted on every {args.prophet_every}th day ({len(fit_s)} days)"
    result: dict[str, object] = {
        "period": [str(first_day), str(last_day)],
        "days": n_days,
        "issued": "12:00 local, for the next local day",
        "load_mae_w": {
            "builtin": builtin_mae,
            "prophet": prophet_days["prophet"].mae() if fit_s else None,
            "seasonal_naive": naive_mae,
        },
        "load_rmse_w": {
            "builtin": load_scores["builtin"].rmse(),
            "prophet": prophet_days["prophet"].rmse() if fit_s else None,
            "seasonal_naive": load_scores["seasonal_naive"].rmse(),
        },
        "load_mae_ratio_builtin_to_naive": round(builtin_mae / naive_mae, 4)
        if builtin_mae and naive_mae
        else None,
        "prophet": prophet_note,
        "load_mae_w_on_prophet_days": {
            name: score.mae() for name, score in prophet_days.items()
        }
        if fit_s
        else None,
        "prophet_fit_s": round(statistics.median(fit_s), 2) if fit_s else None,
        "pv_mae_w": {
            name: pv_scores[name].mae()
            for name in ("builtin", "yesterday", "recorded_forecast")
        },
        "pv_rmse_w": {
            name: pv_scores[name].rmse()
            for name in ("builtin", "yesterday", "recorded_forecast")
        },
        "pv_mae_w_builtin_without_hourly_shape": pv_scores["builtin_no_shape"].mae(),
        "clear_sky_vs_open_meteo": validate_clear_sky(),
        "runtime_s": round(time.perf_counter() - began, 1),
    }
    for key, value in result.items():
        print(f"{key:38s} {value}")
    print(json.dumps(result))
