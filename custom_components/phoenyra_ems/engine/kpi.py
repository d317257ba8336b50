"""Key figures of a running site: energy through the battery, realized profit, cycles, autarky.

The control loop feeds one measurement per tick; the tracker integrates it over the time since the
previous one and keeps the totals since the start, today's figures and one record per finished day.
Everything converts to and from plain dictionaries, so the glue can persist it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timedelta
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Measurement

# Days of daily records kept: a year and a month, enough for a year-on-year month.
DAYS_KEPT = 400


@dataclass(kw_only=True, slots=True)
class EnergyTotals:
    """Energy flows (kWh) and costs (EUR) of a period, with and without the battery.

    The baseline is the same site without a battery: its grid exchange is load minus PV.
    """

    hours: float = 0.0
    import_kwh: float = 0.0
    export_kwh: float = 0.0
    charged_kwh: float = 0.0
    discharged_kwh: float = 0.0
    load_kwh: float = 0.0
    pv_kwh: float = 0.0
    cost_eur: float = 0.0
    baseline_cost_eur: float = 0.0
    # Integral of the state of charge over time (percent hours): divided by hours, the mean.
    soc_pct_hours: float = 0.0
    # Hours without a known price: their energy is counted, their cost and profit are not.
    unpriced_hours: float = 0.0
    # Hours each strategy was active.
    strategy_hours: dict[str, float] = field(default_factory=dict)

    def book(
        self,
        measurement: Measurement,
        hours: float,
        import_price_eur_kwh: float,
        export_price_eur_kwh: float,
        strategy: str | None,
    ) -> None:
        """Add ``hours`` at the powers of ``measurement`` and the given prices.

        A price that is not a number (none known now) leaves the costs alone.
        """
        grid_kw = measurement.grid_kw
        baseline_kw = measurement.load_kw - measurement.pv_kw
        self.hours += hours
        self.import_kwh += max(grid_kw, 0.0) * hours
        self.export_kwh += max(-grid_kw, 0.0) * hours
        self.charged_kwh += max(-measurement.battery_kw, 0.0) * hours
        self.discharged_kwh += max(measurement.battery_kw, 0.0) * hours
        self.load_kwh += measurement.load_kw * hours
        self.pv_kwh += measurement.pv_kw * hours
        if math.isfinite(import_price_eur_kwh) and math.isfinite(export_price_eur_kwh):
            self.cost_eur += (
                _cost(grid_kw, import_price_eur_kwh, export_price_eur_kwh) * hours
            )
            self.baseline_cost_eur += (
                _cost(baseline_kw, import_price_eur_kwh, export_price_eur_kwh) * hours
            )
        else:
            self.unpriced_hours += hours
        self.soc_pct_hours += measurement.soc_pct * hours
        if strategy is not None:
            self.strategy_hours[strategy] = (
                self.strategy_hours.get(strategy, 0.0) + hours
            )

    @property
    def profit_eur(self) -> float:
        """What the battery saved against the same site without it (negative: it cost)."""
        return self.baseline_cost_eur - self.cost_eur

    @property
    def average_soc_pct(self) -> float | None:
        """Time-weighted mean state of charge, None before any time was booked."""
        return self.soc_pct_hours / self.hours if self.hours > 0 else None

    @property
    def self_consumption_ratio(self) -> float | None:
        """Share of the PV energy used on site (not exported), None without PV."""
        if self.pv_kwh <= 0:
            return None
        return 1 - min(self.export_kwh, self.pv_kwh) / self.pv_kwh

    @property
    def autarky(self) -> float | None:
        """Share of the load not bought from the grid, None without load."""
        if self.load_kwh <= 0:
            return None
        return 1 - min(self.import_kwh, self.load_kwh) / self.load_kwh

    def cycles(self, window_kwh: float) -> float:
        """Equivalent full cycles: energy discharged over the usable window of the battery."""
        return self.discharged_kwh / window_kwh

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for storage."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> EnergyTotals:
        """Read what ``as_dict`` wrote; raises ValueError or TypeError on anything else."""
        if not isinstance(data, dict):
            raise TypeError("energy totals must be a mapping")
        values: dict[str, Any] = {}
        for item in fields(cls):
            if item.name not in data:
                continue
            raw = data[item.name]
            if item.name == "strategy_hours":
                if not isinstance(raw, dict):
                    raise TypeError("strategy_hours must be a mapping")
                values[item.name] = {
                    str(key): _finite(value, key) for key, value in raw.items()
                }
            else:
                values[item.name] = _finite(raw, item.name)
        return cls(**values)


def _cost(grid_kw: float, import_price: float, export_price: float) -> float:
    """Cost per hour of exchanging ``grid_kw`` with the grid (+ import, - export)."""
    return max(grid_kw, 0.0) * import_price - max(-grid_kw, 0.0) * export_price


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} is not a number")
    if not math.isfinite(value):
        raise ValueError(f"{name} is not finite")
    return float(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class DailyRecord:
    """One finished local day's figures."""

    day: date
    totals: EnergyTotals

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for storage."""
        return {"day": self.day.isoformat(), "totals": self.totals.as_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> DailyRecord:
        """Read what ``as_dict`` wrote; raises ValueError or TypeError on anything else."""
        if not isinstance(data, dict) or not isinstance(data.get("day"), str):
            raise TypeError("a daily record needs a day")
        return cls(
            day=date.fromisoformat(data["day"]),
            totals=EnergyTotals.from_dict(data.get("totals")),
        )


class KpiTracker:
    """Integrates measurements into totals, today's figures and daily records.

    A gap longer than ``max_gap`` (Home Assistant was stopped, the device was unreachable) is not
    booked: nobody knows what flowed then, and booking the last powers over hours would invent
    energy. A measurement older than the previous one (a clock change) is ignored.
    """

    def __init__(self, max_gap: timedelta) -> None:
        """Start with nothing booked."""
        self.max_gap = max_gap
        self.total = EnergyTotals()
        self.today = EnergyTotals()
        self.day: date | None = None
        self.days: list[DailyRecord] = []
        self.last_time: datetime | None = None

    def update(
        self,
        measurement: Measurement,
        local_day: date,
        import_price_eur_kwh: float,
        export_price_eur_kwh: float,
        strategy: str | None,
    ) -> None:
        """Book the time since the previous measurement at ``measurement``'s powers.

        ``local_day`` is the measurement's local date: when it changes, today is closed into a daily
        record and starts again from zero.
        """
        if self.day is None:
            self.day = local_day
        elif local_day != self.day:
            self._close_day()
            self.day = local_day
        previous, now = self.last_time, measurement.time
        if previous is not None and now <= previous:
            return
        self.last_time = now
        if previous is None or now - previous > self.max_gap:
            return
        hours = (now - previous).total_seconds() / 3600
        for totals in (self.total, self.today):
            totals.book(
                measurement,
                hours,
                import_price_eur_kwh,
                export_price_eur_kwh,
                strategy,
            )

    def _close_day(self) -> None:
        if self.day is not None and self.today.hours > 0:
            self.days.append(DailyRecord(day=self.day, totals=self.today))
            del self.days[:-DAYS_KEPT]
        self.today = EnergyTotals()

    def records(self, since: date) -> list[DailyRecord]:
        """Finished days from ``since`` on, and today so far, oldest first."""
        out = [record for record in self.days if record.day >= since]
        if self.day is not None and self.day >= since and self.today.hours > 0:
            out.append(DailyRecord(day=self.day, totals=self.today))
        return out

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for storage."""
        return {
            "total": self.total.as_dict(),
            "today": self.today.as_dict(),
            "day": self.day.isoformat() if self.day else None,
            "days": [record.as_dict() for record in self.days],
            "last_time": self.last_time.isoformat() if self.last_time else None,
        }

    @classmethod
    def from_dict(cls, data: Any, max_gap: timedelta) -> KpiTracker:
        """Read what ``as_dict`` wrote; raises ValueError or TypeError on anything else."""
        if not isinstance(data, dict):
            raise TypeError("KPI data must be a mapping")
        tracker = cls(max_gap)
        tracker.total = EnergyTotals.from_dict(data.get("total", {}))
        tracker.today = EnergyTotals.from_dict(data.get("today", {}))
        day, last_time = data.get("day"), data.get("last_time")
        tracker.day = date.fromisoformat(day) if isinstance(day, str) else None
        tracker.last_time = (
            datetime.fromisoformat(last_time) if isinstance(last_time, str) else None
        )
        days = data.get("days", [])
        if not isinstance(days, list):
            raise TypeError("days must be a list")
        tracker.days = [DailyRecord.from_dict(item) for item in days][-DAYS_KEPT:]
        return tracker
