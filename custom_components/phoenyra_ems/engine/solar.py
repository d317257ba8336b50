"""PV power from the sun's position, a clear-sky model and cloud cover, calibrated on measured PV.

The chain, each step a published textbook model chosen for needing no data beyond the site:
sun position (Spencer's series for declination, equation of time and the Earth-Sun distance), clear-sky
global irradiance (Ineichen-Perez with a fixed Linke turbidity), cloud attenuation (Kasten-Czeplak),
the split into beam and diffuse light (Erbs), transposition to the array plane (isotropic sky, ground
reflection, an ASHRAE incidence-angle loss), and the array's DC rating with a temperature derate
(cells heat above the air in proportion to irradiance, NOCT model). ``calibrate`` then learns from the
measured PV how the real array differs: its size and losses, its shape over the day (an unknown
tilt and azimuth, shade) and, for forecasts without weather, how clear the sky typically is.

Times are POSIX seconds (UTC) for instants, and a regular grid of slots (``start``, ``slots``,
``slot_minutes``) for slot means; azimuths are clockwise from north (90 east, 180 south, 270 west).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .model import _require

if TYPE_CHECKING:
    from datetime import datetime

    from .forecast import Series
    from .model import FloatArray

_DAY_S = 86400.0
_SOLAR_CONSTANT_W_M2 = 1367.0
# Slot means are averaged from instants at most this far apart (the sun moves little in 5 minutes).
_SAMPLE_S = 300.0
# Clamps of the learned corrections: a wrong kWp by a factor of four is still corrected, a broken
# meter reading zero for a month is not believed.
_SCALE_RANGE = (0.25, 2.0)
_SHAPE_RANGE = (0.2, 3.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class PvArray:
    """A PV array: where it is, how it faces and what it is rated."""

    latitude_deg: float
    longitude_deg: float
    kwp: float
    tilt_deg: float = 30.0
    # Clockwise from north: 180 faces south.
    azimuth_deg: float = 180.0
    altitude_m: float = 0.0
    # From DC rating to AC output: wiring, inverter, soiling, mismatch.
    losses: float = 0.14
    temperature_coefficient_per_k: float = -0.004
    # Nominal operating cell temperature: cells at 800 W/m², 20 °C air, 1 m/s wind.
    noct_c: float = 45.0
    albedo: float = 0.2
    # Haze and water vapour; about 3 in rural central Europe (higher in summer and in cities).
    linke_turbidity: float = 3.0

    def __post_init__(self) -> None:
        """Reject impossible values."""
        _require(-90 <= self.latitude_deg <= 90, "latitude_deg", "must be in [-90, 90]")
        _require(
            -180 <= self.longitude_deg <= 180,
            "longitude_deg",
            "must be in [-180, 180]",
        )
        _require(self.kwp > 0, "kwp", "must be greater than 0")
        _require(0 <= self.tilt_deg <= 90, "tilt_deg", "must be in [0, 90]")
        _require(0 <= self.losses < 1, "losses", "must be in [0, 1)")
        _require(self.linke_turbidity >= 1, "linke_turbidity", "must be at least 1")


@dataclass(frozen=True, kw_only=True, slots=True)
class SunPosition:
    """Where the sun stands, per instant (geometric: no atmospheric refraction)."""

    elevation_deg: FloatArray
    azimuth_deg: FloatArray
    # Top-of-atmosphere irradiance on a plane facing the sun (varies with the Earth-Sun distance).
    extraterrestrial_w_m2: FloatArray


@dataclass(frozen=True, kw_only=True, slots=True)
class Calibration:
    """What the measured PV taught about the real array (the identity when nothing was learned).

    ``pv_kw = model_kw x scale x shape(solar hour)``, and without cloud input also x ``clearness``.
    """

    # Measured over modelled energy on clear days: size, losses, soiling, a wrong kWp.
    scale: float = 1.0
    # Correction per hour of solar time (index 0: 00:00 to 01:00), interpolated between hour centres:
    # the daily shape of an array whose tilt and azimuth are unknown, shade in the morning.
    hourly: FloatArray = field(default_factory=lambda: np.ones(24))
    # Typical measured over calibrated clear-sky energy of recent days, for forecasts without weather.
    clearness: float = 1.0
    # Days the calibration was learned from (0: the identity).
    days: int = 0


def _spencer(times_s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Declination (rad), equation of time (min) and Earth-Sun distance factor per instant."""
    stamps = np.asarray(times_s, dtype=np.float64)
    year_start = (
        stamps.astype("datetime64[s]").astype("datetime64[Y]").astype("datetime64[s]")
    ).astype(np.float64)
    # Fractional year in radians, noon of 1 January at 0.
    g = 2 * np.pi / 365 * ((stamps - year_start) / _DAY_S - 0.5)
    declination = (
        0.006918
        - 0.399912 * np.cos(g)
        + 0.070257 * np.sin(g)
        - 0.006758 * np.cos(2 * g)
        + 0.000907 * np.sin(2 * g)
        - 0.002697 * np.cos(3 * g)
        + 0.00148 * np.sin(3 * g)
    )
    equation_min = 229.18 * (
        0.000075
        + 0.001868 * np.cos(g)
        - 0.032077 * np.sin(g)
        - 0.014615 * np.cos(2 * g)
        - 0.040849 * np.sin(2 * g)
    )
    distance = (
        1.00011
        + 0.034221 * np.cos(g)
        + 0.00128 * np.sin(g)
        + 0.000719 * np.cos(2 * g)
        + 0.000077 * np.sin(2 * g)
    )
    return declination, equation_min, distance


