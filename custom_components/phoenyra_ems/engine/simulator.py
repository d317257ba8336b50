"""A simulated battery and the demo site that replays real load, PV and prices around it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
import gzip
from importlib import resources

import numpy as np

from .model import Battery, FloatArray, Measurement

_WEEK_MIN = 7 * 24 * 60
# The bundled data starts on this Monday; replay keeps weekdays by mapping whole weeks onto it.
_DATA_FIRST_MONDAY = date(2024, 4, 29)


class BatterySimulator:
    """A battery whose stored energy follows the power it is asked for, within every limit.

    Setpoints follow the engine's convention: positive discharges, negative charges.
    """

    def __init__(self, battery: Battery, soc_pct: float) -> None:
        """Start at ``soc_pct`` percent, idle."""
        self.battery = battery
        self._energy_kwh = battery.capacity_kwh * min(max(soc_pct, 0.0), 100.0) / 100
        self.power_kw = 0.0

    @property
    def soc_pct(self) -> float:
        """State of charge in percent of the usable capacity."""
        return self._energy_kwh / self.battery.capacity_kwh * 100

    def step(self, setpoint_kw: float, seconds: float) -> float:
        """Run the battery for ``seconds`` at ``setpoint_kw`` and return the power it really delivered.

        The power is limited by the charge and discharge limits and by the energy the SoC window
        still allows in that time; idle self-discharge applies throughout.
        """
        bat = self.battery
        hours = max(seconds, 0.0) / 3600
        self._energy_kwh *= 1 - bat.self_discharge_per_h * hours
        power = min(max(setpoint_kw, -bat.max_charge_kw), bat.max_discharge_kw)
        if hours > 0 and power > 0:
            room_kwh = max(self._energy_kwh - bat.energy_min_kwh, 0.0)
            power = min(power, room_kwh * bat.discharge_efficiency / hours)
            self._energy_kwh -= power * hours / bat.discharge_efficiency
        elif hours > 0 and power < 0:
            room_kwh = max(bat.energy_max_kwh - self._energy_kwh, 0.0)
            power = max(power, -room_kwh / bat.charge_efficiency / hours)
            self._energy_kwh -= power * hours * bat.charge_efficiency
        self.power_kw = power
        return power


@dataclass(frozen=True, slots=True)
class SiteSeries:
    """Real prices, load and PV of four weeks at 15-minute resolution, replayed week by week."""

    step_min: int
    price_eur_kwh: FloatArray
    load_kw: FloatArray
    pv_kw: FloatArray

    @classmethod
    def load_bundled(cls) -> SiteSeries:
        """Read the bundled demo data (a file read: call it off the event loop)."""
        raw = (
            resources.files(__package__).joinpath("data/demo_site.csv.gz").read_bytes()
        )
        table = np.loadtxt(
            gzip.decompress(raw).decode().splitlines(), delimiter=",", skiprows=1
        )
        step = int(table[1, 0] - table[0, 0])
        return cls(
            step_min=step,
            price_eur_kwh=table[:, 1] / 1000,
            load_kw=table[:, 2] / 1000,
            pv_kw=table[:, 3] / 1000,
        )

    @property
    def period_min(self) -> int:
        """Length of the replayed period in minutes (whole weeks)."""
        return len(self.load_kw) * self.step_min

    def index(self, local: datetime) -> int:
        """Slot of the data that replays at local wall-clock time ``local``."""
        weeks = (local.date() - _DATA_FIRST_MONDAY).days // 7
        offset = (
            (weeks * _WEEK_MIN) % self.period_min
            + local.weekday() * 1440
            + local.hour * 60
            + local.minute
        )
        return (offset % self.period_min) // self.step_min

    def window(
        self, local_start: datetime, slots: int, slot_minutes: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Prices (EUR/kWh), load and PV (kW) for ``slots`` slots of ``slot_minutes`` from ``local_start``.

        Each slot takes the mean of the data slots it covers.
        """
        per_slot = max(1, slot_minutes // self.step_min)
        first = self.index(local_start)
        positions = (first + np.arange(slots * per_slot)) % len(self.load_kw)

        def mean(series: FloatArray) -> FloatArray:
            return np.asarray(
                series[positions].reshape(slots, per_slot).mean(axis=1),
                dtype=np.float64,
            )

        return mean(self.price_eur_kwh), mean(self.load_kw), mean(self.pv_kw)

    def at(self, local: datetime) -> tuple[float, float, float]:
        """Price (EUR/kWh), load and PV (kW) at one moment."""
        i = self.index(local)
        return (
            float(self.price_eur_kwh[i]),
            float(self.load_kw[i]),
            float(self.pv_kw[i]),
        )


def slot_start(moment: datetime, slot_minutes: int) -> datetime:
    """Start of the slot of ``slot_minutes`` that contains ``moment``."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = (moment - midnight) // timedelta(minutes=1)
    return midnight + timedelta(minutes=minutes - minutes % slot_minutes)


class DemoSite:
    """A simulated site: the battery simulator inside a household replayed from real data."""

    def __init__(
        self, series: SiteSeries, battery: Battery, soc_pct: float = 50.0
    ) -> None:
        """Put a battery at ``soc_pct`` percent into the replayed household."""
        self.series = series
        self.battery = BatterySimulator(battery, soc_pct)
        self._last: datetime | None = None

    def step(self, local_now: datetime, setpoint_kw: float) -> Measurement:
        """Run the battery at ``setpoint_kw`` since the previous step and measure the site now."""
        seconds = (
            0.0
            if self._last is None
            else max((local_now - self._last).total_seconds(), 0.0)
        )
        self._last = local_now
        battery_kw = self.battery.step(setpoint_kw, seconds)
        _, load_kw, pv_kw = self.series.at(local_now)
        return Measurement(
            time=local_now,
            soc_pct=self.battery.soc_pct,
            battery_kw=battery_kw,
            grid_kw=load_kw - pv_kw - battery_kw,
            pv_kw=pv_kw,
            load_kw=load_kw,
        )
