"""The optional Prophet load forecast (skipped where Prophet is not installed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import importlib.util
import subprocess
import sys
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from custom_components.phoenyra_ems.engine import prophet_forecast
from custom_components.phoenyra_ems.engine.forecast import Series, forecast_load
from custom_components.phoenyra_ems.engine.model import InvalidInputError
from custom_components.phoenyra_ems.engine.prophet_forecast import (
    prophet_available,
    prophet_forecast_load,
)

from .test_forecast import household

PARIS = ZoneInfo("Europe/Paris")


def test_importing_the_engine_does_not_import_prophet() -> None:
    code = (
        "import sys\n"
        "import custom_components.phoenyra_ems.engine.prophet_forecast as p\n"
        "import custom_components.phoenyra_ems.engine.forecast\n"
        "p.prophet_available()\n"
        "assert not {'prophet', 'pandas', 'cmdstanpy'} & set(sys.modules), sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_availability_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    prophet_available.cache_clear()
    calls: list[str] = []

    def missing(name: str) -> None:
        calls.append(name)

    monkeypatch.setattr(importlib.util, "find_spec", missing)
    assert not prophet_available()
    assert not prophet_available()
    assert calls == ["prophet"]
    prophet_available.cache_clear()


def test_too_little_history_is_refused() -> None:
    start = datetime(2024, 4, 1, tzinfo=UTC)
    history = Series(start=start, slot_minutes=15, values=np.ones(96))
    with pytest.raises(InvalidInputError, match="history"):
        prophet_forecast_load(history, start=history.end, slots=4, tz=PARIS)


def test_household_day_ahead_is_no_worse_than_seasonal_naive(
    capfd: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("prophet")
    load, _ = household()
    errors, naive_errors, builtin_errors = [], [], []
    for day in (
        29,
        33,
        37,
    ):  # three days of late April 2024, issued at 12:00 the day before
        midnight = datetime(2024, 3, 25, tzinfo=PARIS) + timedelta(days=day)
        first = int((midnight.astimezone(UTC) - load.start) / timedelta(minutes=15))
        issued = first - 48
        history = Series(start=load.start, slot_minutes=15, values=load.values[:issued])
        when = load.start + timedelta(minutes=15 * issued)
        forecast = prophet_forecast_load(history, start=when, slots=144, tz=PARIS)
        assert forecast.shape == (144,)
        assert (forecast >= 0).all()
        builtin = forecast_load(history, start=when, slots=144, tz=PARIS)
        actual = load.values[first : first + 96]
        naive = load.values[first - 7 * 96 : first - 6 * 96]
        known = np.isfinite(actual) & np.isfinite(naive)
        errors.append(np.abs(forecast[48:] - actual)[known])
        naive_errors.append(np.abs(naive - actual)[known])
        builtin_errors.append(np.abs(builtin[48:] - actual)[known])
    mae = np.concatenate(errors).mean()
    # Prophet's smooth seasonalities miss the sharp peaks: about as good as the naive forecast (over
    # the year 520 W against 515 W), and the built-in median profile is better (366 W).
    assert mae <= 1.2 * np.concatenate(naive_errors).mean()
    assert np.concatenate(builtin_errors).mean() < mae
    # Quiet: cmdstanpy's per-fit INFO lines do not reach the console.
    assert "cmdstanpy" not in capfd.readouterr().err
    assert prophet_forecast.MAX_FIT_DAYS == 28
