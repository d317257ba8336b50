"""The benchmarks' own logic: laying data of another year onto the price year, filling its gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from typing import TYPE_CHECKING

import numpy as np
import pytest

from benchmarks import backtest
from benchmarks.data import (
    HOUSEHOLD,
    PRICES_2024,
    fill_gaps,
    load_site,
    on_grid,
    read_power,
)

if TYPE_CHECKING:
    from pathlib import Path

HOUR = timedelta(hours=1)


def hourly_stamps(start: datetime, hours: int) -> dict[datetime, float]:
    """Each hour's value is its own POSIX time, so a sample says where it was read."""
    return {start + k * HOUR: (start + k * HOUR).timestamp() for k in range(hours)}


def test_a_year_of_another_year_keeps_weekday_time_and_season() -> None:
    series = hourly_stamps(datetime(2018, 1, 1, tzinfo=UTC), 365 * 24)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    sampled = on_grid(series, start, 366 * 24, 60)
    for k in range(0, 366 * 24, 97):
        read = datetime.fromtimestamp(sampled[k], UTC)
        wanted = start + k * HOUR
        assert (wanted - read) % timedelta(weeks=1) == timedelta(0)
        # The same time of year, give or take the week a 52-week step drifts from the calendar.
        days = abs(read.timetuple().tm_yday - wanted.timetuple().tm_yday)
        assert min(days, 365 - days) <= 8, (wanted, read)
    # Every hour of the year is read from a different hour of the data.
    assert len(set(sampled.tolist())) == 366 * 24 - 2 * 24


def test_a_shorter_series_cycles_by_its_whole_weeks() -> None:
    first = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
    series = hourly_stamps(first, 24 * 17)  # two weeks and three days
    before = on_grid(series, first - timedelta(days=3), 24 * 3, 60)
    assert before.tolist() == [
        (first + timedelta(days=11) + k * HOUR).timestamp() for k in range(24 * 3)
    ]
    after = on_grid(series, first + timedelta(days=17), 24 * 3, 60)
    assert after.tolist() == [
        (first + timedelta(days=3) + k * HOUR).timestamp() for k in range(24 * 3)
    ]


def test_short_gaps_hold_the_last_value_long_ones_repeat_the_week_before() -> None:
    per_week = 7 * 24 * 4
    values = np.arange(3 * per_week, dtype=float)
    recorded = values.copy()
    recorded[per_week + 30 : per_week + 38] = np.nan  # two hours: short
    recorded[2 * per_week + 5 : 2 * per_week + 165] = np.nan  # forty hours: long
    recorded[:20] = np.nan  # long, before any week: the week after stands in
    filled = fill_gaps(recorded, 15)
    assert filled[per_week + 30 : per_week + 38].tolist() == [per_week + 29.0] * 8
    # The week before as filled (its own short gap included).
    assert np.array_equal(
        filled[2 * per_week + 5 : 2 * per_week + 165],
        filled[per_week + 5 : per_week + 165],
    )
    assert filled[2 * per_week + 5] == per_week + 5
    assert np.array_equal(filled[:20], values[per_week : per_week + 20])
    untouched = ~np.isnan(recorded)
    assert np.array_equal(filled[untouched], values[untouched])