def _solar_seconds(times_s: FloatArray, longitude_deg: float) -> FloatArray:
    """Apparent solar time as seconds since 1970 (whole days of it are solar days)."""
    _, equation_min, _ = _spencer(times_s)
    return np.asarray(times_s + 60 * equation_min + 240 * longitude_deg)


def solar_hour(times_s: FloatArray, longitude_deg: float) -> FloatArray:
    """Apparent solar time in hours (12: the sun due south or north) per instant."""
    return np.asarray((_solar_seconds(times_s, longitude_deg) % _DAY_S) / 3600.0)


def sun_position(
    times_s: FloatArray, latitude_deg: float, longitude_deg: float
) -> SunPosition:
    """Return the sun's elevation and azimuth seen from a place at instants (POSIX seconds)."""
    declination, _, distance = _spencer(times_s)
    hour_angle = np.radians(15 * (solar_hour(times_s, longitude_deg) - 12))
    lat = np.radians(latitude_deg)
    sin_elevation = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(
        declination
    ) * np.cos(hour_angle)
    elevation = np.degrees(np.arcsin(np.clip(sin_elevation, -1, 1)))
    # Measured from south towards west, then turned to clockwise from north.
    from_south = np.arctan2(
        np.sin(hour_angle),
        np.cos(hour_angle) * np.sin(lat) - np.tan(declination) * np.cos(lat),
    )
    azimuth = (np.degrees(from_south) + 180) % 360
    return SunPosition(
        elevation_deg=elevation,
        azimuth_deg=azimuth,
        extraterrestrial_w_m2=_SOLAR_CONSTANT_W_M2 * distance,
    )


def cloud_factor(cloud_pct: FloatArray) -> FloatArray:
    """Share of the clear-sky global irradiance that reaches the ground under cloud cover (Kasten-Czeplak)."""
    cover = np.clip(np.asarray(cloud_pct, dtype=np.float64) / 100, 0, 1)
    return np.asarray(1 - 0.75 * cover**3.4)


def _clear_sky_ghi(sun: SunPosition, altitude_m: float, turbidity: float) -> FloatArray:
    """Ineichen-Perez clear-sky global horizontal irradiance (W/m²)."""
    cos_zenith = np.sin(np.radians(sun.elevation_deg))
    up = cos_zenith > 0
    zenith = np.minimum(90 - sun.elevation_deg, 90)
    # Kasten-Young relative air mass, corrected to the site's pressure.
    air_mass = np.where(
        up,
        1 / (np.maximum(cos_zenith, 1e-6) + 0.50572 * (96.07995 - zenith) ** -1.6364),
        0.0,
    ) * np.exp(-altitude_m / 8434.5)
    fh1, fh2 = np.exp(-altitude_m / 8000), np.exp(-altitude_m / 1250)
    cg1, cg2 = 5.09e-5 * altitude_m + 0.868, 3.92e-5 * altitude_m + 0.0387
    ghi = (
        cg1
        * sun.extraterrestrial_w_m2
        * cos_zenith
        * np.exp(-cg2 * air_mass * (fh1 + fh2 * (turbidity - 1)))
        * np.exp(0.01 * air_mass**1.8)
    )
    return np.where(up, np.maximum(ghi, 0.0), 0.0)


def _diffuse_fraction(clearness_index: FloatArray) -> FloatArray:
    """Erbs et al. (1982): the diffuse share of global irradiance from the clearness index."""
    kt = np.clip(clearness_index, 0, 1)
    middle = 0.9511 - 0.1604 * kt + 4.388 * kt**2 - 16.638 * kt**3 + 12.336 * kt**4
    return np.where(kt <= 0.22, 1 - 0.09 * kt, np.where(kt <= 0.8, middle, 0.165))


def _samples(start: datetime, slots: int, slot_minutes: int) -> FloatArray:
    """Instants (slots x samples) at the middles of equal parts of each slot of a grid."""
    _require(slots >= 0, "slots", "must not be negative")
    _require(slot_minutes > 0, "slot_minutes", "must be greater than 0")
    return _samples_at(
        start.timestamp() + 60.0 * slot_minutes * np.arange(slots), slot_minutes
    )


