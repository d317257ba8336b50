"""Closed-loop replay of a whole period: the EMS re-plans every slot knowing only what it would know then.

Day-ahead prices appear at 12:45 Vienna time for the next day; until then the plan runs 48 hours ahead
and the prices not yet published come from the integration's price forecast (``forecast_prices``). Load
and PV come from the forecasters the integration uses, fed with the past only: the built-in load
forecast (last 21 days, weekday and weekend profiles in the site's time zone) and the recent days' PV
profile (as the demo site's PV); beside the PV forecast the plans weigh a sunnier day, as the
integration's do. The simulated battery executes the current slot and accounts with the
real load and PV. Compared on the same period: no battery, a perfect-foresight plan over the whole
period (the bound), a cheapest/dearest-hours rule and a plain self-consumption rule; for peak shaving,
the lowest import limit a battery full at each month's start holds through the month's real load.

For diagnosis: ``--perfect-forecasts [load|pv|both]`` plans with the real future load, PV or both,
``--pv-forecast-column`` with a published PV forecast averaged with the recent days (as the
integration plans with a solar forecast integration's).

    ./scripts/bench backtest [--start 2024-01-01 --end 2025-01-01] [--strategy arbitrage] ...
"""

from __future__ import annotations

import argparse
import bisect
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
import functools
import json
import math
from pathlib import Path
import time
from zoneinfo import ZoneInfo

import numpy as np

from custom_components.phoenyra_ems.engine.forecast import (
    CAUTIOUS_LOAD_QUANTILE,
    LOAD_QUANTILE,
    OUTCOME_DAYS,
    PEAK_HELD_DAYS,
    PV_DEPARTURE_REST_OF_TODAY,
    PV_PROFILE_DAYS,
    LoadForecastSettings,
    Series,
    blend_pv,
    forecast_loads,
    held_peak_kw,
    lowest_held_limits_kw,
    net_load_outcomes,
    recent_days_pv,
    recent_departures,
)
from custom_components.phoenyra_ems.engine.horizon import (
    PLAN_HORIZON,
    plan_end,
    prices_known_until,
)
from custom_components.phoenyra_ems.engine.model import (
    Battery,
    Grid,
    PlanningProblem,
    Strategy,
    Tariff,
)
from custom_components.phoenyra_ems.engine.optimizer import WarmStarts, solve_highs
from custom_components.phoenyra_ems.engine.prices import (
    FORECAST_WEEKS,
    PricePoint,
    forecast_prices,
)
from custom_components.phoenyra_ems.engine.simulator import BatterySimulator
from custom_components.phoenyra_ems.engine.strategies import (
    StrategySettings,
    plan_strategy,
    select,
)

from .data import HOUSEHOLD, PRICES_2024, SiteData, load_site, on_grid, read_power

# The market's clock: publication of the day-ahead prices, their time of day and weekday, the period.
LOCAL = ZoneInfo("Europe/Vienna")
# Days of load history the load forecast gets (as the integration reads from the recorder).
# The load history the integration reads: the load forecast's and peak shaving's held limit's.
LOAD_DAYS = max(LoadForecastSettings().days, PEAK_HELD_DAYS)
# Days of prices the price forecast looks back on from the plan's start.
PRICE_DAYS = FORECAST_WEEKS * 7 + 2


@dataclass(slots=True)
class Ledger:
    """Energy flows and cost of one way of running the site."""

    cost_eur: float = 0.0
    import_kwh: float = 0.0
    export_kwh: float = 0.0
    discharged_kwh: float = 0.0
    # PV turned away (a plan curtails at negative export prices): produced, but not used on site.
    curtailed_kwh: float = 0.0
    peak_import_kw: float = 0.0
    # Highest import of each billing month (what a demand charge bills), by (year, month).
    month_peaks_kw: dict[tuple[int, int], float] = field(default_factory=dict)
    # Energy cost of each billing month.
    month_costs_eur: dict[tuple[int, int], float] = field(default_factory=dict)

    def book(
        self,
        net_kw: float,
        import_price: float,
        export_price: float,
        dt: float,
        month: tuple[int, int],
    ) -> None:
        """Book one slot with site power ``net_kw`` at the grid (+ import, - export)."""
        imp, exp = max(net_kw, 0.0), max(-net_kw, 0.0)
        cost = dt * (imp * import_price - exp * export_price)
        self.cost_eur += cost
        self.month_costs_eur[month] = self.month_costs_eur.get(month, 0.0) + cost
        self.import_kwh += dt * imp
        self.export_kwh += dt * exp
        self.peak_import_kw = max(self.peak_import_kw, imp)
        self.month_peaks_kw[month] = max(self.month_peaks_kw.get(month, 0.0), imp)

    def mean_month_peak_kw(self) -> float:
        """Mean over the billing months of their highest import."""
        return float(np.mean(list(self.month_peaks_kw.values())))

    def demand_charge_eur(self, eur_per_kw: float) -> float:
        """Return what a demand charge of ``eur_per_kw`` bills: each month's peak at it."""
        return eur_per_kw * sum(self.month_peaks_kw.values())

    def self_consumption_ratio(self, pv_kwh: float) -> float | None:
        """Return the share of the PV used on site (exported or curtailed PV is not); None without PV."""
        if pv_kwh <= 0:
            return None
        return 1 - min(self.export_kwh + self.curtailed_kwh, pv_kwh) / pv_kwh

    def autarky(self, load_kwh: float) -> float:
        """Return the share of the load not drawn from the grid."""
        return 1 - self.import_kwh / load_kwh


