"""Optional load forecast with Prophet (daily and weekly seasonality), for sites that install it.

Prophet is heavy (pandas, cmdstanpy, a compiled Stan model): importing it takes about a second and
fitting a few more, so nothing imports this module's dependencies until a forecast is asked for, and
the caller runs ``prophet_forecast_load`` in an executor, never on Home Assistant's event loop.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from typing import TYPE_CHECKING

import numpy as np

from .model import _require

if TYPE_CHECKING:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from .forecast import Series
    from .model import FloatArray

# Prophet fits on at most this much history: its seasonalities need a few weeks, and the fit time
# grows with the number of points.
MAX_FIT_DAYS = 28
_DAY_S = 86400.0
# Loggers that report every fit at INFO level (and a missing plotting library at ERROR level).
_CHATTY_LOGGERS = {
    "cmdstanpy": logging.WARNING,
    "prophet": logging.WARNING,
    "prophet.plot": logging.CRITICAL,
}


def _quieten() -> None:
    for name, level in _CHATTY_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        # cmdstanpy gives itself a console handler at DEBUG level on its first fit unless a handler is
        # already there; a null one keeps the level set here (records still reach the root handlers).
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())


@functools.cache
def prophet_available() -> bool:
    """Return whether Prophet can be imported here (looked up on disk once, without importing it)."""
    return importlib.util.find_spec("prophet") is not None


def prophet_forecast_load(
    history: Series,
    *,
    start: datetime,
    slots: int,
    tz: ZoneInfo,
    days: int = MAX_FIT_DAYS,
    daily_order: int = 10,
) -> FloatArray:
    """Forecast the load (kW) for ``slots`` slots of ``history.slot_minutes`` from ``start`` with Prophet.

    Fitted on the known slots of the last ``days`` days (at most 28) of history before ``start``, on
    local wall-clock time so that its daily and weekly seasonalities follow the household's clock.
    ``daily_order`` is the number of Fourier terms of the daily seasonality: Prophet's default of 4
    smooths a household's sharp morning and evening peaks away.
    Negative forecasts are cut to 0. Raises ``InvalidInputError`` with fewer than two days of known
    history (Prophet's daily seasonality needs them) and ``ModuleNotFoundError`` without Prophet.
    """
    _require(slots >= 0, "slots", "must not be negative")
    _require(0 < days <= MAX_FIT_DAYS, "days", f"must be in (0, {MAX_FIT_DAYS}]")
    step_s = 60.0 * history.slot_minutes
    start_s = start.timestamp()
    stamps = history.slot_starts_s()
    use = (
        (stamps + step_s <= start_s)
        & (stamps >= start_s - days * _DAY_S)
        & np.isfinite(history.values)
    )
    _require(
        use.sum() * step_s >= 2 * _DAY_S,
        "history",
        "needs at least two days of known values",
    )
    _quieten()
    pandas = importlib.import_module("pandas")
    prophet = importlib.import_module("prophet")

    def wall_clock(seconds: FloatArray) -> object:
        # Prophet's time stamps are naive: local wall-clock time, so 07:00 is 07:00 in winter and summer.
        utc = pandas.to_datetime(seconds, unit="s", utc=True)
        return utc.tz_convert(tz).tz_localize(None)

    model = prophet.Prophet(
        daily_seasonality=daily_order,
        weekly_seasonality=True,
        yearly_seasonality=False,
        # Only the point forecast is used: sampling the intervals would double the run time.
        uncertainty_samples=0,
    )
    model.fit(
        pandas.DataFrame({"ds": wall_clock(stamps[use]), "y": history.values[use]})
    )
    future = start_s + step_s * np.arange(slots)
    predicted = model.predict(pandas.DataFrame({"ds": wall_clock(future)}))
    forecast = np.asarray(predicted["yhat"], dtype=np.float64)
    return np.asarray(np.maximum(forecast, 0.0))
