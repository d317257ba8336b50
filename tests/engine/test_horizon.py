"""When day-ahead prices are known."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from custom_components.phoenyra_ems.engine.horizon import prices_known_until

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