def rounded(ratio: float | None) -> float | None:
    """Round a ratio for the output (None stays None)."""
    return None if ratio is None else round(ratio, 4)


def parse(argv: list[str]) -> argparse.Namespace:
    """Read the options (names fixed, so other data sets can be swapped in)."""
    p = argparse.ArgumentParser(prog="./scripts/bench backtest")
    p.add_argument("--prices", type=Path, default=PRICES_2024)
    p.add_argument("--load", type=Path, default=HOUSEHOLD)
    p.add_argument("--load-column", default="load_no_var_loads_w")
    p.add_argument("--pv", type=Path, default=HOUSEHOLD)
    p.add_argument("--pv-column", default="pv_power_w")
    p.add_argument("--no-pv", action="store_true", help="a site without PV")
    p.add_argument("--load-scale-kwh-per-year", type=float, default=None)
    p.add_argument("--capacity-kwh", type=float, default=10.0)
    p.add_argument("--soc-min", type=float, default=10.0)
    p.add_argument("--soc-max", type=float, default=90.0)
    p.add_argument("--power-kw", type=float, default=5.0)
    p.add_argument("--efficiency", type=float, default=0.95)
    p.add_argument(
        "--strategy",
        default="arbitrage",
        choices=["auto", *(s.value for s in Strategy)],
    )
    p.add_argument("--tariff", default="retail", choices=["retail", "spot"])
    p.add_argument("--grid-fee-eur-kwh", type=float, default=0.10)
    p.add_argument("--vat", type=float, default=0.20)
    p.add_argument("--degradation-eur-kwh", type=float, default=0.0)
    p.add_argument(
        "--peak-target-reduction",
        type=float,
        default=0.3,
        help="peak shaving's aim, 0 to 1",
    )
    p.add_argument(
        "--peak-threshold-percentile",
        type=float,
        default=StrategySettings().peak_threshold_percentile,
        help="peak shaving leaves import below this percentile of the forecast net load alone",
    )
    p.add_argument(
        "--demand-charge-eur-kw",
        type=float,
        default=0.0,
        help="per kW of the month's peak import",
    )
    p.add_argument(
        "--perfect-forecasts",
        nargs="?",
        const="both",
        default=None,
        choices=["load", "pv", "both"],
        help="give the EMS the real future load, PV or both (separates forecast error from "
        "planning); without a value both",
    )
    p.add_argument(
        "--pv-forecast-column",
        default=None,
        help="plan with this column of the PV file (W) as a solar forecast integration's, "
        "averaged with the recent days' PV as the integration does (pv_forecast_w: the "
        "forecast the shared household had); default: the recent days' PV alone, as the demo "
        "site",
    )
    p.add_argument(
        "--no-outcomes",
        action="store_true",
        help="plan on the forecasts alone, without weighing the recent days' departures from "
        "them as other outcomes",
    )
    p.add_argument(
        "--site-tz",
        default="Europe/Paris",
        help="the site's time zone: its load's weekday and time of day, its billing month "
        "(the shared household is in Lorraine)",
    )
    p.add_argument(
        "--cold-starts",
        action="store_true",
        help="solve every re-plan from scratch instead of from the previous plan's basis "
        "(as the integration does); same costs, slower",
    )
    p.add_argument(
        "--start", type=date.fromisoformat, help="first day (YYYY-MM-DD, local)"
    )
    p.add_argument(
        "--end", type=date.fromisoformat, help="day after the last (YYYY-MM-DD, local)"
    )
    return p.parse_args(argv)