def _samples_at(slot_starts_s: FloatArray, slot_minutes: int) -> FloatArray:
    """Instants (slots x samples) at the middles of equal parts of slots starting at the given seconds."""
    slot_s = 60.0 * slot_minutes
    per_slot = max(1, int(np.ceil(slot_s / _SAMPLE_S)))
    offsets = (np.arange(per_slot) + 0.5) * slot_s / per_slot
    return np.asarray(slot_starts_s[:, None] + offsets[None, :])


def _per_slot(values: FloatArray | None, slots: int, name: str) -> FloatArray | None:
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64)
    _require(array.shape == (slots,), name, f"must have one value per slot ({slots})")
    return array[:, None]


def ghi_w_m2(
    latitude_deg: float,
    longitude_deg: float,
    *,
    start: datetime,
    slots: int,
    slot_minutes: int = 15,
    altitude_m: float = 0.0,
    linke_turbidity: float = 3.0,
    cloud_pct: FloatArray | None = None,
) -> FloatArray:
    """Mean global horizontal irradiance (W/m²) per slot: clear sky, attenuated by cloud cover if given."""
    times = _samples(start, slots, slot_minutes)
    sun = sun_position(times, latitude_deg, longitude_deg)
    ghi = _clear_sky_ghi(sun, altitude_m, linke_turbidity)
    cloud = _per_slot(cloud_pct, slots, "cloud_pct")
    if cloud is not None:
        ghi = ghi * cloud_factor(cloud)
    return np.asarray(ghi.mean(axis=1))


def _array_kw(
    array: PvArray,
    times: FloatArray,
    cloud: FloatArray | None,
    temperature: FloatArray | None,
) -> FloatArray:
    """Uncalibrated AC power (kW) of the array at instants."""
    sun = sun_position(times, array.latitude_deg, array.longitude_deg)
    ghi = _clear_sky_ghi(sun, array.altitude_m, array.linke_turbidity)
    if cloud is not None:
        ghi = ghi * cloud_factor(cloud)
    cos_zenith = np.sin(np.radians(sun.elevation_deg))
    horizontal_top = sun.extraterrestrial_w_m2 * np.maximum(cos_zenith, 0.0)
    kt = np.divide(
        ghi, horizontal_top, out=np.zeros_like(ghi), where=horizontal_top > 1
    )
    dhi = ghi * _diffuse_fraction(kt)
    dni = np.divide(
        ghi - dhi, cos_zenith, out=np.zeros_like(ghi), where=cos_zenith > 0.01
    )
    tilt, sun_zenith = np.radians(array.tilt_deg), np.radians(90 - sun.elevation_deg)
    cos_incidence = np.cos(sun_zenith) * np.cos(tilt) + np.sin(sun_zenith) * np.sin(
        tilt
    ) * np.cos(np.radians(sun.azimuth_deg - array.azimuth_deg))
    # ASHRAE incidence-angle modifier: the glass reflects more at grazing angles.
    facing = cos_incidence > 0.01
    iam = np.where(
        facing,
        np.clip(1 - 0.05 * (1 / np.where(facing, cos_incidence, 1.0) - 1), 0, 1),
        0.0,
    )
    poa = (
        dni * np.maximum(cos_incidence, 0.0) * iam
        + dhi * (1 + np.cos(tilt)) / 2
        + ghi * array.albedo * (1 - np.cos(tilt)) / 2
    )
    # Without an air temperature the cells are taken at 25 °C (the rating's): no derate.
    cell_c = (
        25.0
        if temperature is None
        else temperature + poa / 800.0 * (array.noct_c - 20.0)
    )
    derate = 1 + array.temperature_coefficient_per_k * (cell_c - 25.0)
    kw = array.kwp * poa / 1000.0 * (1 - array.losses) * derate
    return np.asarray(np.maximum(kw, 0.0))


def clear_sky_pv_kw(
    array: PvArray,
    *,
    start: datetime,
    slots: int,
    slot_minutes: int = 15,
    temperature_c: FloatArray | None = None,
) -> FloatArray:
    """Mean AC power (kW) per slot of the array under a clear sky, as rated (uncalibrated)."""
    times = _samples(start, slots, slot_minutes)
    temperature = _per_slot(temperature_c, slots, "temperature_c")
    return np.asarray(_array_kw(array, times, None, temperature).mean(axis=1))


def _shape(
    calibration: Calibration, times: FloatArray, longitude_deg: float
) -> FloatArray:
    """Return the calibration's hourly correction at instants, interpolated between hour centres."""
    hours = solar_hour(times, longitude_deg)
    # Periodic: the value of hour 23 leads into that of hour 0.
    centres = np.arange(-0.5, 25.0)
    values = np.concatenate(
        [calibration.hourly[-1:], calibration.hourly, calibration.hourly[:1]]
    )
    return np.asarray(np.interp(hours, centres, values))


