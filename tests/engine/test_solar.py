"""The PV model: sun position, clear-sky and cloudy irradiance, PV power and its calibration."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from custom_components.phoenyra_ems.engine.forecast import Series
from custom_components.phoenyra_ems.engine.model import InvalidInputError
from custom_components.phoenyra_ems.engine.solar import (
    Calibration,
    PvArray,
    calibrate,
    clear_sky_pv_kw,
    cloud_factor,
    ghi_w_m2,
    pv_forecast_kw,
    sun_position,
)

from .test_forecast import household

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "forecast"
LORRAINE = PvArray(latitude_deg=48.83, longitude_deg=6.86, kwp=5.0)


def test_sun_position_matches_the_nrel_spa_example() -> None:
    # Reda & Andreas (2004), NREL's Solar Position Algorithm, worked example: Golden, Colorado,
    # 17 October 2003 12:30:30 at UTC-7: zenith 50.11162° (with refraction, about 0.02° at that
    # height), azimuth 194.34024°.
    when = datetime(2003, 10, 17, 19, 30, 30, tzinfo=UTC).timestamp()
    sun = sun_position(np.array([when]), 39.742476, -105.1786)
    assert sun.elevation_deg[0] == pytest.approx(90 - 50.11162 + 0.02, abs=0.5)
    assert sun.azimuth_deg[0] == pytest.approx(194.34024, abs=0.5)


def test_sun_is_due_south_at_solar_noon_and_below_the_horizon_at_midnight() -> None:
    # Equinox near noon at 0° longitude: elevation 90° - latitude, azimuth 180°.
    noon = datetime(
        2024, 3, 20, 12, 7, tzinfo=UTC
    ).timestamp()  # equation of time: +7 min
    midnight = datetime(2024, 3, 20, 0, 7, tzinfo=UTC).timestamp()
    sun = sun_position(np.array([noon, midnight]), 48.0, 0.0)
    assert sun.elevation_deg[0] == pytest.approx(42.0, abs=0.5)
    assert sun.azimuth_deg[0] == pytest.approx(180.0, abs=1.0)
    assert sun.elevation_deg[1] < -30


def test_no_pv_at_night_and_a_plausible_clear_summer_day() -> None:
    start = datetime(2024, 6, 21, tzinfo=UTC)
    kw = clear_sky_pv_kw(LORRAINE, start=start, slots=96)
    night = np.r_[0:12, 84:96]  # 00:00-03:00 and 21:00-24:00 UTC
    assert (kw[night] == 0).all()
    assert (kw >= 0).all()
    # A clear June day: 5 kWp give about 6 to 7 kWh per kWp, a peak near 4 kW around 11:30 UTC.
    assert kw.sum() / 4 / LORRAINE.kwp == pytest.approx(7.0, abs=1.0)
    assert 3.5 < kw.max() < 4.6
    assert 10.5 <= np.argmax(kw) / 4 <= 12.5


def test_south_beats_north_in_winter_at_noon() -> None:
    noon = datetime(2024, 12, 21, 11, 30, tzinfo=UTC)
    south = clear_sky_pv_kw(LORRAINE, start=noon, slots=1)
    north = clear_sky_pv_kw(
        PvArray(latitude_deg=48.83, longitude_deg=6.86, kwp=5.0, azimuth_deg=0),
        start=noon,
        slots=1,
    )
    assert south[0] > 3 * north[0] > 0


def test_heat_derates_and_clouds_attenuate() -> None:
    noon = datetime(2024, 6, 21, 11, 30, tzinfo=UTC)
    cool = pv_forecast_kw(LORRAINE, start=noon, slots=1, temperature_c=np.array([5.0]))
    hot = pv_forecast_kw(LORRAINE, start=noon, slots=1, temperature_c=np.array([35.0]))
    assert hot[0] == pytest.approx(cool[0] * (1 - 0.004 * 30), rel=0.01)
    assert cloud_factor(np.array([0.0, 50.0, 100.0])) == pytest.approx(
        [1.0, 1 - 0.75 * 0.5**3.4, 0.25]
    )
    clouds = np.array([0.0, 60.0, 100.0])
    kw = pv_forecast_kw(
        LORRAINE,
        start=noon,
        slots=3,
        slot_minutes=1,
        cloud_pct=clouds,
    )
    assert kw[0] > kw[1] > kw[2] > 0
    with pytest.raises(InvalidInputError, match="cloud_pct"):
        pv_forecast_kw(LORRAINE, start=noon, slots=2, cloud_pct=clouds)


def test_modelled_irradiance_follows_open_meteo() -> None:
    with (FIXTURES / "open_meteo_50n_10e_2026-03-02.csv").open() as f:
        rows = list(csv.DictReader(f))
    # Local times at UTC+01:00; each radiation value is the mean of the hour before its time.
    first = datetime.fromisoformat(rows[0]["time_local_utc+01"]).replace(
        tzinfo=UTC
    ) - timedelta(hours=2)
    cloud = np.array([float(r["cloud_cover_pct"]) for r in rows])
    measured = np.array([float(r["shortwave_radiation_w_m2"]) for r in rows])
    modelled = ghi_w_m2(
        50.0,
        10.0,
        start=first,
        slots=len(rows),
        slot_minutes=60,
        altitude_m=291,
        cloud_pct=cloud,
    )
    day = (modelled > 0) | (measured > 0)
    assert np.abs(modelled - measured)[day].mean() < 50  # W/m², daylight hours
    assert (modelled[~day] == 0).all()


def clear_days(array: PvArray, days: int, factor: np.ndarray | float) -> Series:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    values = clear_sky_pv_kw(array, start=start, slots=days * 96)
    values = values * np.repeat(np.broadcast_to(factor, days), 96)
    return Series(start=start, slot_minutes=15, values=values)


def test_calibration_recovers_a_known_scale() -> None:
    measured = clear_days(LORRAINE, 20, 0.7)
    calibration = calibrate(measured, LORRAINE)
    assert calibration.scale == pytest.approx(0.7, rel=0.01)
    assert calibration.clearness == pytest.approx(1.0, rel=0.01)
    assert calibration.hourly == pytest.approx(1.0, abs=0.02)
    assert calibration.days == 20


def test_calibration_learns_how_clear_recent_days_were() -> None:
    # Every other day overcast at 30 % of clear: the scale comes from the clear days.
    factor = np.where(np.arange(20) % 2 == 0, 1.0, 0.3)
    calibration = calibrate(clear_days(LORRAINE, 20, factor), LORRAINE)
    assert calibration.scale == pytest.approx(1.0, rel=0.01)
    assert calibration.clearness == pytest.approx(0.65, abs=0.03)


def test_calibration_clamps_and_needs_data() -> None:
    assert calibrate(clear_days(LORRAINE, 10, 5.0), LORRAINE).scale == 2.0
    # Two days, or no known values: nothing learned, the identity.
    for measured in (
        clear_days(LORRAINE, 2, 0.7),
        Series(
            start=datetime(2024, 5, 1, tzinfo=UTC),
            slot_minutes=15,
            values=np.full(10 * 96, np.nan),
        ),
    ):
        calibration = calibrate(measured, LORRAINE)
        assert calibration.days == 0
        assert calibration.scale == calibration.clearness == 1.0


def test_hourly_shape_corrects_an_unknown_orientation() -> None:
    # The real array faces south-east, the configuration says south.
    real = PvArray(latitude_deg=48.83, longitude_deg=6.86, kwp=5.0, azimuth_deg=120)
    measured = clear_days(real, 20, 1.0)
    day = datetime(2024, 5, 21, tzinfo=UTC)
    truth = clear_sky_pv_kw(real, start=day, slots=96)

    def error(calibration: Calibration) -> float:
        forecast = pv_forecast_kw(
            LORRAINE, start=day, slots=96, calibration=calibration
        )
        return float(np.abs(forecast - truth).mean())

    shaped = calibrate(measured, LORRAINE)
    flat = calibrate(measured, LORRAINE, learn_shape=False)
    assert error(shaped) < 0.5 * error(flat)
    assert (
        shaped.hourly[7] > 1 > shaped.hourly[16]
    )  # morning stronger, afternoon weaker


def test_calibrated_household_pv_beats_yesterday() -> None:
    _, pv = household()
    errors, yesterday_errors = [], []
    for day in range(30, 42):
        first = day * 96
        past = Series(
            start=pv.start + timedelta(days=day - 30),
            slot_minutes=15,
            values=pv.values[first - 30 * 96 : first],
        )
        forecast = pv_forecast_kw(
            LORRAINE,
            start=pv.start + timedelta(days=day),
            slots=96,
            calibration=calibrate(past, LORRAINE),
        )
        actual = pv.values[first : first + 96]
        errors.append(np.abs(forecast - actual).mean())
        yesterday_errors.append(np.abs(pv.values[first - 96 : first] - actual).mean())
    assert np.mean(errors) < np.mean(yesterday_errors)