def local_midnight(day: date) -> datetime:
    """Return local midnight of a date, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL).astimezone(UTC)


def known_until(t: datetime, data_end: int, site: SiteData) -> int:
    """Return the index one past the last slot whose price is published at time ``t``."""
    end = prices_known_until(t.astimezone(LOCAL)).astimezone(UTC)
    return min(data_end, int((end - site.start) / timedelta(minutes=site.step_min)))


def market_points(site: SiteData) -> tuple[list[PricePoint], list[int]]:
    """Return the period's prices as the market publishes them, and the slot each one starts in.

    The site's grid repeats an hourly price in each of its quarter-hours; the price forecast gets
    the hour once, as from aWATTar (four times as many points would only make it slower).
    """
    step = timedelta(minutes=site.step_min)
    points: list[PricePoint] = []
    slots: list[int] = []
    for k, price in enumerate(site.spot_eur_kwh):
        start = site.start + k * step
        # Within an hour, a slot at the price of the slot before continues its point.
        if points and start.minute != 0 and points[-1].price_eur_kwh == price:
            points[-1] = replace(points[-1], end=start + step)
            continue
        points.append(
            PricePoint(start=start, end=start + step, price_eur_kwh=float(price))
        )
        slots.append(k)
    return points, slots


def main(argv: list[str]) -> None:
    """Replay the period and print the comparison; the last line is JSON."""
    args = parse(argv)
    began, began_cpu = time.perf_counter(), time.process_time()
    start = local_midnight(args.start) if args.start else None
    end = local_midnight(args.end) if args.end else None
    site = load_site(
        prices=args.prices,
        load=args.load,
        load_column=args.load_column,
        pv=None if args.no_pv else args.pv,
        pv_column=args.pv_column,
    )
    if args.load_scale_kwh_per_year:
        yearly_kwh = site.load_kw.mean() * 8760
        site = SiteData(
            site.start,
            site.step_min,
            site.spot_eur_kwh,
            site.load_kw * args.load_scale_kwh_per_year / yearly_kwh,
            site.pv_kw,
            site.source,
        )
    first = (
        0
        if start is None
        else int((start - site.start) / timedelta(minutes=site.step_min))
    )
    last = (
        len(site.spot_eur_kwh)
        if end is None
        else int((end - site.start) / timedelta(minutes=site.step_min))
    )
    if not 0 <= first < last <= len(site.spot_eur_kwh):
        step = timedelta(minutes=site.step_min)
        last_slot = site.start + (len(site.spot_eur_kwh) - 1) * step
        raise ValueError(
            "--start and --end: the period must end after it starts, within the prices' "
            f"{site.start.astimezone(LOCAL).date()} to {last_slot.astimezone(LOCAL).date()}"
        )
    dt = site.step_min / 60
    per_day = round(24 * 60 / site.step_min)
    battery = Battery(
        capacity_kwh=args.capacity_kwh,
        max_charge_kw=args.power_kw,
        max_discharge_kw=args.power_kw,
        charge_efficiency=args.efficiency,
        discharge_efficiency=args.efficiency,
        soc_min_pct=args.soc_min,
        soc_max_pct=args.soc_max,
    )
    grid = Grid(max_import_kw=1000.0, max_export_kw=1000.0)
    if args.tariff == "retail":
        tariff = Tariff(
            vat_pct=args.vat * 100,
            grid_fee_eur_kwh=args.grid_fee_eur_kwh,
            export_floor_eur_kwh=0.0,
        )
    else:
        tariff = Tariff(vat_pct=0.0, grid_fee_eur_kwh=0.0)
    settings = StrategySettings(
        degradation_eur_kwh=args.degradation_eur_kwh,
        demand_charge_eur_kw=args.demand_charge_eur_kw,
        peak_target_reduction=args.peak_target_reduction,
        peak_threshold_percentile=args.peak_threshold_percentile,
    )
    import_price = tariff.import_price(site.spot_eur_kwh)
    export_price = tariff.export_price(site.spot_eur_kwh)
    load, pv = site.load_kw, site.pv_kw
    # The published PV forecast for each slot, mapped onto the period like the PV itself (and a
    # plan horizon beyond it, the longest plan).
    pv_published = (
        np.clip(
            on_grid(
                read_power(args.pv, args.pv_forecast_column),
                site.start,
                len(pv) + round(PLAN_HORIZON / timedelta(minutes=site.step_min)),
                site.step_min,
                0.0,
            ),
            0,
            None,
        )
        if args.pv_forecast_column and not args.no_pv
        else None
    )
    start_soc = args.soc_min
    site_tz = ZoneInfo(args.site_tz)
    step = timedelta(minutes=site.step_min)
    points, point_slots = market_points(site)
    # The billing month of each slot, in the site's time zone.
    month_of: dict[int, tuple[int, int]] = {}
    for i in range(first, last):
        local = (site.start + i * step).astimezone(site_tz)
        month_of[i] = (local.year, local.month)

    # The EMS, closed loop.
    ems = Ledger()
    sim = BatterySimulator(battery, start_soc)
    active: Strategy | None = None
    cautious = args.strategy in ("auto", "peak_shaving")
    solver = (
        solve_highs
        if args.cold_starts
        else functools.partial(solve_highs, warm_starts=WarmStarts())
    )
    chosen: dict[Strategy, int] = {}
    held_by_day: dict[date, float | None] = {}
    replans = 0
    for i in range(first, last):
        t = site.start + i * step
        known_end = known_until(t, last, site)
        # As the integration: every published price, and forecast ones up to the plan horizon.
        horizon = round((plan_end(t, t + (known_end - i) * step) - t) / step)
        # The published prices: the forecast looks at most PRICE_DAYS back from the plan's start,
        # so only that window is handed over (the whole year would make every call slow).
        spot, _ = forecast_prices(
            points[
                bisect.bisect_left(point_slots, i - PRICE_DAYS * per_day) : (
                    bisect.bisect_left(point_slots, known_end)
                )
            ],
            t,
            horizon,
            site.step_min,
            tz=LOCAL,
        )
        first_load = max(0, i - LOAD_DAYS * per_day)
        load_history = Series(
            start=site.start + first_load * step,
            slot_minutes=site.step_min,
            values=load[first_load:i],
        )
        pv_history = pv[max(0, i - PV_PROFILE_DAYS * per_day) : i]
        foresight = i + horizon <= len(load)
        # Peak shaving (automatic mode too) plans on a cautious load forecast besides the median.
        quantiles = (
            (LOAD_QUANTILE, CAUTIOUS_LOAD_QUANTILE) if cautious else (LOAD_QUANTILE,)
        )
        if foresight and args.perfect_forecasts in ("load", "both"):
            load_forecasts = [load[i : i + horizon]] * len(quantiles)
        else:
            load_forecasts = [
                np.clip(forecast, 0, None)
                for forecast in forecast_loads(
                    load_history,
                    start=t,
                    slots=horizon,
                    tz=site_tz,
                    quantiles=quantiles,
                )
            ]
        recent_pv = np.clip(recent_days_pv(pv_history, per_day, horizon), 0, None)
        if foresight and args.perfect_forecasts in ("pv", "both"):
            pv_forecast = pv[i : i + horizon]
        elif pv_published is not None:
            # As the integration plans with a solar forecast: averaged with the recent days.
            pv_forecast = blend_pv(pv_published[i : i + horizon], recent_pv)
        else:
            pv_forecast = recent_pv
        # As the integration: the recent days' departures from their usual day as other outcomes
        # beside the forecasts (none for a future the planner is told).
        outcome_history = slice(max(0, i - OUTCOME_DAYS * per_day), i)
        departures = {
            name: ()
            if args.no_outcomes
            or (foresight and args.perfect_forecasts in (name, "both"))
            else recent_departures(
                series[outcome_history], per_day, horizon, rest_of_today=share
            )
            for name, series, share in (
                ("load", load, 1.0),
                ("pv", pv, PV_DEPARTURE_REST_OF_TODAY),
            )
        }
        problem = PlanningProblem(
            start=t,
            slot_minutes=site.step_min,
            spot_eur_kwh=spot,
            load_kw=load_forecasts[0],
            load_high_kw=load_forecasts[-1] if cautious else None,
            pv_kw=pv_forecast,
            net_load_outcomes_kw=net_load_outcomes(
                load_forecasts[0], pv_forecast, departures["load"], departures["pv"]
            ),
            soc_pct=sim.soc_pct,
            battery=battery,
            grid=grid,
            tariff=tariff,
        )
        held_kw = None
        if cautious:
            # From the load's whole past days: the same all day, so computed once a day.
            today = t.astimezone(site_tz).date()
            if today not in held_by_day:
                held_by_day[today] = held_peak_kw(
                    load_history, end=t, tz=site_tz, battery=battery
                )
            held_kw = held_by_day[today]
        settings = replace(
            settings,
            peak_reached_kw=ems.month_peaks_kw.get(month_of[i], 0.0),
            peak_held_kw=held_kw or 0.0,
        )
        if args.strategy == "auto":
            selection = select(problem, settings, active, solver)
            active = selection.plan.strategy
        else:
            selection = plan_strategy(
                problem, settings, Strategy(args.strategy), solver
            )
        replans += 1
        plan = selection.plan
        chosen[plan.strategy] = chosen.get(plan.strategy, 0) + 1
        # The integration's control loop: the battery takes up the difference between the real and
        # the forecast net load, as far as that does not trade with the grid (Plan.setpoint_kw).
        power = sim.step(plan.setpoint_kw(0, load[i] - pv[i]), dt * 3600)
        curtailed = min(float(plan.pv_curtailed_kw[0]), pv[i])
        ems.book(
            load[i] - (pv[i] - curtailed) - power,
            import_price[i],
            export_price[i],
            dt,
            month_of[i],
        )
        ems.discharged_kwh += max(power, 0.0) * dt
        ems.curtailed_kwh += curtailed * dt

    # No battery.
    none = Ledger()
    for i in range(first, last):
        none.book(load[i] - pv[i], import_price[i], export_price[i], dt, month_of[i])

    # Peak shaving's bound: the lowest import limit a battery full at each month's start holds
    # through the month's real net load (the same rule as the held limit, over whole months).
    # The period's slots are in time order: each month is one run of them.
    net = load[first:last] - pv[first:last]
    month_starts = [
        k
        for k in range(1, last - first)
        if month_of[first + k] != month_of[first + k - 1]
    ]
    month_rows = np.split(net, month_starts)
    width = max(len(row) for row in month_rows)
    month_bounds = lowest_held_limits_kw(
        np.array([np.pad(row, (0, width - len(row))) for row in month_rows]),
        battery,
        dt,
    )

    # Perfect foresight: one plan over the whole period.
    perfect_plan = solve_highs(
        PlanningProblem(
            start=site.start,
            slot_minutes=site.step_min,
            spot_eur_kwh=site.spot_eur_kwh[first:last],
            load_kw=load[first:last],
            pv_kw=pv[first:last],
            soc_pct=start_soc,
            battery=battery,
            grid=grid,
            tariff=tariff,
            terminal_value_eur_kwh=0.0,
        )
    )
    cost_perfect = float(perfect_plan.cost_eur.sum())
    # By month, in the order of the months' bounds.
    perfect_month_costs = [
        float(costs.sum()) for costs in np.split(perfect_plan.cost_eur, month_starts)
    ]

    # Rule: charge in the N cheapest hours of each day, discharge (to cover the load) in the N dearest.
    rule = Ledger()
    sim_rule = BatterySimulator(battery, start_soc)
    usable_kwh = battery.energy_max_kwh - battery.energy_min_kwh
    n_slots = math.ceil(usable_kwh / battery.max_charge_kw / dt)
    for day in range(first, last, per_day):
        prices = site.spot_eur_kwh[day : min(day + per_day, last)]
        order = np.argsort(prices)
        setpoints = np.zeros(len(prices))
        setpoints[order[:n_slots]] = -battery.max_charge_kw
        dearest = np.zeros(len(prices), dtype=bool)
        dearest[order[-n_slots:]] = True
        for k, setpoint in enumerate(setpoints):
            i = day + k
            # In the dearest hours the battery covers the house (feeding the grid at spot from
            # energy bought at retail would lose money).
            if dearest[k]:
                setpoint = max(load[i] - pv[i], 0.0)
            power = sim_rule.step(float(setpoint), dt * 3600)
            rule.book(
                load[i] - pv[i] - power,
                import_price[i],
                export_price[i],
                dt,
                month_of[i],
            )

    # Plain self-consumption rule: charge from PV surplus, discharge to cover load.
    own = Ledger()
    sim_own = BatterySimulator(battery, start_soc)
    for i in range(first, last):
        power = sim_own.step(float(load[i] - pv[i]), dt * 3600)
        own.book(
            load[i] - pv[i] - power, import_price[i], export_price[i], dt, month_of[i]
        )

    load_kwh = float(load[first:last].sum()) * dt
    pv_kwh = float(pv[first:last].sum()) * dt
    bound = none.cost_eur - cost_perfect
    result = {
        "period": [
            # Local dates: the first day and the day after the last.
            str(
                (site.start + timedelta(minutes=first * site.step_min))
                .astimezone(LOCAL)
                .date()
            ),
            str(
                (site.start + timedelta(minutes=last * site.step_min))
                .astimezone(LOCAL)
                .date()
            ),
        ],
        "strategy": args.strategy,
        "perfect_forecasts": args.perfect_forecasts,
        "load_forecast": "real future"
        if args.perfect_forecasts in ("load", "both")
        else "built-in",
        "pv_forecast": "real future"
        if args.perfect_forecasts in ("pv", "both")
        else args.pv_forecast_column or "recent days",
        "outcomes": not args.no_outcomes,
        "tariff": args.tariff,
        "cost_no_battery_eur": round(none.cost_eur, 2),
        "cost_ems_eur": round(ems.cost_eur, 2),
        "cost_perfect_eur": round(cost_perfect, 2),
        "cost_rule_eur": round(rule.cost_eur, 2),
        "cost_self_consumption_rule_eur": round(own.cost_eur, 2),
        "capture_ratio": round((none.cost_eur - ems.cost_eur) / bound, 4)
        if bound > 0
        else None,
        "capture_ratio_rule": round((none.cost_eur - rule.cost_eur) / bound, 4)
        if bound > 0
        else None,
        "capture_ratio_self_consumption_rule": round(
            (none.cost_eur - own.cost_eur) / bound, 4
        )
        if bound > 0
        else None,
        "cycles": round(ems.discharged_kwh / usable_kwh, 1),
        "peak_import_kw_no_battery": round(none.peak_import_kw, 2),
        "peak_import_kw_ems": round(ems.peak_import_kw, 2),
        "mean_month_peak_kw_no_battery": round(none.mean_month_peak_kw(), 2),
        "mean_month_peak_kw_ems": round(ems.mean_month_peak_kw(), 2),
        # What a demand charge bills on top of the energy.
        "demand_charge_eur_no_battery": round(
            none.demand_charge_eur(args.demand_charge_eur_kw), 2
        ),
        "demand_charge_eur_ems": round(
            ems.demand_charge_eur(args.demand_charge_eur_kw), 2
        ),
        "peak_import_kw_bound": round(float(month_bounds.max()), 2),
        "mean_month_peak_kw_bound": round(float(month_bounds.mean()), 2),
        "self_consumption_ratio": rounded(ems.self_consumption_ratio(pv_kwh)),
        "curtailed_kwh": round(ems.curtailed_kwh, 1),
        "self_consumption_ratio_no_battery": rounded(
            none.self_consumption_ratio(pv_kwh)
        ),
        # The plain rule stores every surplus it can: the most self-consumption this battery reaches.
        "self_consumption_ratio_self_consumption_rule": rounded(
            own.self_consumption_ratio(pv_kwh)
        ),
        "autarky": round(ems.autarky(load_kwh), 4),
        "autarky_no_battery": round(none.autarky(load_kwh), 4),
        "autarky_self_consumption_rule": round(own.autarky(load_kwh), 4),
        # Month by month (the perfect-foresight column is the whole period's plan, month by month).
        "months": [
            {
                "month": f"{year}-{month:02d}",
                "cost_no_battery_eur": round(none.month_costs_eur[year, month], 2),
                "cost_ems_eur": round(ems.month_costs_eur[year, month], 2),
                "cost_perfect_eur": round(perfect_month_cost, 2),
                "peak_import_kw_no_battery": round(none.month_peaks_kw[year, month], 2),
                "peak_import_kw_ems": round(ems.month_peaks_kw[year, month], 2),
                "peak_import_kw_bound": round(float(month_bound), 2),
            }
            for (year, month), month_bound, perfect_month_cost in zip(
                none.month_peaks_kw, month_bounds, perfect_month_costs, strict=True
            )
        ],
        "replans": replans,
        "strategy_runs": {str(strategy): count for strategy, count in chosen.items()},
        "runtime_s": round(time.perf_counter() - began, 1),
        # Processor time of this process: on a shared machine the wall-clock time also counts the
        # others' work.
        "cpu_s": round(time.process_time() - began_cpu, 1),
    }
    for key, value in result.items():
        if key == "months":
            print(f"{key:38s} " + ", ".join(result["months"][0]))
            for row in result["months"]:
                print(f"{'':38s} " + ", ".join(str(v) for v in row.values()))
        else:
            print(f"{key:38s} {value}")
    print(json.dumps(result))
