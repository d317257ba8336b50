"""The simulated battery and the demo site's replay of real data."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from custom_components.phoenyra_ems.engine.model import Battery
from custom_components.phoenyra_ems.engine.simulator import (
    BatterySimulator,
    DemoSite,
    SiteSeries,
    slot_start,
)

BATTERY = Battery(
    capacity_kwh=10, max_charge_kw=5, max_discharge_kw=4, soc_min_pct=10, soc_max_pct=90
)


def test_charging_follows_efficiency_and_stops_at_the_window() -> None:
    sim = BatterySimulator(BATTERY, 50)
    assert sim.step(-5, 1800) == pytest.approx(-5)
    # 2.5 kWh charged, 95 % stored.
    assert sim.soc_pct == pytest.approx(50 + 2.5 * 0.95 * 10, abs=0.01)
    # Only 1.625 kWh of room is left below 90 %: the next hour is cut short.
    power = sim.step(-5, 3600)
    assert power == pytest.approx(-(90 - 73.75) / 100 * 10 / 0.95, rel=1e-3)
    assert sim.soc_pct == pytest.approx(90, abs=1e-6)
    # Full: only what self-discharge lost in that minute can go in.
    assert sim.step(-5, 60) == pytest.approx(0, abs=1e-3)


def test_discharge_is_limited_by_power_and_window() -> None:
    sim = BatterySimulator(BATTERY, 20)
    assert sim.step(10, 60) == pytest.approx(4)
    sim.step(4, 3600 * 5)
    assert sim.soc_pct == pytest.approx(10, abs=1e-6)
    assert sim.step(4, 60) == 0


def test_idle_self_discharge() -> None:
    sim = BatterySimulator(BATTERY, 50)
    sim.step(0, 30 * 24 * 3600)
    assert 47 < sim.soc_pct < 49.5


def test_series_replays_weekdays_and_times() -> None:
    series = SiteSeries.load_bundled()
    assert series.step_min == 15
    assert series.period_min == 4 * 7 * 24 * 60
    # Real data: negative prices around noon in May, PV only in daylight.
    assert series.price_eur_kwh.min() < 0
    monday = datetime(2026, 11, 23)
    assert series.index(monday) % (7 * 96) == 0
    assert (
        series.index(monday + timedelta(hours=13, minutes=20)) % (7 * 96) == 13 * 4 + 1
    )
    night = [series.at(monday + timedelta(days=d, hours=2))[2] for d in range(28)]
    assert max(night) == 0
    # Four weeks on, the replay starts over.
    assert series.at(monday) == series.at(monday + timedelta(weeks=4))


def test_window_averages_into_slots() -> None:
    series = SiteSeries.load_bundled()
    start = datetime(2026, 11, 24, 8)
    spot, load, _pv = series.window(start, 4, 60)
    quarter_spot, quarter_load, _ = series.window(start, 16, 15)
    assert spot == pytest.approx(quarter_spot.reshape(4, 4).mean(axis=1))
    assert load == pytest.approx(quarter_load.reshape(4, 4).mean(axis=1))


def test_demo_site_balances_power() -> None:
    site = DemoSite(SiteSeries.load_bundled(), BATTERY, soc_pct=50)
    t = datetime(2026, 11, 24, 12)
    site.step(t, 0)
    m = site.step(t + timedelta(minutes=5), 3)
    assert m.battery_kw == pytest.approx(3)
    assert m.grid_kw == pytest.approx(m.load_kw - m.pv_kw - m.battery_kw)
    assert m.soc_pct < 50


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 1, 1, 10, 7, 30), datetime(2026, 1, 1, 10, 0)),
        (datetime(2026, 1, 1, 10, 15), datetime(2026, 1, 1, 10, 15)),
        (datetime(2026, 1, 1, 23, 59), datetime(2026, 1, 1, 23, 45)),
    ],
)
def test_slot_start(moment: datetime, expected: datetime) -> None:
    assert slot_start(moment, 15) == expected


def test_window_is_float_array() -> None:
    spot, _, _ = SiteSeries.load_bundled().window(datetime(2026, 1, 1), 3, 15)
    assert spot.dtype == np.float64
