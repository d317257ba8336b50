"""Built-in forecasts from the past only."""

from __future__ import annotations

import numpy as np
import pytest

from custom_components.phoenyra_ems.engine.forecast import daily_profile, extend_prices


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


def test_cold_start_carries_the_last_value() -> None:
    assert daily_profile(np.array([0.7, 0.9]), 96, 3, days=7) == pytest.approx(
        [0.9, 0.9, 0.9]
    )
    assert daily_profile(np.array([]), 96, 2, days=7) == pytest.approx([0.0, 0.0])


def test_unknown_prices_repeat_the_last_known_day() -> None:
    last_day = np.array([0.1, 0.2, 0.3, 0.4])
    known = last_day[2:]  # now is half way through the last known day
    prices, n_known = extend_prices(known, last_day, 7)
    assert n_known == 2
    assert prices == pytest.approx([0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1])
    prices, n_known = extend_prices(last_day, last_day, 3)
    assert n_known == 3
    assert prices == pytest.approx([0.1, 0.2, 0.3])
