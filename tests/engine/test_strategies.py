"""Strategy presets shape plans as their names promise; automatic selection switches with hysteresis."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import numpy as np
import pytest

from custom_components.phoenyra_ems.engine.model import (
    OUTCOME_WEIGHT,
    Battery,
    Grid,
    PlanningProblem,
    Strategy,
    Tariff,
)
from custom_components.phoenyra_ems.engine.optimizer import WarmStarts, solve_highs
from custom_components.phoenyra_ems.engine.simulator import BatterySimulator, SiteSeries
from custom_components.phoenyra_ems.engine.strategies import (
    StrategySettings,
    default_degradation_eur_kwh,
    expected_site_cost,
    moving_average,
    plan_strategy,
    preset,
    select,
    site_cost,
)

SETTINGS = StrategySettings()


def real_day(
    start: datetime = datetime(2026, 5, 12, 0), soc: float = 30.0, slots: int = 96
) -> PlanningProblem:
    spot, load, pv = SiteSeries.load_bundled().window(start, slots, 15)
    return PlanningProblem(
        start=start.replace(tzinfo=UTC),
        slot_minutes=15,
        spot_eur_kwh=spot,
        load_kw=load,
        pv_kw=pv,
        soc_pct=soc,
        battery=Battery(capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5),
        grid=Grid(max_import_kw=17, max_export_kw=10),
        tariff=Tariff(),
    )


def evening_peak_day() -> PlanningProblem:
    """A day of 1 kW with an evening peak of 9 kW for 1.5 hours, no PV, the battery half full."""
    load = np.full(96, 1.0)
    load[70:76] = 9.0
    return replace(real_day(soc=50), load_kw=load, pv_kw=np.zeros(96))


def test_self_consumption_only_stores_surplus_and_only_covers_load() -> None:
    problem = real_day()
    plan = solve_highs(preset(problem, Strategy.SELF_CONSUMPTION, SETTINGS))
    surplus = np.clip(problem.pv_kw - problem.load_kw, 0, None)
    deficit = np.clip(problem.load_kw - problem.pv_kw, 0, None)
    assert np.all(-plan.battery_kw <= surplus + 1e-6)
    assert np.all(plan.battery_kw <= deficit + 1e-6)
    # It stores the day's surplus (up to what the window holds) and uses it later.
    charged_kwh = float(np.clip(-plan.battery_kw, 0, None).sum()) * 0.25
    room_kwh = (90 - 30) / 100 * 10 / 0.95
    assert charged_kwh == pytest.approx(
        min(float(surplus.sum()) * 0.25, room_kwh), rel=0.05
    )
    assert float(np.clip(plan.battery_kw, 0, None).sum()) * 0.25 > 0.5 * charged_kwh
    # Arbitrage, free to trade with the grid, does at least as well on energy cost.
    arbitrage = solve_highs(preset(problem, Strategy.ARBITRAGE, SETTINGS))
    assert site_cost(arbitrage, SETTINGS) <= site_cost(plan, SETTINGS) + 1e-6


def test_self_consumption_may_charge_from_the_grid_when_allowed() -> None:
    problem = real_day(start=datetime(2026, 5, 12, 20), slots=48)
    strict = solve_highs(preset(problem, Strategy.SELF_CONSUMPTION, SETTINGS))
    allowed = solve_highs(
        preset(
            problem,
            Strategy.SELF_CONSUMPTION,
            replace(SETTINGS, allow_grid_charging=True),
        )
    )
    night = problem.pv_kw < 0.01
    assert strict.battery_kw[night].min() > -1e-6
    assert site_cost(allowed, SETTINGS) <= site_cost(strict, SETTINGS) + 1e-6


def test_peak_shaving_cuts_the_peak() -> None:
    problem = evening_peak_day()
    arbitrage = solve_highs(preset(problem, Strategy.ARBITRAGE, SETTINGS))
    # Asked to cut as deep as it can, it takes the full 5 kW off the peak.
    deep = replace(SETTINGS, peak_target_reduction=1.0)
    shaving = solve_highs(preset(problem, Strategy.PEAK_SHAVING, deep))
    assert shaving.grid_import_kw.max() <= 9.0 - 4.9
    assert shaving.grid_import_kw.max() < arbitrage.grid_import_kw.max() - 1.0


def test_peak_shaving_on_the_cautious_forecast_holds_a_busier_evening() -> None:
    # Usually the evening runs at 9 kW for two hours; on a busy day for four. The battery (8 kWh in
    # its window) cannot take 3.8 kW off four hours: a limit set on the usual evening leaves the
    # busy one's later hours unshaved.
    n = 96
    usual, busy = np.full(n, 1.0), np.full(n, 1.0)
    usual[68:76] = 9.0
    busy[68:84] = 9.0
    problem = replace(real_day(soc=90), load_kw=usual, pv_kw=np.zeros(n))
    deep = replace(SETTINGS, peak_target_reduction=1.0)

    def busy_evening_peak_kw(planned: PlanningProblem) -> float:
        plan = plan_strategy(planned, deep, Strategy.PEAK_SHAVING).plan
        battery = BatterySimulator(planned.battery, planned.soc_pct)
        return max(
            busy[k] - battery.step(plan.setpoint_kw(k, busy[k]), 900) for k in range(n)
        )

    median_only = busy_evening_peak_kw(problem)
    cautious = busy_evening_peak_kw(replace(problem, load_high_kw=busy))
    assert median_only == pytest.approx(9.0)
    assert cautious < 7.5


def test_plans_on_other_forecasts_are_compared_on_the_median_one_and_the_cautious_peak() -> (
    None
):
    n = 96
    load = np.full(n, 1.0)
    load[68:76] = 9.0
    problem = replace(
        real_day(soc=50), load_kw=load, load_high_kw=load * 1.5, pv_kw=np.zeros(n)
    )
    settings = replace(SETTINGS, demand_charge_eur_kw=5.0)
    selection = select(problem, settings, None)
    shaving = plan_strategy(problem, settings, Strategy.PEAK_SHAVING)
    # Peak shaving planned on the cautious load; its battery schedule is costed on the median one.
    assert np.array_equal(shaving.plan.net_load_kw, load * 1.5)
    grid = load - shaving.plan.battery_kw
    dt = 0.25
    energy = dt * float(
        (
            shaving.plan.import_price_eur_kwh * np.clip(grid, 0, None)
            - shaving.plan.export_price_eur_kwh * np.clip(-grid, 0, None)
        ).sum()
    )
    stored = (shaving.plan.soc_pct[-1] - 50) / 100 * 10
    # The demand charge on the cautious load's peak: a busier day than the usual one sets the month's.
    median_peak = float(np.clip(grid, 0, None).max())
    cautious_peak = float((load * 1.5 - shaving.plan.battery_kw).max())
    expected = (
        energy + 5.0 * cautious_peak - shaving.plan.terminal_value_eur_kwh * stored
    )
    assert cautious_peak > median_peak + 1.0
    assert shaving.costs[Strategy.PEAK_SHAVING] == pytest.approx(expected, abs=1e-9)
    assert selection.costs[Strategy.PEAK_SHAVING] == pytest.approx(expected, abs=1e-9)
    # Without a cautious load the median's peak alone.
    median_only = replace(problem, load_high_kw=None)
    assert expected_site_cost(shaving.plan, settings, median_only) == pytest.approx(
        energy + 5.0 * median_peak - shaving.plan.terminal_value_eur_kwh * stored,
        abs=1e-9,
    )


def test_with_a_demand_charge_automatic_mode_keeps_the_battery_for_a_busier_evening() -> (
    None
):
    # A quiet median day; on a busier one (the cautious load) the evening draws 8 kW.
    n = 96
    load = np.full(n, 1.0)
    busy = load.copy()
    busy[68:76] = 8.0
    problem = replace(
        real_day(soc=50), load_kw=load, load_high_kw=busy, pv_kw=np.zeros(n)
    )
    settings = replace(SETTINGS, demand_charge_eur_kw=5.0)
    selection = select(problem, settings, None)
    # Peak shaving enters the evening full and holds the busier evening below its 8 kW.
    assert selection.plan.strategy == Strategy.PEAK_SHAVING
    assert selection.plan.soc_pct[67] == pytest.approx(90.0, abs=0.1)
    assert float((busy - selection.plan.battery_kw).max()) < 7.0
    # Judged on the median load alone, the evening's peak is never seen.
    median_only = select(replace(problem, load_high_kw=None), settings, None)
    assert median_only.plan.strategy != Strategy.PEAK_SHAVING


def test_load_balancing_flattens_grid_power() -> None:
    problem = real_day()
    arbitrage = solve_highs(preset(problem, Strategy.ARBITRAGE, SETTINGS))
    balancing = solve_highs(preset(problem, Strategy.LOAD_BALANCING, SETTINGS))

    def roughness(plan: object) -> float:
        grid = plan.grid_import_kw - plan.grid_export_kw  # type: ignore[attr-defined]
        return float(np.abs(np.diff(grid)).sum())

    assert roughness(balancing) < 0.5 * roughness(arbitrage)


def test_moving_average_is_centred() -> None:
    values = np.array([0.0, 0.0, 3.0, 0.0, 0.0])
    assert moving_average(values, 3) == pytest.approx([0.0, 1.0, 1.0, 1.0, 0.0])
    assert moving_average(values, 1) == pytest.approx(values)


def test_default_degradation() -> None:
    # 400 EUR/kWh over 6000 cycles: 2 x 6000 kWh pass through each kWh of capacity.
    assert default_degradation_eur_kwh(400, 6000) == pytest.approx(400 / 12000)


def test_site_cost_counts_wear_demand_and_stored_energy() -> None:
    problem = real_day()
    plan = solve_highs(preset(problem, Strategy.ARBITRAGE, SETTINGS))
    base = site_cost(plan, SETTINGS)
    stored = (
        (plan.soc_pct[-1] - plan.initial_soc_pct)
        / 100
        * 10
        * plan.terminal_value_eur_kwh
    )
    assert base == pytest.approx(plan.cost_eur.sum() - stored)
    worn = site_cost(plan, replace(SETTINGS, degradation_eur_kwh=0.1))
    assert worn - base == pytest.approx(0.1 * np.abs(plan.battery_kw).sum() * 0.25)
    charged = site_cost(plan, replace(SETTINGS, demand_charge_eur_kw=10))
    assert charged - base == pytest.approx(10 * plan.grid_import_kw.max())


def test_automatic_selection_picks_the_cheapest_and_says_why() -> None:
    problem = real_day()
    selection = select(problem, SETTINGS, active=None)
    best = min(selection.costs, key=selection.costs.__getitem__)
    assert selection.plan.strategy == best
    assert set(selection.costs) == set(Strategy)
    assert selection.reason.startswith(f"{best}: ")
    assert "EUR better over 24 h than" in selection.reason


def test_automatic_selection_keeps_the_active_strategy_for_a_small_gain() -> None:
    problem = real_day()
    fresh = select(problem, SETTINGS, active=None)
    best = fresh.plan.strategy
    others = sorted((s for s in Strategy if s != best), key=fresh.costs.__getitem__)
    close = others[0]
    gain = fresh.costs[close] - fresh.costs[best]
    saving = (
        float(solve_highs(preset(problem, close, SETTINGS)).baseline_cost_eur.sum())
        - fresh.costs[close]
    )
    # A threshold above the relative gain keeps the active strategy; one below it switches.
    keep = select(
        problem,
        replace(SETTINGS, switch_threshold=gain / abs(saving) * 1.01 + 0.01),
        active=close,
    )
    assert keep.plan.strategy == close
    assert keep.reason.startswith(f"{close}: kept")
    switch = select(problem, replace(SETTINGS, switch_threshold=0.0), active=others[-1])
    assert switch.plan.strategy == best
    assert f"than {others[-1]}" in switch.reason


def test_manual_strategy() -> None:
    selection = plan_strategy(real_day(), SETTINGS, Strategy.LOAD_BALANCING)
    assert selection.plan.strategy == Strategy.LOAD_BALANCING
    assert selection.reason == "load_balancing: chosen manually"


def tied_day() -> PlanningProblem:
    """Four hours of 3 kW surplus PV at a negative spot price (exported for nothing), then four hours
    of 2 kW load at one price: which surplus quarter-hours fill the battery, and which evening ones it
    covers, costs the same."""
    return PlanningProblem(
        start=datetime(2026, 5, 12, 8, tzinfo=UTC),
        slot_minutes=15,
        spot_eur_kwh=np.repeat([-0.01, 0.3], 16),
        load_kw=np.full(32, 2.0),
        pv_kw=np.repeat([5.0, 0.0], 16),
        soc_pct=50,
        battery=Battery(capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5),
        grid=Grid(max_import_kw=20, max_export_kw=20),
        tariff=Tariff(vat_pct=20, grid_fee_eur_kwh=0.1, export_floor_eur_kwh=0.0),
        terminal_value_eur_kwh=0.0,
    )


# Peak shaving keeps its energy for peaks, and load balancing shapes grid power: the quarter-hours
# are not equal to them.
@pytest.mark.parametrize("strategy", [Strategy.ARBITRAGE, Strategy.SELF_CONSUMPTION])
def test_among_equal_plans_the_battery_stores_early_and_releases_late(
    strategy: Strategy,
) -> None:
    # The plan stores the first surplus quarter-hours and covers the last evening ones.
    problem = tied_day()
    battery_kw = plan_strategy(problem, SETTINGS, strategy).plan.battery_kw
    charged = -np.clip(battery_kw[:16], None, 0)
    # 4 kWh of room take about 4.2 kWh at 95 %: five quarter-hours at 3 kW and a part of the sixth.
    assert charged[:5] == pytest.approx(np.full(5, 3.0), abs=1e-6)
    assert 1.5 < charged[5] < 2.5
    # Later, only what self-discharge takes (a few watts).
    assert charged[6:] == pytest.approx(np.zeros(10), abs=1e-3)
    # No discharge while the surplus lasts; the evening's last quarter-hours are covered.
    assert np.all(battery_kw[:16] <= 1e-6)
    assert battery_kw[-15:] == pytest.approx(np.full(15, 2.0), abs=1e-6)


def test_arbitrage_does_not_trade_below_the_minimum_spread() -> None:
    problem = real_day(start=datetime(2026, 5, 12, 20), slots=48)
    spread = float(problem.spot_eur_kwh.max() - problem.spot_eur_kwh.min())
    trading = preset(
        problem,
        Strategy.ARBITRAGE,
        replace(SETTINGS, min_price_spread_eur_kwh=spread * 0.9),
    )
    assert trading.objective.grid_charging
    quiet = preset(
        problem,
        Strategy.ARBITRAGE,
        replace(SETTINGS, min_price_spread_eur_kwh=spread * 1.1),
    )
    assert not quiet.objective.grid_charging
    assert not quiet.objective.battery_export


def test_arbitrage_below_the_minimum_profit_only_self_consumes() -> None:
    problem = real_day(start=datetime(2026, 5, 12, 20), slots=48)
    free = plan_strategy(problem, SETTINGS, Strategy.ARBITRAGE).plan
    saving = float(free.baseline_cost_eur.sum()) - site_cost(free, SETTINGS)
    assert saving > 0
    kept = plan_strategy(
        problem, replace(SETTINGS, min_profit_eur=saving * 0.5), Strategy.ARBITRAGE
    ).plan
    assert np.allclose(kept.battery_kw, free.battery_kw, atol=1e-6)
    quiet = plan_strategy(
        problem, replace(SETTINGS, min_profit_eur=saving * 2), Strategy.ARBITRAGE
    ).plan
    deficit = np.clip(problem.load_kw - problem.pv_kw, 0, None)
    assert np.all(quiet.battery_kw <= deficit + 1e-6)
    assert np.all(
        -quiet.battery_kw <= np.clip(problem.pv_kw - problem.load_kw, 0, None) + 1e-6
    )


def test_peak_shaving_aims_at_the_target_reduction() -> None:
    problem = evening_peak_day()
    gentle = solve_highs(
        preset(
            problem, Strategy.PEAK_SHAVING, replace(SETTINGS, peak_target_reduction=0.2)
        )
    )
    # 20 % off the 9 kW peak is 7.2 kW: cutting deeper is not asked for, so it is left to energy cost.
    assert gentle.grid_import_kw[70:76].max() == pytest.approx(7.2, abs=0.05)


def test_peak_shaving_leaves_import_below_the_held_peak_alone() -> None:
    problem = evening_peak_day()
    load = problem.load_kw
    # The battery held 8 kW on each of the past days: the plan reserves it above that.
    held = replace(SETTINGS, peak_held_kw=8.0, peak_target_reduction=1.0)
    planned = preset(problem, Strategy.PEAK_SHAVING, held)
    assert planned.objective.peak_floor_kw == 8.0
    assert planned.objective.reserve_for_peaks
    plan = solve_highs(planned)
    assert plan.grid_import_kw[70:76].max() == pytest.approx(8.0, abs=1e-6)
    assert np.all(plan.battery_kw[load < 8.0] <= 1e-6)
    # The month's peak already above it: that is the floor.
    higher = replace(held, peak_reached_kw=8.5)
    assert preset(problem, Strategy.PEAK_SHAVING, higher).objective.peak_floor_kw == 8.5


def test_with_a_demand_charge_peak_shaving_trades_energy_below_its_limit() -> None:
    problem = evening_peak_day()
    load = problem.load_kw
    kept = replace(SETTINGS, peak_held_kw=8.0, peak_target_reduction=0.3)
    billed = replace(kept, demand_charge_eur_kw=10.0)
    planned = preset(problem, Strategy.PEAK_SHAVING, billed)
    # The limit comes from the forecast (30 % off the 9 kW peak), not from the past days' held one.
    assert not planned.objective.reserve_for_peaks
    assert planned.objective.peak_floor_kw == pytest.approx(6.3)
    trading = solve_highs(planned)
    keeping = solve_highs(preset(problem, Strategy.PEAK_SHAVING, kept))
    assert trading.grid_import_kw[70:76].max() == pytest.approx(6.3, abs=1e-6)
    # Below the limit the battery discharges for the prices, where the kept one never does, and the
    # energy costs less.
    calm = load < 2
    assert float(np.clip(trading.battery_kw[calm], 0, None).sum()) * 0.25 > 1.0
    assert np.all(keeping.battery_kw[calm] <= 1e-6)
    assert site_cost(trading, kept) < site_cost(keeping, kept) - 0.1


def test_load_balancing_keeps_the_load_factor() -> None:
    problem = real_day()
    plan = solve_highs(
        preset(
            problem, Strategy.LOAD_BALANCING, replace(SETTINGS, target_load_factor=0.8)
        )
    )
    mean_import = float(np.clip(problem.load_kw - problem.pv_kw, 0, None).mean())
    assert plan.grid_import_kw.max() <= mean_import / 0.8 + 0.05


def test_automatic_mode_from_warm_starts_is_as_optimal_as_each_strategy_alone() -> None:
    # Re-plans an hour apart, each started from the previous one's bases: every strategy's plan is
    # as cheap as the one it gives alone, from scratch.
    solver = partial(solve_highs, warm_starts=WarmStarts())
    for hour in (0, 1, 2, 7, 13, 19):
        problem = real_day(start=datetime(2026, 5, 12, hour), slots=96)
        selection = select(problem, SETTINGS, None, solver)
        alone = {
            strategy: plan_strategy(problem, SETTINGS, strategy).plan
            for strategy in Strategy
        }
        assert selection.costs == pytest.approx(
            {strategy: site_cost(plan, SETTINGS) for strategy, plan in alone.items()},
            abs=1e-6,
        )
        chosen = alone[selection.plan.strategy]
        assert selection.plan.objective_eur == pytest.approx(
            chosen.objective_eur, abs=1e-6
        )


def test_plans_are_judged_on_the_outcomes_they_weigh() -> None:
    problem = real_day(start=datetime(2026, 5, 12, 4), soc=30)
    forecast = problem.load_kw - problem.pv_kw
    outcomes = (problem.load_kw - problem.pv_kw * 1.8, problem.load_kw * 1.5)
    hedged = replace(problem, net_load_outcomes_kw=outcomes)
    selection = select(hedged, SETTINGS, None)
    # Peak shaving and load balancing plan without the other outcomes; the others weigh them.
    for strategy, weighed in (
        (Strategy.ARBITRAGE, True),
        (Strategy.SELF_CONSUMPTION, True),
        (Strategy.PEAK_SHAVING, False),
        (Strategy.LOAD_BALANCING, False),
    ):
        assert bool(preset(hedged, strategy, SETTINGS).net_load_outcomes_kw) is weighed
    # Every plan's cost is its schedule's cost on the forecast and the other outcomes, weighed.
    for strategy, cost in selection.costs.items():
        plan = plan_strategy(hedged, SETTINGS, strategy).plan
        expected = (1 - 2 * OUTCOME_WEIGHT) * site_cost(
            plan, SETTINGS, forecast
        ) + OUTCOME_WEIGHT * sum(site_cost(plan, SETTINGS, o) for o in outcomes)
        assert cost == pytest.approx(expected, abs=1e-6)
    # The hedged arbitrage plan is the cheaper one on those outcomes, the forecast's own on the
    # forecast alone.
    plain = plan_strategy(problem, SETTINGS, Strategy.ARBITRAGE)
    hedged_arbitrage = plan_strategy(hedged, SETTINGS, Strategy.ARBITRAGE)
    assert expected_site_cost(hedged_arbitrage.plan, SETTINGS, hedged) < (
        expected_site_cost(plain.plan, SETTINGS, hedged) - 0.001
    )
    assert site_cost(plain.plan, SETTINGS) < site_cost(hedged_arbitrage.plan, SETTINGS)
