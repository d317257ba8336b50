"""Real data for the benchmarks: ../shared/data when present, else the integration's bundled demo data."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from custom_components.phoenyra_ems.engine.simulator import SiteSeries

if TYPE_CHECKING:
    from custom_components.phoenyra_ems.engine.model import FloatArray

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PRICES_2024 = SHARED / "prices" / "at_dayahead_hourly_2024.csv"
HOUSEHOLD = (
    SHARED / "household_pv" / "household_load_pv_30min_2024-02-28_2025-02-27.csv"
)
WEEK = timedelta(weeks=1)
# Recording gaps longer than this are filled from the week before (see fill_gaps).
LONG_GAP = timedelta(hours=2)
# The whole number of weeks closest to a year.
YEAR = timedelta(weeks=52)


@dataclass(frozen=True, slots=True)
class SiteData:
    """Prices (EUR/kWh), load and PV (kW) on one regular UTC grid of ``step_min`` minutes."""

    start: datetime
    step_min: int
    spot_eur_kwh: FloatArray
    load_kw: FloatArray
    pv_kw: FloatArray
    source: str

    def window(
        self, first: int, slots: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Return ``slots`` slots of prices, load and PV from slot ``first``."""
        end = first + slots
        return (
            self.spot_eur_kwh[first:end],
            self.load_kw[first:end],
            self.pv_kw[first:end],
        )


def read_rows(path: Path, *columns: str) -> list[dict[str, str]]:
    """Read a CSV's rows; a missing column is an error that names the file and its columns."""
    with path.open() as f:
        reader = csv.DictReader(f)
        missing = [name for name in columns if name not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path}: no column {', '.join(missing)} "
                f"(it has {', '.join(reader.fieldnames or []) or 'none'})"
            )
        return list(reader)


def read_prices(path: Path) -> dict[datetime, float]:
    """Read a price CSV (columns start_utc, price_eur_mwh) into EUR/kWh by start time."""
    return {
        datetime.fromisoformat(row["start_utc"]): float(row["price_eur_mwh"]) / 1000
        for row in read_rows(path, "start_utc", "price_eur_mwh")
    }


def read_power(path: Path, column: str, scale: float = 1.0) -> dict[datetime, float]:
    """Read a power CSV (column timestamp_utc, values in W) into kW by time; missing values are left out."""
    out: dict[datetime, float] = {}
    for row in read_rows(path, "timestamp_utc", column):
        text = row[column]
        if text not in ("", "nan", "NaN"):
            out[datetime.fromisoformat(row["timestamp_utc"])] = (
                float(text) * scale / 1000
            )
    return out


def on_grid(
    series: dict[datetime, float],
    start: datetime,
    slots: int,
    step_min: int,
    fill: float = math.nan,
) -> FloatArray:
    """Sample a series onto a regular grid, each slot taking the latest value at or before it.

    Times outside the series' period are mapped onto it by whole weeks (same weekday and time of day),
    as the load of another year stands in for the price year: by 52 weeks at a time where the series
    covers that much (so the season fits too: January 2024 is read from January 2025, 2024 from
    2018), else by the series' length in whole weeks. Slots the series does not cover (its latest
    value older than one and a half of its own steps) take ``fill``: NaN (see fill_gaps) or e.g. 0 for PV at night.
    """
    times = sorted(series)
    stamps = np.array([t.timestamp() for t in times])
    values = np.array([series[t] for t in times])
    first, last = times[0], times[-1]
    period = YEAR if last - first >= YEAR else WEEK * max(1, (last - first) // WEEK)
    native_s = float(np.median(np.diff(stamps)))
    out = np.empty(slots)
    for i in range(slots):
        t = start + timedelta(minutes=i * step_min)
        if t < first:
            t += period * -((t - first) // period)
        elif t > last:
            t -= period * -(-(t - last) // period)
        j = int(np.searchsorted(stamps, t.timestamp(), side="right")) - 1
        stale = j < 0 or t.timestamp() - stamps[j] >= native_s * 1.5
        out[i] = fill if stale else values[j]
    return out


def fill_gaps(values: FloatArray, step_min: int) -> FloatArray:
    """Fill the NaN slots of a recording: short gaps hold the last value, long ones repeat the week.

    The shared household's recorder was down for up to 40 hours at a time (about 2 % of the year).
    Holding the last value through such a gap made the house draw a constant power, or none at
    all where the recorder's last word was 0, for a day and a half: a site no forecast can know
    and the perfect-foresight plan exploits. The same time a week earlier (later, at the very
    start) stands in for gaps longer than LONG_GAP.
    """
    out = np.array(values, dtype=np.float64)
    week = round(WEEK / timedelta(minutes=step_min))
    long_slots = LONG_GAP / timedelta(minutes=step_min)
    missing = np.isnan(out)
    i = 0
    while i < len(out):
        if not missing[i]:
            i += 1
            continue
        end = i
        while end < len(out) and missing[end]:
            end += 1
        for k in range(i, end):
            if end - i <= long_slots and k > 0:
                out[k] = out[k - 1]
            elif k >= week:
                out[k] = out[k - week]
            elif k + week < len(out) and not missing[k + week]:
                out[k] = out[k + week]
            else:
                out[k] = out[k - 1] if k > 0 else 0.0
        i = end
    return out


def load_site(
    prices: Path = PRICES_2024,
    load: Path = HOUSEHOLD,
    load_column: str = "load_no_var_loads_w",
    pv: Path | None = HOUSEHOLD,
    pv_column: str = "pv_power_w",
    step_min: int = 15,
    load_scale: float = 1.0,
    start: datetime | None = None,
    end: datetime | None = None,
) -> SiteData:
    """Build a site from CSV files (the shared data set by default)."""
    price_series = read_prices(prices)
    first = start or min(price_series)
    stop = end or max(price_series) + timedelta(hours=1)
    slots = int((stop - first) / timedelta(minutes=step_min))
    spot = fill_gaps(on_grid(price_series, first, slots, step_min), step_min)
    load_kw = on_grid(read_power(load, load_column, load_scale), first, slots, step_min)
    # A recorder writes 0 where the meter was unavailable (the household's gaps begin so); a site
    # never draws exactly nothing for a whole slot.
    load_kw[load_kw == 0] = math.nan
    recorder_down = np.isnan(load_kw)
    load_kw = fill_gaps(load_kw, step_min)
    if pv is None:
        pv_kw = np.zeros(slots)
    else:
        pv_kw = on_grid(read_power(pv, pv_column), first, slots, step_min)
        # PV is not recorded at night: 0 there, but the week before's while the whole recorder
        # was down.
        pv_kw[np.isnan(pv_kw) & ~recorder_down] = 0.0
        pv_kw = np.clip(fill_gaps(pv_kw, step_min), 0, None)
    return SiteData(
        first, step_min, spot, load_kw, pv_kw, f"{prices.name}, {load.name}"
    )


def default_site() -> SiteData:
    """Return the shared 2024 data when present, else four weeks of the bundled demo data."""
    if PRICES_2024.exists() and HOUSEHOLD.exists():
        return load_site()
    series = SiteSeries.load_bundled()
    start = datetime(2026, 5, 4, tzinfo=UTC)
    spot, load, pv = series.window(
        start.replace(tzinfo=None), len(series.load_kw), series.step_min
    )
    return SiteData(start, series.step_min, spot, load, pv, "bundled demo data")
