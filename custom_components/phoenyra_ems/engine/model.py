"""Plain data types of the planning model."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from datetime import datetime

type FloatArray = npt.NDArray[np.float64]

# Weight of each other outcome (PlanningProblem.net_load_outcomes_kw) in a plan's objective; the
# forecast weighs the rest. 2024 backtest (arbitrage), the recent seven days' departures as outcomes:
# 0.1 captured 0.9008 of the perfect-foresight saving (0.9002 as prototyped), 0.075 0.9005 and 0.125
# (the forecast weighing nothing) 0.8988 as prototyped; the sunnier day they replace, weighing 0.15,
# 0.8872 (benchmarks/README.md).
OUTCOME_WEIGHT = 0.1

# Prices closer than this (EUR/kWh) are equal to the control loop: see Plan._cheapest_kw.
_TIE_EUR_KWH = 0.002


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise InvalidInputError(name, message)


@dataclass(frozen=True, kw_only=True, slots=True)
class Measurement:
    """What the site measures at one moment (powers in kW, sign conventions of the package)."""

    time: datetime
    soc_pct: float
    battery_kw: float
    grid_kw: float
    pv_kw: float
    load_kw: float


class Strategy(StrEnum):
    """The operating strategies of the EMS."""

    ARBITRAGE = "arbitrage"
    PEAK_SHAVING = "peak_shaving"
    SELF_CONSUMPTION = "self_consumption"
    LOAD_BALANCING = "load_balancing"


class InvalidInputError(ValueError):
    """An input of the planning problem is missing, not a number or out of range.

    ``field`` names the offending input so that the user can be told which one.
    """

    def __init__(self, field: str, message: str) -> None:
        """Describe what is wrong with ``field``."""
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, kw_only=True, slots=True)
class Battery:
    """The battery's usable energy, power limits, efficiencies and state-of-charge window."""

    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    soc_min_pct: float = 10.0
    soc_max_pct: float = 90.0
    # Fraction of the stored energy lost per hour while idle (lithium cells: ~2-3 % a month).
    self_discharge_per_h: float = 0.00004

    def __post_init__(self) -> None:
        """Reject impossible values."""
        _require(self.capacity_kwh > 0, "capacity_kwh", "must be greater than 0")
        _require(self.max_charge_kw > 0, "max_charge_kw", "must be greater than 0")
        _require(
            self.max_discharge_kw > 0, "max_discharge_kw", "must be greater than 0"
        )
        for name in ("charge_efficiency", "discharge_efficiency"):
            value = getattr(self, name)
            _require(0 < value <= 1, name, "must be greater than 0 and at most 1")
        _require(
            0 <= self.soc_min_pct < self.soc_max_pct <= 100,
            "soc_min_pct",
            "requires 0 <= soc_min_pct < soc_max_pct <= 100",
        )
        _require(
            0 <= self.self_discharge_per_h < 1,
            "self_discharge_per_h",
            "must be in [0, 1)",
        )

    @property
    def energy_min_kwh(self) -> float:
        """Lowest stored energy the window allows."""
        return self.capacity_kwh * self.soc_min_pct / 100

    @property
    def energy_max_kwh(self) -> float:
        """Highest stored energy the window allows."""
        return self.capacity_kwh * self.soc_max_pct / 100


