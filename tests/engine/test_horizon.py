"""When day-ahead prices are known, and how far plans reach."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from custom_components.phoenyra_ems.engine.horizon import plan_end, prices_known_until

VIENNA = ZoneInfo("Europe/Vienna")


@pytest.mark.parametrize(
    ("now", "known_until"),
    [
        (
            datetime(2024, 5, 6, 12, 44, tzinfo=VIENNA),
            datetime(2024, 5, 7, tzinfo=VIENNA),
        ),
        (
            datetime(2024, 5, 6, 12, 45, tzinfo=VIENNA),
            datetime(2024, 5, 8, tzinfo=VIENNA),
        ),
        (
            datetime(2024, 5, 6, 0, 0, tzinfo=VIENNA),
            datetime(2024, 5, 7, tzinfo=VIENNA),
        ),
        (
            datetime(2024, 5, 6, 23, 59, tzinfo=VIENNA),
            datetime(2024, 5, 8, tzinfo=VIENNA),
        ),
        # The clocks go back on 27 October: the day after has its usual 24 hours, midnight stays midnight.
        (
            datetime(2024, 10, 26, 13, 0, tzinfo=VIENNA),
            datetime(2024, 10, 28, tzinfo=VIENNA),
        ),
    ],
)
def test_prices_known_until(now: datetime, known_until: datetime) -> None:
    assert prices_known_until(now) == known_until
    assert prices_known_until(now).hour == 0


@pytest.mark.parametrize(
    ("now", "end"),
    [
        # Before the auction only today is published: forecast prices fill up to 48 hours.
        (datetime(2024, 5, 6, 12, 0), datetime(2024, 5, 8, 12, 0)),
        # After it, tomorrow too; still 48 hours, the last hours' prices forecast.
        (datetime(2024, 5, 6, 13, 0), datetime(2024, 5, 8, 13, 0)),
        (datetime(2024, 5, 6, 23, 45), datetime(2024, 5, 8, 23, 45)),
        # 48 real hours: across the autumn change the wall clock shows an hour less.
        (datetime(2024, 10, 26, 13, 0), datetime(2024, 10, 28, 12, 0)),
    ],
)
def test_plans_reach_48_hours_whatever_is_published(
    now: datetime, end: datetime
) -> None:
    now, end = now.replace(tzinfo=VIENNA), end.replace(tzinfo=VIENNA)
    assert plan_end(now, prices_known_until(now)) == end


def test_plans_cover_every_published_price() -> None:
    now = datetime(2024, 5, 6, 13, 0, tzinfo=VIENNA)
    published_end = now + timedelta(hours=60)
    assert plan_end(now, published_end) == published_end
