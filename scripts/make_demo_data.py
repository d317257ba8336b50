"""Builds the demo site's bundled data from ../shared/data (run once; the output is committed).

Four whole weeks, Monday to Monday, of real Austrian day-ahead prices and one real household's load
and PV, resampled to 15 minutes on local wall-clock time, so the demo replays them week by week
with weekdays and times of day kept.

    python3 scripts/make_demo_data.py [SHARED_DATA_DIR]
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
import gzip
import math
from pathlib import Path
import sys

# A Monday; naive on purpose: the data is keyed by local wall-clock time, all within summer time.
FIRST_DAY = datetime(2024, 4, 29)  # noqa: DTZ001
WEEKS = 4
STEP_MIN = 15
OUT = (
    Path(__file__).resolve().parents[1]
    / "custom_components/phoenyra_ems/engine/data/demo_site.csv.gz"
)


def local_key(iso: str) -> datetime:
    """Local wall-clock time of an ISO timestamp with offset, without the offset."""
    return datetime.fromisoformat(iso).replace(tzinfo=None)


def main() -> None:
    """Write the demo data file."""
    shared = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parents[2] / "shared/data"
    )
    end = FIRST_DAY + timedelta(weeks=WEEKS)

    prices: dict[datetime, float] = {}
    with (shared / "prices/at_dayahead_hourly_2024.csv").open() as f:
        for row in csv.DictReader(f):
            prices[local_key(row["start_local"])] = float(row["price_eur_mwh"])

    load: dict[datetime, float] = {}
    pv: dict[datetime, float] = {}
    with (
        shared / "household_pv/household_load_pv_30min_2024-02-28_2025-02-27.csv"
    ).open() as f:
        for row in csv.DictReader(f):
            key = local_key(row["timestamp_local"])
            if FIRST_DAY - timedelta(hours=1) <= key <= end:
                value = float(row["load_no_var_loads_w"] or "nan")
                if math.isfinite(value):
                    load[key] = value
                pv_value = float(row["pv_power_w"] or "nan")
                pv[key] = pv_value if math.isfinite(pv_value) else 0.0

    def last_known(
        series: dict[datetime, float], when: datetime, step: timedelta
    ) -> float:
        # Missing slots (about 2 % of the load) take the last measured value.
        probe = when
        while probe not in series:
            probe -= step
            if when - probe > timedelta(days=1):
                raise SystemExit(f"no data within a day before {when}")
        return series[probe]

    OUT.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(OUT, "wt", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["offset_min", "price_eur_mwh", "load_w", "pv_w"])
        when = FIRST_DAY
        while when < end:
            hour = when.replace(minute=0)
            half = when.replace(minute=0 if when.minute < 30 else 30)
            writer.writerow(
                [
                    int((when - FIRST_DAY).total_seconds() // 60),
                    prices[hour],
                    round(last_known(load, half, timedelta(minutes=30)), 1),
                    round(max(0.0, last_known(pv, half, timedelta(minutes=30))), 1),
                ]
            )
            when += timedelta(minutes=STEP_MIN)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