def pv_forecast_kw(
    array: PvArray,
    *,
    start: datetime,
    slots: int,
    slot_minutes: int = 15,
    cloud_pct: FloatArray | None = None,
    temperature_c: FloatArray | None = None,
    calibration: Calibration | None = None,
) -> FloatArray:
    """Forecast mean AC power (kW) per slot from cloud cover (%) and air temperature (°C) per slot.

    Without cloud cover the calibration's typical clearness stands in for the weather (the best
    guess of a day's PV knowing only the season and recent days).
    """
    calibration = calibration or Calibration()
    times = _samples(start, slots, slot_minutes)
    cloud = _per_slot(cloud_pct, slots, "cloud_pct")
    temperature = _per_slot(temperature_c, slots, "temperature_c")
    kw = (
        _array_kw(array, times, cloud, temperature)
        * calibration.scale
        * _shape(calibration, times, array.longitude_deg)
    )
    if cloud is None:
        kw = kw * calibration.clearness
    return np.asarray(kw.mean(axis=1))


def calibrate(
    measured: Series,
    array: PvArray,
    *,
    days: int = 30,
    learn_shape: bool = True,
    clear_quantile: float = 0.9,
    clearness_decay: float = 0.95,
) -> Calibration:
    """Learn how the real array differs from its model, from measured PV (kW) of the last ``days`` days.

    Per solar day (midnight to midnight of solar time), the ratio of measured to modelled clear-sky
    energy; days with more than a tenth of their daylight unknown are left out. The scale is the
    ``clear_quantile`` of the ratios (the clear days; a robust maximum, so one odd day does not
    decide), clamped to [0.25, 2]. The hourly shape is measured over modelled energy per hour of solar
    time on the clear-ish days (ratio at least 80 % of the scale). The clearness is the mean ratio over
    the scale, each day back weighing ``clearness_decay`` times the next (the day-ahead weather hardly
    follows the last days': on the household's spring 2024, 0.95 beat 0.8 and 0.5).
    Fewer than three usable days give the identity.
    """
    if len(measured.values) == 0:
        return Calibration()
    stamps = measured.slot_starts_s()
    step_s = 60.0 * measured.slot_minutes
    recent = stamps >= measured.end.timestamp() - days * _DAY_S
    stamps, values = stamps[recent], measured.values[recent]
    model = _array_kw(
        array, _samples_at(stamps, measured.slot_minutes), None, None
    ).mean(axis=1)
    solar_s = _solar_seconds(stamps + step_s / 2, array.longitude_deg)
    day = np.floor(solar_s / _DAY_S).astype(np.int64)
    hours = (solar_s % _DAY_S) / 3600.0
    daylight = model > 0.01 * array.kwp
    known = np.isfinite(values)
    first = int(day.min())
    n_days = int(day.max()) - first + 1
    index = day - first
    model_energy = np.bincount(index, np.where(daylight & known, model, 0.0), n_days)
    measured_energy = np.bincount(
        index, np.where(daylight & known, values, 0.0), n_days
    )
    daylight_slots = np.bincount(index, daylight, n_days)
    known_slots = np.bincount(index, daylight & known, n_days)
    usable = (
        (daylight_slots > 0)
        & (known_slots >= 0.9 * daylight_slots)
        & (model_energy > 0)
    )
    if usable.sum() < 3:
        return Calibration()
    ratio = np.full(n_days, np.nan)
    ratio[usable] = measured_energy[usable] / model_energy[usable]
    scale = float(np.clip(np.quantile(ratio[usable], clear_quantile), *_SCALE_RANGE))
    hourly = np.ones(24)
    if learn_shape:
        clear_day = usable & (ratio >= 0.8 * scale)
        in_clear = clear_day[index] & daylight & known
        hour = np.floor(hours).astype(np.int64) % 24
        model_hour = np.bincount(hour, np.where(in_clear, model * scale, 0.0), 24)
        measured_hour = np.bincount(hour, np.where(in_clear, values, 0.0), 24)
        # Hours with hardly any modelled energy (dawn, dusk) keep no correction: their ratios are noise.
        solid = (
            model_hour >= 0.02 * model_hour.max()
            if model_hour.max() > 0
            else model_hour > 0
        )
        hourly[solid] = np.clip(measured_hour[solid] / model_hour[solid], *_SHAPE_RANGE)
    age = np.arange(n_days)[::-1][usable]
    weights = clearness_decay**age
    clearness = float(weights @ (ratio[usable] / scale) / weights.sum())
    return Calibration(
        scale=scale, hourly=hourly, clearness=clearness, days=int(usable.sum())
    )
