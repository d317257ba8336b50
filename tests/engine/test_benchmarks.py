"""The benchmarks' own logic: laying data of another year onto the price year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.data import on_grid

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
