"""The four strategies as presets of one objective, and automatic selection with hysteresis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .model import FloatArray, Objective, Plan, PlanningProblem, Strategy
from .optimizer import solve_highs, weighted_net_loads

type Solver = Callable[[PlanningProblem], Plan]

# Weights of the strategy-specific terms, in EUR. They shape a plan; the true site cost that
# automatic selection compares (site_cost) contains none of them.
PEAK_SHAVING_EUR_KW = (
    10.0  # far above a day's energy arbitrage: peaks first, energy second
)
LOAD_BALANCING_FLATTEN_EUR_KW = 0.05  # per kW and hour away from the moving average
LOAD_BALANCING_RAMP_EUR_KW = 0.02  # per kW change between slots
LOAD_BALANCING_PEAK_EUR_KW = (
    1.0  # per kW of import above what the target load factor allows
)

# Reward per kWh stored per hour, in every strategy: among plans that cost the same (which of several
# PV hours exported at a zero price fills the battery, which quarter-hours of one price cover the
# load), the one that stores earlier and releases later, since a kWh in the battery is one the
# forecasts' errors cannot take away. Over a 48-hour plan it adds up to 0.001 EUR per kWh, too
# little to outweigh any price. It also makes both engines return the same schedule: without it
# the solvers picked different vertices, cvxpy's once discharging into a zero-price grid during a
# PV surplus to refill the battery from it later. 2024 household backtest (arbitrage): 826.44 EUR
# against 827.50 without it (with a published PV forecast averaged in 824.58 against 823.26); ties
# broken instead by a tilt of 0.00001 EUR/kWh towards earlier or later charging and discharging
# alike moved it to 828.32 and 829.32 EUR (823.69 and 824.19): the solver's choice among equal
# plans alone moves the year by a euro or two.
HOLDING_EUR_KWH_H = 2e-5


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategySettings:
    """What the strategies need to know beyond the planning problem itself."""

    degradation_eur_kwh: float = 0.0
    # Demand charge of the tariff per kW of the billing period's highest import (0: none).
    demand_charge_eur_kw: float = 0.0
    # Highest import already reached in the billing period: only import above it costs more.
    peak_reached_kw: float = 0.0
    # The lowest import limit the battery would have held on each of the past days
    # (forecast.held_peak_kw; 0: unknown): peak shaving leaves import below it alone.
    peak_held_kw: float = 0.0
    # Without that, peak shaving cuts import above this percentile of the forecast net load, aiming
    # to lower the forecast peak by this share and no further.
    peak_threshold_percentile: float = 75.0
    peak_target_reduction: float = 0.20
    # Load balancing flattens grid power towards its centred moving average over this many slots,
    # and keeps import below mean / target_load_factor.
    smoothing_window_slots: int = 12
    target_load_factor: float = 0.8
    allow_grid_charging: bool = False
    # Arbitrage trades with the grid only when the horizon's spot prices spread at least this much,
    # and only when that earns at least min_profit_eur over the horizon; else it only self-consumes.
    min_price_spread_eur_kwh: float = 0.0
    min_profit_eur: float = 0.0
    switch_threshold: float = 0.15


def default_degradation_eur_kwh(
    battery_price_eur_kwh: float, cycle_life: float
) -> float:
    """Return the wear cost per kWh through the battery (charged plus discharged).

    One equivalent full cycle passes twice the capacity through the battery, so a battery that
    costs P per kWh of capacity and lasts N cycles wears P / (2 N) per kWh of throughput.
    """
    return battery_price_eur_kwh / (2 * cycle_life)


def moving_average(values: FloatArray, window: int) -> FloatArray:
    """Return the centred moving average (shorter at the ends)."""
    window = max(1, min(window, len(values)))
    kernel = np.ones(window)
    total = np.convolve(values, kernel, mode="same")
    count = np.convolve(np.ones(len(values)), kernel, mode="same")
    return np.asarray(total / count, dtype=np.float64)


def preset(
    problem: PlanningProblem, strategy: Strategy, settings: StrategySettings
) -> PlanningProblem:
    """Return the problem with the objective of ``strategy``."""
    base = Objective(
        holding_eur_kwh_h=HOLDING_EUR_KWH_H,
        degradation_eur_kwh=settings.degradation_eur_kwh,
        peak_eur_kw=settings.demand_charge_eur_kw,
        peak_floor_kw=settings.peak_reached_kw,
    )
    target: FloatArray | None = None
    load_kw = problem.load_kw
    net_load = load_kw - problem.pv_kw
    match strategy:
        case Strategy.ARBITRAGE:
            spread = float(problem.spot_eur_kwh.max() - problem.spot_eur_kwh.min())
            objective = (
                base
                if spread >= settings.min_price_spread_eur_kwh
                else _no_trading(base)
            )
        case Strategy.PEAK_SHAVING:
            # Planned on the cautious load forecast where there is one: a limit set on the usual
            # day spends the battery early on a busier one and leaves its peak unshaved (on the
            # commercial benchmark the monthly peaks fell by 10.5 % instead of 4.9 %).
            if problem.load_high_kw is not None:
                load_kw = problem.load_high_kw
                net_load = load_kw - problem.pv_kw
            # Without a demand charge the peak itself is the aim (a connection limit, a grid fee
            # step): the battery is kept for the peaks above the limit the past days' load shows
            # it can hold, and cuts them deepest. With one, the bill is energy plus the charge:
            # the battery also trades energy below a limit from the cautious forecast. On the
            # commercial benchmark (100 kWh) that cost 75,313 EUR a year at 10 EUR/kW a month
            # against 76,791 with the battery kept and 75,583 for arbitrage; at 25: 91,568
            # against 91,770 and 92,599. The battery kept cuts deeper (83.2 against 90.3 kW),
            # which pays from about 27 EUR/kW a month there.
            keep_for_peaks = settings.demand_charge_eur_kw <= 0
            # The held limit is what the battery can be trusted to hold; a limit from the
            # forecast alone where the past is unknown, or where the battery is not kept.
            floor = (settings.peak_held_kw if keep_for_peaks else 0.0) or max(
                float(np.percentile(net_load, settings.peak_threshold_percentile)),
                float(net_load.max()) * (1 - settings.peak_target_reduction),
            )
            objective = replace(
                base,
                peak_eur_kw=settings.demand_charge_eur_kw + PEAK_SHAVING_EUR_KW,
                peak_floor_kw=max(settings.peak_reached_kw, floor, 0.0),
                reserve_for_peaks=keep_for_peaks,
            )
        case Strategy.SELF_CONSUMPTION:
            objective = replace(
                base, grid_charging=settings.allow_grid_charging, battery_export=False
            )
        case Strategy.LOAD_BALANCING:
            allowed_peak = float(np.clip(net_load, 0, None).mean()) / max(
                settings.target_load_factor, 0.01
            )
            objective = replace(
                base,
                flatten_eur_kw=LOAD_BALANCING_FLATTEN_EUR_KW,
                ramp_eur_kw=LOAD_BALANCING_RAMP_EUR_KW,
                peak_eur_kw=base.peak_eur_kw + LOAD_BALANCING_PEAK_EUR_KW,
                peak_floor_kw=max(settings.peak_reached_kw, allowed_peak),
            )
            target = moving_average(net_load, settings.smoothing_window_slots)
    # Peak shaving's and load balancing's plans shape the grid power of the forecast day; the other
    # outcomes hedge energy trades (PlanningProblem.net_load_outcomes_kw) and would only make them
    # slower.
    shapes_grid = strategy in (Strategy.PEAK_SHAVING, Strategy.LOAD_BALANCING)
    # One replace: each validates every series of the problem again.
    return replace(
        problem,
        strategy=strategy,
        objective=objective,
        grid_target_kw=target,
        load_kw=load_kw,
        net_load_outcomes_kw=() if shapes_grid else problem.net_load_outcomes_kw,
    )


def _no_trading(objective: Objective) -> Objective:
    """Return the objective without grid trading: charge from surplus PV only, discharge for load only."""
    return replace(objective, grid_charging=False, battery_export=False)


def _solve(
    problem: PlanningProblem,
    strategy: Strategy,
    settings: StrategySettings,
    solver: Solver,
) -> Plan:
    """Plan one strategy; an arbitrage plan that earns less than the minimum profit stops trading."""
    planned = preset(problem, strategy, settings)
    plan = solver(planned)
    if (
        strategy is Strategy.ARBITRAGE
        and planned.objective.grid_charging
        and saving_eur(plan, settings) < settings.min_profit_eur
    ):
        plan = solver(replace(planned, objective=_no_trading(planned.objective)))
    return plan


def site_cost(
    plan: Plan, settings: StrategySettings, net_load_kw: FloatArray | None = None
) -> float:
    """Return what the plan really costs the site over its horizon, in EUR.

    Energy at the tariff, battery wear, the demand charge on import above the peak already
    reached, less the value of the energy the plan leaves in the battery: the same yardstick for
    every strategy, free of the weights that shape them. The plan's battery schedule meets
    ``net_load_kw`` (load less PV, per slot); by default the forecast it was planned on. Plans made
    on different forecasts (peak shaving's cautious one) are compared on the same.
    """
    dt = plan.slot_minutes / 60
    grid = _grid_kw(plan, plan.net_load_kw if net_load_kw is None else net_load_kw)
    imported, exported = np.clip(grid, 0, None), np.clip(-grid, 0, None)
    throughput_kwh = float(np.abs(plan.battery_kw).sum()) * dt
    stored_kwh = (
        (float(plan.soc_pct[-1]) - plan.initial_soc_pct)
        / 100
        * plan.battery.capacity_kwh
    )
    energy_eur = dt * float(
        (
            plan.import_price_eur_kwh * imported - plan.export_price_eur_kwh * exported
        ).sum()
    )
    return (
        energy_eur
        + settings.degradation_eur_kwh * throughput_kwh
        + settings.demand_charge_eur_kw * _extra_peak_kw(grid, settings)
        - plan.terminal_value_eur_kwh * stored_kwh
    )


def _grid_kw(plan: Plan, net_load_kw: FloatArray) -> FloatArray:
    """Return the grid power (+ import) when the plan's battery schedule meets ``net_load_kw``."""
    return net_load_kw + plan.pv_curtailed_kw - plan.battery_kw


def _extra_peak_kw(grid_kw: FloatArray, settings: StrategySettings) -> float:
    """Return how far import rises above the peak already reached this billing month, in kW."""
    return max(0.0, float(grid_kw.max()) - settings.peak_reached_kw)


def expected_site_cost(
    plan: Plan, settings: StrategySettings, problem: PlanningProblem
) -> float:
    """Return the plan's site_cost over the problem's outcomes at their weights, in EUR.

    The forecast and the other outcomes (weighted_net_loads), as the plans weighed them: a plan
    hedged against the recent days' departures is not judged on the forecast alone, and one planned
    without them (peak shaving, load balancing) is judged on them all the same.

    A demand charge bills the month's highest import, which a busier day than the usual one sets:
    where the problem has a cautious load, the plan's peak is taken on it instead of on the median
    load. On the commercial benchmark that took automatic mode from 75,587 to 75,335 EUR a year
    at 10 EUR/kW a month and from 92,496 to 91,590 at 25, 22 EUR from peak shaving throughout at
    both; weighing the cautious peak only at the plan's share of a month cost 242 and 319 EUR. On
    the benchmark household (5 EUR/kW a month), whose cautious day draws twice its median day's
    energy (the commercial site's 1.2 times), it costs 12 EUR a year more than that weight
    (benchmarks/README.md).
    """
    outcomes = weighted_net_loads(problem)
    cautious_load_kw = (
        problem.load_high_kw if settings.demand_charge_eur_kw > 0 else None
    )
    # The outcomes' energy, wear and stored value; their peaks too unless the cautious load's counts.
    outcome_settings = (
        settings
        if cautious_load_kw is None
        else replace(settings, demand_charge_eur_kw=0.0)
    )
    cost = sum(
        weight * site_cost(plan, outcome_settings, net_load)
        for weight, net_load in outcomes
    )
    if cautious_load_kw is None:
        return cost
    cautious_grid_kw = _grid_kw(plan, cautious_load_kw - problem.pv_kw)
    return cost + settings.demand_charge_eur_kw * _extra_peak_kw(
        cautious_grid_kw, settings
    )


def saving_eur(plan: Plan, settings: StrategySettings) -> float:
    """Return what the plan saves against the same site without battery, at true site cost."""
    return float(plan.baseline_cost_eur.sum()) - site_cost(plan, settings)


@dataclass(frozen=True, slots=True)
class Selection:
    """The plan chosen for a run, with every strategy's true cost and why it was chosen."""

    plan: Plan
    costs: dict[Strategy, float]
    reason: str


def select(
    problem: PlanningProblem,
    settings: StrategySettings,
    active: Strategy | None,
    solver: Solver = solve_highs,
) -> Selection:
    """Plan all four strategies and pick one, switching away from ``active`` only for a clear gain.

    Another strategy replaces the active one only when its true cost is lower by more than
    ``switch_threshold`` of the active plan's saving against no battery (and by at least a cent),
    so small differences between forecasts do not flip the strategy back and forth.
    """
    plans = {s: _solve(problem, s, settings, solver) for s in Strategy}
    costs = {
        s: expected_site_cost(plan, settings, problem) for s, plan in plans.items()
    }
    best = min(costs, key=costs.__getitem__)
    hours = problem.slots * problem.slot_hours
    if active is None or active == best:
        runner_up = min((s for s in costs if s != best), key=costs.__getitem__)
        margin = costs[runner_up] - costs[best]
        if margin < 0.005:
            reason = f"{best}: as good as {runner_up} over {hours:.0f} h"
        else:
            reason = (
                f"{best}: {margin:.2f} EUR better over {hours:.0f} h than {runner_up}"
            )
        return Selection(plans[best], costs, reason)
    gain = costs[active] - costs[best]
    if gain > max(
        settings.switch_threshold * abs(saving_eur(plans[active], settings)), 0.01
    ):
        return Selection(
            plans[best],
            costs,
            f"{best}: {gain:.2f} EUR better over {hours:.0f} h than {active}",
        )
    reason = (
        f"{active}: kept; {best} would save only {gain:.2f} EUR more over {hours:.0f} h "
        f"(switch threshold {settings.switch_threshold:.0%})"
    )
    return Selection(plans[active], costs, reason)


def plan_strategy(
    problem: PlanningProblem,
    settings: StrategySettings,
    strategy: Strategy,
    solver: Solver = solve_highs,
) -> Selection:
    """Plan one strategy chosen by the user."""
    plan = _solve(problem, strategy, settings, solver)
    cost = expected_site_cost(plan, settings, problem)
    return Selection(plan, {strategy: cost}, f"{strategy}: chosen manually")