def test_a_recorder_outage_takes_load_and_pv_of_the_week_before(
    tmp_path: Path,
) -> None:
    """Load 0 W where the recorder stopped, then nothing for a day: not a day without load."""
    start = datetime(2024, 3, 4, tzinfo=UTC)
    half_hours = 3 * 7 * 48
    prices, household = tmp_path / "prices.csv", tmp_path / "household.csv"
    prices.write_text(
        "start_utc,price_eur_mwh\n"
        + "".join(
            f"{(start + k * HOUR).isoformat()},{50 + k % 24}\n"
            for k in range(half_hours // 2)
        )
    )
    outage = range(2 * 7 * 48 + 20, 2 * 7 * 48 + 68)
    lines = ["timestamp_utc,load_w,pv_w"]
    for k in range(half_hours):
        t = start + k * timedelta(minutes=30)
        day = 12 <= k % 48 < 36
        pv = f"{1000 + k % 48}" if day else ""
        load = "0.0" if k == outage.start else "" if k in outage else f"{300 + k}"
        lines.append(f"{t.isoformat()},{load},{pv if k not in outage else ''}")
    household.write_text("\n".join(lines) + "\n")
    site = load_site(
        prices=prices,
        load=household,
        load_column="load_w",
        pv=household,
        pv_column="pv_w",
    )
    week = 7 * 96
    down = slice(2 * outage.start, 2 * outage.stop)
    assert np.array_equal(
        site.load_kw[down],
        site.load_kw[down.start - week : down.stop - week],
    )
    assert site.load_kw[down].min() > 0.3
    # The PV's last record counts for its own half hour (as anywhere on the grid); then the week
    # before.
    assert np.array_equal(
        site.pv_kw[down.start + 1 : down.stop],
        site.pv_kw[down.start + 1 - week : down.stop - week],
    )
    assert site.pv_kw[down].max() > 1.0
    # Outside the outage, the night's missing PV is none.
    assert site.pv_kw[:24].tolist() == [0.0] * 24


@pytest.mark.skipif(
    not (PRICES_2024.exists() and HOUSEHOLD.exists()),
    reason="needs the shared data set (../shared/data)",
)
def test_a_short_backtest_stays_within_its_bounds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    backtest.main(
        ["--start", "2024-06-29", "--end", "2024-07-02", "--demand-charge-eur-kw", "10"]
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["replans"] == 3 * 96
    # Two billing months (in the site's time zone): the demand charge bills the peak of each, and
    # the months add up to the period (figures rounded to the cent and 0.01 kW in the output).
    months = result["months"]
    assert [row["month"] for row in months] == ["2024-06", "2024-07"]
    for way in ("no_battery", "ems"):
        assert result[f"demand_charge_eur_{way}"] == pytest.approx(
            10 * sum(row[f"peak_import_kw_{way}"] for row in months), abs=0.11
        )
        assert result[f"peak_import_kw_{way}"] == max(
            row[f"peak_import_kw_{way}"] for row in months
        )
    for cost in ("cost_no_battery_eur", "cost_ems_eur", "cost_perfect_eur"):
        assert sum(row[cost] for row in months) == pytest.approx(result[cost], abs=0.02)
    assert result["mean_month_peak_kw_bound"] == pytest.approx(
        sum(row["peak_import_kw_bound"] for row in months) / 2, abs=0.01
    )
    assert (
        result["cost_ems_eur"] + result["demand_charge_eur_ems"]
        < result["cost_no_battery_eur"] + result["demand_charge_eur_no_battery"]
    )
    # The perfect-foresight plan is the bound of every way to run the battery's energy cost.
    assert result["cost_perfect_eur"] <= result["cost_ems_eur"]
    assert result["cost_perfect_eur"] <= result["cost_rule_eur"]
    assert result["cost_perfect_eur"] <= result["cost_self_consumption_rule_eur"]
    assert result["cost_ems_eur"] < result["cost_no_battery_eur"]
    assert 0 < result["capture_ratio"] <= 1
    # A battery full at the month's start holding the lowest limit: no run of it goes below.
    assert result["mean_month_peak_kw_bound"] <= result["mean_month_peak_kw_ems"] + 0.01
    assert result["mean_month_peak_kw_bound"] < result["mean_month_peak_kw_no_battery"]
    # The plain rule stores every surplus it can; no battery stores none.
    assert (
        result["self_consumption_ratio_no_battery"]
        < result["self_consumption_ratio"]
        <= result["self_consumption_ratio_self_consumption_rule"]
    )
    assert result["autarky_no_battery"] < result["autarky"]


def test_a_missing_column_names_the_file_and_its_columns(tmp_path: Path) -> None:
    csv = tmp_path / "site.csv"
    csv.write_text("timestamp_utc,load_w\n2024-01-01T00:00:00+00:00,500\n")
    assert read_power(csv, "load_w") == {datetime(2024, 1, 1, tzinfo=UTC): 0.5}
    with pytest.raises(
        ValueError, match=r"site.csv: no column pv_w \(it has timestamp_utc, load_w\)"
    ):
        read_power(csv, "pv_w")


@pytest.mark.skipif(
    not (PRICES_2024.exists() and HOUSEHOLD.exists()),
    reason="needs the shared data set (../shared/data)",
)
def test_a_period_outside_the_prices_is_refused_before_the_replay() -> None:
    for period in (
        ["--start", "2024-06-05", "--end", "2024-06-02"],
        ["--start", "2023-12-01"],
    ):
        with pytest.raises(ValueError, match="2024-01-01 to 2024-12-31"):
            backtest.main(period)