@dataclass(frozen=True, kw_only=True, slots=True)
class Grid:
    """Limits of the grid connection."""

    max_import_kw: float
    max_export_kw: float

    def __post_init__(self) -> None:
        """Reject impossible values."""
        _require(self.max_import_kw > 0, "max_import_kw", "must be greater than 0")
        _require(self.max_export_kw > 0, "max_export_kw", "must be greater than 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class Tariff:
    """How the site pays for imported energy and is paid for exported energy.

    import price = (spot + grid fee) x (1 + VAT); export price = spot, or a fixed feed-in tariff.
    """

    vat_pct: float = 20.0
    grid_fee_eur_kwh: float = 0.10
    export_at_spot: bool = True
    feed_in_eur_kwh: float = 0.08
    # Many retail contracts pay no less than this for exported energy (e.g. 0: negative spot prices
    # are not charged for export); None passes negative spot prices on.
    export_floor_eur_kwh: float | None = None

    def import_price(self, spot_eur_kwh: FloatArray) -> FloatArray:
        """Retail import price per slot in EUR/kWh."""
        return (spot_eur_kwh + self.grid_fee_eur_kwh) * (1 + self.vat_pct / 100)

    def export_price(self, spot_eur_kwh: FloatArray) -> FloatArray:
        """Export remuneration per slot in EUR/kWh."""
        if not self.export_at_spot:
            return np.full_like(spot_eur_kwh, self.feed_in_eur_kwh)
        if self.export_floor_eur_kwh is None:
            return spot_eur_kwh.copy()
        return np.maximum(spot_eur_kwh, self.export_floor_eur_kwh)


@dataclass(frozen=True, kw_only=True, slots=True)
class Objective:
    """Weights and switches of the planning objective; the four strategies are presets of these.

    All costs are in EUR: energy at the tariff, wear per kWh through the battery, a demand charge on
    the highest import of the horizon above the peak already reached this billing period, two
    smoothing terms on grid power (its change from slot to slot, and its distance from a target),
    and a reward per kWh stored per hour that only breaks ties (see strategies.HOLDING_EUR_KWH_H).
    """

    degradation_eur_kwh: float = 0.0
    peak_eur_kw: float = 0.0
    peak_floor_kw: float = 0.0
    ramp_eur_kw: float = 0.0
    flatten_eur_kw: float = 0.0
    holding_eur_kwh_h: float = 0.0
    grid_charging: bool = True
    battery_export: bool = True
    # The battery discharges only to cut import above the peak floor, and its control loop keeps it
    # full below that (Plan.setpoint_kw): peak shaving keeps its energy for the peaks.
    reserve_for_peaks: bool = False

    def __post_init__(self) -> None:
        """Reject impossible values."""
        for name in (
            "degradation_eur_kwh",
            "peak_eur_kw",
            "peak_floor_kw",
            "ramp_eur_kw",
            "flatten_eur_kw",
            "holding_eur_kwh_h",
        ):
            value = getattr(self, name)
            _require(
                bool(np.isfinite(value)) and value >= 0, name, "must be a number >= 0"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanningProblem:
    """Everything the optimizer needs for one plan.

    Series have one value per slot; powers are mean kW over the slot.
    """

    start: datetime
    slot_minutes: int
    spot_eur_kwh: FloatArray
    load_kw: FloatArray
    pv_kw: FloatArray
    soc_pct: float
    battery: Battery
    grid: Grid
    tariff: Tariff
    strategy: Strategy = Strategy.ARBITRAGE
    objective: Objective = Objective()
    # Value of one kWh left in the battery at the end; None takes terminal_value_eur_kwh()'s default.
    terminal_value_eur_kwh: float | None = None
    # What grid power is flattened towards (kW per slot), when the objective flattens.
    grid_target_kw: FloatArray | None = None
    # A cautious load forecast (kW per slot): a load each slot rarely exceeds. Peak shaving plans on
    # it, so that its import limit holds on a busier day than the usual one.
    load_high_kw: FloatArray | None = None
    # Other net loads (load minus PV, kW per slot) the site may see: the forecast with each of the
    # recent days' departures from their usual day (forecast.net_load_outcomes). The plan's one battery
    # schedule is costed against each of them as well as the forecast, each weighing OUTCOME_WEIGHT,
    # over the plan's first optimizer.OUTCOME_HOURS, so that it does not stake everything on the
    # forecast: a battery filled from the grid before a sunnier day than forecast spills that day's
    # PV into the grid, one sold in the morning before a dull day buys it back dearer.
    net_load_outcomes_kw: tuple[FloatArray, ...] = ()

    def __post_init__(self) -> None:
        """Reject impossible values."""
        _require(self.slot_minutes > 0, "slot_minutes", "must be greater than 0")
        _require(
            len(self.net_load_outcomes_kw) * OUTCOME_WEIGHT < 1,
            "net_load_outcomes_kw",
            f"at most {math.ceil(1 / OUTCOME_WEIGHT) - 1} outcomes",
        )
        lengths = {len(self.spot_eur_kwh), len(self.load_kw), len(self.pv_kw)}
        _require(
            len(lengths) == 1,
            "series",
            f"price, load and PV lengths differ: {sorted(lengths)}",
        )
        _require(len(self.spot_eur_kwh) > 0, "series", "at least one slot is needed")
        # Every per-slot series: (name, must not be negative); the optional ones may be None.
        for name, nonnegative in (
            ("spot_eur_kwh", False),
            ("load_kw", True),
            ("pv_kw", True),
            ("grid_target_kw", False),
            ("load_high_kw", True),
        ):
            series = getattr(self, name)
            if series is None:
                continue
            _require(len(series) == self.slots, name, "needs one value per slot")
            bad = np.flatnonzero(~np.isfinite(series))
            _require(
                bad.size == 0,
                name,
                f"not a number at slot {int(bad[0]) if bad.size else 0}",
            )
            if nonnegative:
                _require(bool(np.all(series >= 0)), name, "must not be negative")
        for outcome in self.net_load_outcomes_kw:
            _require(
                len(outcome) == self.slots,
                "net_load_outcomes_kw",
                "needs one value per slot",
            )
            _require(
                bool(np.all(np.isfinite(outcome))),
                "net_load_outcomes_kw",
                "must be numbers",
            )
        _require(bool(np.isfinite(self.soc_pct)), "soc_pct", "is not a number")
        _require(0 <= self.soc_pct <= 100, "soc_pct", "must be between 0 and 100")
        if self.terminal_value_eur_kwh is not None:
            _require(
                bool(np.isfinite(self.terminal_value_eur_kwh)),
                "terminal_value_eur_kwh",
                "is not a number",
            )

    @property
    def slots(self) -> int:
        """Number of slots in the horizon."""
        return len(self.spot_eur_kwh)

    @property
    def slot_hours(self) -> float:
        """Length of one slot in hours."""
        return self.slot_minutes / 60


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """A battery schedule and what it costs, one value per slot.

    ``soc_pct`` is the state of charge at the end of each slot.
    """

    start: datetime
    slot_minutes: int
    strategy: Strategy
    engine: str
    status: str
    solve_ms: float
    initial_soc_pct: float
    battery: Battery
    battery_kw: FloatArray
    soc_pct: FloatArray
    grid_import_kw: FloatArray
    grid_export_kw: FloatArray
    pv_curtailed_kw: FloatArray
    import_price_eur_kwh: FloatArray
    export_price_eur_kwh: FloatArray
    cost_eur: FloatArray
    baseline_cost_eur: FloatArray
    # The forecast the plan was made for: load minus PV per slot (kW).
    net_load_kw: FloatArray
    # The solver's objective: energy cost, wear, demand charge, smoothing and penalties, less the
    # value of the energy left at the end.
    objective_eur: float
    # Marginal value of one more kWh stored at the end of each slot (EUR/kWh).
    stored_energy_value_eur_kwh: FloatArray
    terminal_value_eur_kwh: float
    # The highest grid import the plan allows itself where its objective charges for import peaks
    # (a demand charge, peak shaving, load balancing); None where peaks cost nothing.
    peak_limit_kw: float | None = None
    # Planned with Objective.reserve_for_peaks: the control loop keeps the battery for the peaks.
    reserve_for_peaks: bool = False
    # Import the plan counts as paid already or held safely (Objective.peak_floor_kw): the month's
    # peak, or peak shaving's held limit. The control loop recharges the reserved battery only up to it.
    peak_floor_kw: float = 0.0

    @property
    def slots(self) -> int:
        """Number of slots in the plan."""
        return len(self.battery_kw)

    def setpoint_kw(self, index: int, net_load_kw: float) -> float:
        """Return the battery power for slot ``index`` when the site's net load is ``net_load_kw`` now.

        The plan was made for a forecast net load; the measured one differs. Two candidates:
        the planned battery power, and the power that holds the planned grid exchange (the battery
        takes up the whole forecast error, counting the PV the plan curtails: where the site does
        not curtail, that PV arrives as well). Holding the exchange never makes the battery trade
        with the grid beyond the plan: it discharges more than planned only to cover the site's own
        load, and charges more than planned only from the site's own surplus.

        Between the two, the plan's own marginal value of stored energy decides: the setpoint
        moves from the held exchange towards the planned power as far as the slot's prices say
        that the energy is worth more kept (or, when charging, more sold) than used now. Over a year
        of real data (benchmarks/README.md) weighing the marginal value took the capture ratio of
        the perfect-foresight saving from 0.836 to 0.841. Where the plan has
        a peak limit, the battery discharges as far as needed to keep import below it; where the
        plan reserves the battery for peaks, it does only that, and recharges while import is
        below the plan's floor (peak_floor_kw).
        """
        if self.peak_limit_kw is not None and self.reserve_for_peaks:
            # Discharge only above the limit, recharge below it: on the commercial benchmark the
            # battery otherwise ran empty before the month's peak. Recharge only up to the floor:
            # a limit the cautious forecast raised (an empty battery before a busy day) is no import
            # to reach by charging; in automatic mode that made the year's highest import.
            if net_load_kw > self.peak_limit_kw:
                return min(
                    net_load_kw - self.peak_limit_kw, self.battery.max_discharge_kw
                )
            ceiling = min(self.peak_limit_kw, self.peak_floor_kw)
            return max(min(net_load_kw - ceiling, 0.0), -self.battery.max_charge_kw)
        planned_kw = float(self.battery_kw[index])
        planned_grid_kw = (
            float(self.net_load_kw[index])
            + float(self.pv_curtailed_kw[index])
            - planned_kw
        )
        held_kw = net_load_kw - planned_grid_kw
        if held_kw > max(planned_kw, 0.0):
            held_kw = max(planned_kw, min(held_kw, max(net_load_kw, 0.0)))
        elif held_kw < min(planned_kw, 0.0):
            held_kw = min(planned_kw, max(held_kw, min(net_load_kw, 0.0)))
        low, high = self._cheapest_kw(index, net_load_kw)
        setpoint = min(max(held_kw, low), high)
        setpoint = min(
            max(setpoint, min(planned_kw, held_kw)), max(planned_kw, held_kw)
        )
        if self.peak_limit_kw is not None:
            setpoint = max(setpoint, net_load_kw - self.peak_limit_kw)
        return setpoint

    def _cheapest_kw(self, index: int, net_load_kw: float) -> tuple[float, float]:
        """Return the range of battery powers that cost least in slot ``index`` at net load ``net_load_kw``.

        Valued at the slot's prices and at the plan's marginal value v of stored energy, the cost
        of the slot is convex and piecewise linear in the battery power x (+ discharge), with kinks
        at 0 and at the net load. Its slopes, in EUR per kWh at the meter:
        below both kinks (charging from the grid) v * eta_c - import price; between them
        v / eta_d - import price (discharging to cover load) or v * eta_c - export price (charging
        from surplus); above both (discharging into the grid) v / eta_d - export price.
        Slopes within a fifth of a cent of zero count as flat: the plan's duals are exact ties
        more often than not, and a tie is no reason to depart from the held exchange.
        """
        value = max(float(self.stored_energy_value_eur_kwh[index]), 0.0)
        import_price = float(self.import_price_eur_kwh[index])
        export_price = min(float(self.export_price_eur_kwh[index]), import_price)
        eta_c = self.battery.charge_efficiency
        eta_d = self.battery.discharge_efficiency
        kinks = (min(0.0, net_load_kw), max(0.0, net_load_kw))
        between = (
            value / eta_d - import_price
            if net_load_kw > 0
            else value * eta_c - export_price
        )
        slopes = (value * eta_c - import_price, between, value / eta_d - export_price)
        low, high = -self.battery.max_charge_kw, self.battery.max_discharge_kw
        # The cost falls up to the first kink after which it no longer falls, and rises from the
        # last kink before which it did not yet rise.
        lowest = next(
            (
                edge
                for edge, slope in zip((low, *kinks), slopes, strict=True)
                if slope > -_TIE_EUR_KWH
            ),
            high,
        )
        highest = next(
            (
                edge
                for edge, slope in zip((high, *kinks[::-1]), slopes[::-1], strict=True)
                if slope < _TIE_EUR_KWH
            ),
            low,
        )
        return min(max(lowest, low), high), min(max(highest, low), high)

    def slot_index(self, when: datetime) -> int | None:
        """Index of the slot that contains ``when``, or None outside the plan."""
        offset_min = (when - self.start).total_seconds() / 60
        index = int(offset_min // self.slot_minutes)
        return index if 0 <= index < self.slots else None

    def expected_profit_eur(self, hours: float = 24.0) -> float:
        """Return the saving against the same site without battery over the first ``hours``.

        Energy left in the battery at the end of that window counts at the plan's terminal
        value, so charging late in the window is not reported as a loss.
        """
        n = max(1, min(self.slots, round(hours * 60 / self.slot_minutes)))
        saving = float(self.baseline_cost_eur[:n].sum() - self.cost_eur[:n].sum())
        stored_kwh = (
            (float(self.soc_pct[n - 1]) - self.initial_soc_pct)
            / 100
            * self.battery.capacity_kwh
        )
        return saving + stored_kwh * self.terminal_value_eur_kwh
