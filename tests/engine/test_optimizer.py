"""The planning LP: limits kept, sensible decisions, clear errors, never infeasible."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from custom_components.phoenyra_ems.engine.model import (
    Battery,
    Grid,
    InvalidInputError,
    Objective,
    Plan,
    PlanningProblem,
    Tariff,
)
from custom_components.phoenyra_ems.engine.optimizer import (
    solve_highs,
    weighted_net_loads,
)
from custom_components.phoenyra_ems.engine.simulator import SiteSeries

START = datetime(2026, 5, 12, tzinfo=UTC)
BATTERY = Battery(capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5)
GRID = Grid(max_import_kw=17, max_export_kw=10)
TOL = 1e-6


def problem(
    spot: np.ndarray,
    load: np.ndarray | None = None,
    pv: np.ndarray | None = None,
    soc: float = 50.0,
    battery: Battery = BATTERY,
    grid: Grid = GRID,
    tariff: Tariff | None = None,
) -> PlanningProblem:
    n = len(spot)
    return PlanningProblem(
        start=START,
        slot_minutes=15,
        spot_eur_kwh=np.asarray(spot, dtype=float),
        load_kw=np.full(n, 0.5) if load is None else np.asarray(load, dtype=float),
        pv_kw=np.zeros(n) if pv is None else np.asarray(pv, dtype=float),
        soc_pct=soc,
        battery=battery,
        grid=grid,
        tariff=tariff or Tariff(),
    )


def assert_within_limits(
    p: PlanningProblem, plan_soc_floor: float | None = None
) -> None:
    plan = solve_highs(p)
    bat = p.battery
    assert np.all(plan.battery_kw <= bat.max_discharge_kw + TOL)
    assert np.all(plan.battery_kw >= -bat.max_charge_kw - TOL)
    floor = bat.soc_min_pct if plan_soc_floor is None else plan_soc_floor
    assert np.all(plan.soc_pct >= floor - 1e-4)
    assert np.all(plan.soc_pct <= bat.soc_max_pct + 1e-4)
    assert np.all(plan.grid_import_kw <= p.grid.max_import_kw + TOL)
    assert np.all(plan.grid_export_kw <= p.grid.max_export_kw + TOL)
    # Energy balance in every slot: import - export = load - (pv - curtailed) - battery.
    balance = (
        plan.grid_import_kw
        - plan.grid_export_kw
        - (p.load_kw - (p.pv_kw - plan.pv_curtailed_kw) - plan.battery_kw)
    )
    assert np.abs(balance).max() < 1e-6
    # Idling is always possible, so the plan never loses against no battery (stored energy valued)
    # beyond what self-discharge takes.
    hours = p.slots * p.slot_hours
    assert (
        plan.expected_profit_eur(hours=hours)
        >= -self_discharge_eur(p, plan.terminal_value_eur_kwh) - 1e-6
    )


def self_discharge_eur(p: PlanningProblem, value_eur_kwh: float) -> float:
    """Upper bound of what self-discharge costs over the horizon, at the value of stored energy."""
    hours = p.slots * p.slot_hours
    return (
        p.battery.capacity_kwh * p.battery.self_discharge_per_h * hours * value_eur_kwh
    )


def test_buys_low_and_sells_high() -> None:
    spot = np.r_[np.full(16, 0.02), np.full(16, 0.40)]
    plan = solve_highs(problem(spot, soc=10))
    assert plan.status == "optimal"
    assert plan.engine == "highs"
    assert plan.solve_ms > 0
    # Charges only while cheap, fills the window, discharges only while dear, down to its floor.
    assert plan.battery_kw[:16].max() < 1e-6
    assert plan.soc_pct[15] == pytest.approx(90.0, abs=1e-3)
    assert plan.battery_kw[16:].min() > -1e-6
    assert plan.battery_kw[16:].max() > 0
    assert plan.soc_pct[-1] == pytest.approx(10.0, abs=1e-3)
    assert plan.expected_profit_eur(hours=8) > 1.0


def test_flat_prices_do_not_cycle() -> None:
    p = problem(np.full(96, 0.10), soc=50)
    plan = solve_highs(p)
    # Cycling only loses energy when prices are flat.
    throughput = np.abs(plan.battery_kw).sum() * 0.25
    assert throughput < 5.0
    assert (
        plan.expected_profit_eur()
        >= -self_discharge_eur(p, plan.terminal_value_eur_kwh) - 1e-6
    )


def test_stores_pv_surplus_for_the_evening() -> None:
    n = 96
    pv = np.where((np.arange(n) >= 40) & (np.arange(n) < 64), 4.0, 0.0)
    plan = solve_highs(problem(np.full(n, 0.10), load=np.full(n, 0.5), pv=pv, soc=10))
    # Export pays spot (0.10) but imports cost (0.10 + 0.10) x 1.2 = 0.24: store the surplus.
    assert plan.battery_kw[40:64].min() < -1.0
    assert plan.soc_pct[63] > 50
    assert plan.expected_profit_eur() > 0.5


def test_negative_export_price_curtails_pv() -> None:
    n = 8
    plan = solve_highs(
        problem(np.full(n, -0.50), load=np.zeros(n), pv=np.full(n, 20.0), soc=90)
    )
    # Full battery, nothing to consume: exporting would cost money, so PV is curtailed.
    assert plan.grid_export_kw.max() < 1e-6
    assert plan.pv_curtailed_kw.min() > 19.0


def test_stored_energy_value_reflects_prices() -> None:
    spot = np.r_[np.full(16, 0.02), np.full(16, 0.40)]
    plan = solve_highs(problem(spot, soc=10))
    # A kWh stored in the cheap hours is worth about what it saves later, never more than the
    # dearest import price.
    dearest = float(plan.import_price_eur_kwh.max())
    assert 0 < plan.stored_energy_value_eur_kwh[0] <= dearest


@pytest.mark.parametrize("soc", [0.0, 3.0, 97.0, 100.0])
def test_soc_outside_window_is_feasible_and_recovers(soc: float) -> None:
    spot = np.full(32, 0.10)
    plan = solve_highs(problem(spot, soc=soc))
    assert plan.status == "optimal"
    # Back inside the window as fast as the power limits allow (5 kW x 0.25 h = 1.25 kWh a slot).
    assert 10 - 1e-4 <= plan.soc_pct[-1] <= 90 + 1e-4


def test_load_beyond_grid_limit_stays_feasible() -> None:
    n = 8
    plan = solve_highs(
        problem(
            np.full(n, 0.1),
            load=np.full(n, 30.0),
            grid=Grid(max_import_kw=17, max_export_kw=10),
        )
    )
    # The battery helps as much as it can; the remaining overload is unavoidable, not infeasible.
    assert plan.battery_kw[0] == pytest.approx(5.0, abs=1e-6)


def test_limits_hold_on_real_data_across_a_week() -> None:
    series = SiteSeries.load_bundled()
    for day in range(7):
        start = datetime(2026, 5, 11, 6) + timedelta(days=day, hours=5 * day)
        spot, load, pv = series.window(start, 192, 15)
        for soc in (10.0, 55.0, 90.0):
            assert_within_limits(problem(spot, load=load, pv=pv, soc=soc))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"spot": np.array([0.1, np.nan, 0.1])}, "spot_eur_kwh"),
        ({"load": np.array([0.1, np.inf, 0.1])}, "load_kw"),
        ({"pv": np.array([0.1, -1.0, 0.1])}, "pv_kw"),
        ({"load": np.array([0.1, 0.1])}, "series"),
        ({"soc": float("nan")}, "soc_pct"),
        ({"soc": 120.0}, "soc_pct"),
    ],
)
def test_bad_input_names_the_field(change: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"spot": np.full(3, 0.1), **change}
    with pytest.raises(InvalidInputError) as err:
        problem(**args)  # type: ignore[arg-type]
    assert err.value.field == field
    assert field in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"capacity_kwh": 0}, "capacity_kwh"),
        ({"max_charge_kw": -1}, "max_charge_kw"),
        ({"max_discharge_kw": 0}, "max_discharge_kw"),
        ({"charge_efficiency": 0}, "charge_efficiency"),
        ({"discharge_efficiency": 1.2}, "discharge_efficiency"),
        ({"soc_min_pct": 90, "soc_max_pct": 90}, "soc_min_pct"),
        ({"soc_max_pct": 101}, "soc_min_pct"),
    ],
)
def test_battery_validation(kwargs: dict[str, float], field: str) -> None:
    values = {
        "capacity_kwh": 10.0,
        "max_charge_kw": 5.0,
        "max_discharge_kw": 5.0,
        **kwargs,
    }
    with pytest.raises(InvalidInputError) as err:
        Battery(**values)
    assert err.value.field == field


def test_tariff_composition() -> None:
    spot = np.array([-0.05, 0.10])
    tariff = Tariff(vat_pct=20, grid_fee_eur_kwh=0.08, export_at_spot=True)
    assert tariff.import_price(spot) == pytest.approx([0.036, 0.216])
    assert tariff.export_price(spot) == pytest.approx([-0.05, 0.10])
    fixed = Tariff(export_at_spot=False, feed_in_eur_kwh=0.07)
    assert fixed.export_price(spot) == pytest.approx([0.07, 0.07])


def test_importing_to_export_earns_nothing() -> None:
    # Negative retail import price, export paid at no less than 0: an LP that counted import and
    # export separately would import at the grid limit and export it again for profit.
    n = 8
    tariff = Tariff(vat_pct=0, grid_fee_eur_kwh=0.1, export_floor_eur_kwh=0.0)
    plan = solve_highs(
        problem(np.full(n, -0.2), load=np.ones(n), soc=50, tariff=tariff)
    )
    assert plan.grid_export_kw.max() < 1e-6
    assert plan.grid_import_kw.max() <= 1 + 5 + 1e-6  # load plus charging, nothing more
    assert np.all(plan.grid_import_kw * plan.grid_export_kw == 0)


def test_setpoint_holds_the_planned_grid_exchange() -> None:
    n = 8
    p = problem(np.full(n, 0.1), load=np.full(n, 1.0), pv=np.zeros(n), soc=50)
    plan = solve_highs(p)
    assert plan.net_load_kw == pytest.approx(np.ones(n))
    planned_grid = plan.grid_import_kw[0] - plan.grid_export_kw[0]
    # The house draws 1.5 kW more than forecast: the battery covers it, the grid sees what was planned.
    setpoint = plan.setpoint_kw(0, 2.5)
    assert setpoint == pytest.approx(plan.battery_kw[0] + 1.5)
    assert 2.5 - setpoint == pytest.approx(planned_grid, abs=1e-6)


def held_setpoint_kw(plan: Plan, net_load_kw: float, index: int = 0) -> float:
    """The battery power that would hold a slot's planned grid exchange exactly."""
    planned_grid = plan.grid_import_kw[index] - plan.grid_export_kw[index]
    return net_load_kw - planned_grid


def test_setpoint_does_not_discharge_into_the_grid_for_sun_that_did_not_come() -> None:
    n = 8
    # A full battery and a sunny forecast: the plan exports 5 kW and leaves the battery idle.
    plan = solve_highs(
        problem(np.full(n, 0.10), load=np.zeros(n), pv=np.full(n, 5.0), soc=90)
    )
    assert plan.battery_kw[0] == pytest.approx(0.0, abs=1e-3)
    # The sun delivers 1 kW: holding the exchange would discharge 4 kW into the grid; the battery
    # stays idle and the export is smaller.
    assert held_setpoint_kw(plan, -1.0) == pytest.approx(4.0, abs=1e-3)
    assert plan.setpoint_kw(0, -1.0) == pytest.approx(0.0, abs=1e-3)
    # More load than forecast is still covered by the battery, up to the load.
    assert plan.setpoint_kw(0, 2.0) == pytest.approx(2.0, abs=1e-3)


def test_setpoint_does_not_charge_from_the_grid_for_load_that_did_not_come() -> None:
    n = 8
    # An empty battery and flat prices: the plan imports the 2 kW load, the battery idles.
    plan = solve_highs(
        problem(np.full(n, 0.10), load=np.full(n, 2.0), pv=np.zeros(n), soc=10)
    )
    assert plan.battery_kw[0] == pytest.approx(0.0, abs=1e-3)
    # The load is 0.5 kW: holding the exchange would charge 1.5 kW from the grid.
    assert held_setpoint_kw(plan, 0.5) == pytest.approx(-1.5, abs=1e-3)
    assert plan.setpoint_kw(0, 0.5) == pytest.approx(0.0, abs=1e-3)
    # An unexpected PV surplus is still stored, all of it.
    assert plan.setpoint_kw(0, -3.0) == pytest.approx(-3.0, abs=1e-3)


def test_setpoint_keeps_import_below_the_plans_peak_limit() -> None:
    n = 8
    load = np.full(n, 4.0)
    # A demand charge and a peak of 6 kW already reached this month: the plan may import up to 6 kW.
    charged = replace(
        problem(np.full(n, 0.10), load=load, soc=50),
        objective=Objective(peak_eur_kw=5.0, peak_floor_kw=6.0),
    )
    plan = solve_highs(charged)
    assert plan.peak_limit_kw == pytest.approx(6.0, abs=1e-6)
    # 9 kW arrive instead of 4: the battery covers what would cross the limit...
    setpoint = plan.setpoint_kw(0, 9.0)
    assert 9.0 - setpoint <= 6.0 + 1e-6
    # ...and no more than holding the planned exchange asks for.
    assert setpoint <= held_setpoint_kw(plan, 9.0) + 1e-6
    # Without a demand charge import peaks cost nothing, and there is no limit.
    assert solve_highs(problem(np.full(n, 0.10), load=load)).peak_limit_kw is None


def test_a_plan_reserving_the_battery_for_peaks_keeps_it_for_them() -> None:
    n = 8
    load = np.full(n, 4.0)
    load[4:] = 9.0
    reserved = replace(
        problem(np.r_[np.full(4, 0.40), np.full(4, 0.10)], load=load, soc=50),
        objective=Objective(peak_eur_kw=5.0, peak_floor_kw=6.0, reserve_for_peaks=True),
    )
    plan = solve_highs(reserved)
    # Dear hours first, yet no discharge below the 6 kW floor: the energy is kept for the peak.
    assert np.all(plan.battery_kw[:4] <= 1e-6)
    assert plan.grid_import_kw[4:].max() == pytest.approx(6.0, abs=1e-6)
    # Its control loop discharges only what crosses the limit, and recharges below it as far
    # as the limit and the battery's power allow.
    assert plan.setpoint_kw(0, 9.5) == pytest.approx(3.5)
    assert plan.setpoint_kw(0, 4.0) == pytest.approx(-2.0)
    assert plan.setpoint_kw(0, -10.0) == pytest.approx(-5.0)
    assert plan.setpoint_kw(0, 60.0) == pytest.approx(5.0)
    # Without the reserve it sells the dear hours' energy to the house first.
    free = solve_highs(
        replace(reserved, objective=Objective(peak_eur_kw=5.0, peak_floor_kw=6.0))
    )
    assert free.battery_kw[:4].max() > 1.0


def test_a_reserved_battery_recharges_only_up_to_the_floor() -> None:
    n = 8
    load = np.full(n, 4.0)
    load[4:] = 20.0
    # A busier day than the 6 kW floor (the month's peak) can be held on: 5 kW off 20 leaves 15.
    busy = replace(
        problem(np.full(n, 0.10), load=load, soc=50),
        objective=Objective(peak_eur_kw=5.0, peak_floor_kw=6.0, reserve_for_peaks=True),
    )
    plan = solve_highs(busy)
    assert plan.peak_limit_kw == pytest.approx(15.0, abs=1e-6)
    assert plan.peak_floor_kw == 6.0
    # At 4 kW the battery recharges up to the floor, not the raised limit: charging up to 15 kW
    # would set the month's new peak on a day that may stay calm.
    assert plan.setpoint_kw(0, 4.0) == pytest.approx(-2.0)
    # Between floor and limit it waits; above the limit it discharges what crosses it.
    assert plan.setpoint_kw(0, 12.0) == pytest.approx(0.0)
    assert plan.setpoint_kw(0, 17.0) == pytest.approx(2.0)


def test_setpoint_stores_pv_the_plan_curtails_instead_of_exporting_it() -> None:
    n = 8
    # Negative prices, some room in the battery, a sunny forecast: the plan charges at full power
    # and curtails the rest.
    plan = solve_highs(
        problem(np.full(n, -0.50), load=np.zeros(n), pv=np.full(n, 20.0), soc=60)
    )
    assert plan.pv_curtailed_kw[0] > 10
    assert plan.battery_kw[0] == pytest.approx(-5.0, abs=1e-6)
    # The site cannot curtail and the sun is weaker than forecast (3 kW): the battery still charges
    # as planned and takes all of it, the rest from the grid; nothing goes out at negative prices.
    setpoint = plan.setpoint_kw(0, -3.0)
    assert setpoint == pytest.approx(-5.0, abs=1e-6)
    assert -3.0 - setpoint >= 0


def test_setpoint_keeps_energy_worth_more_later_than_the_extra_load_costs_now() -> None:
    # Cheap now, dear in an hour: the plan keeps the battery for the dear hour and imports now.
    spot = np.r_[np.full(4, 0.05), np.full(4, 0.40)]
    plan = solve_highs(problem(spot, load=np.full(8, 1.0), soc=30))
    assert plan.battery_kw[0] <= 1e-6
    value = plan.stored_energy_value_eur_kwh[0]
    assert value / BATTERY.discharge_efficiency > plan.import_price_eur_kwh[0]
    # 2 kW more load than forecast: holding the exchange would discharge for it; the energy is
    # worth more in the dear hour, so the grid takes it.
    assert held_setpoint_kw(plan, 3.0) == pytest.approx(plan.battery_kw[0] + 2.0)
    assert plan.setpoint_kw(0, 3.0) == pytest.approx(plan.battery_kw[0], abs=1e-6)


def test_setpoint_sells_surprise_sun_when_export_pays_more_than_keeping_it() -> None:
    # Export at a high spot price now, cheap energy for the rest of the horizon: a kWh stored now
    # is worth less than it sells for.
    spot = np.r_[np.full(2, 0.50), np.full(6, 0.02)]
    tariff = Tariff(export_at_spot=True)
    plan = solve_highs(problem(spot, load=np.full(8, 0.5), soc=50, tariff=tariff))
    value = plan.stored_energy_value_eur_kwh[0]
    assert value * BATTERY.charge_efficiency < plan.export_price_eur_kwh[0]
    # 3 kW of sun nobody forecast: holding the exchange would store it; it is sold instead, and
    # the battery does what it planned.
    assert held_setpoint_kw(plan, -2.5) < plan.battery_kw[0] - 1.0
    assert plan.setpoint_kw(0, -2.5) == pytest.approx(plan.battery_kw[0], abs=1e-6)


@pytest.mark.parametrize("net_load_kw", [-4.0, -1.0, 0.0, 0.7, 3.0, 9.0])
def test_setpoint_lies_between_the_plan_and_the_held_exchange(
    net_load_kw: float,
) -> None:
    spot = np.r_[np.full(4, 0.05), np.full(4, 0.40), np.full(4, 0.10)]
    for soc in (15.0, 50.0, 85.0):
        plan = solve_highs(
            problem(spot, load=np.full(12, 1.0), pv=np.full(12, 0.5), soc=soc)
        )
        for index in (0, 5, 9):
            planned = plan.battery_kw[index]
            setpoint = plan.setpoint_kw(index, net_load_kw)
            hold = held_setpoint_kw(plan, net_load_kw, index)
            assert min(planned, hold) - 1e-9 <= setpoint <= max(planned, hold) + 1e-9


def sunny_day_problem(outcomes: tuple[np.ndarray, ...]) -> PlanningProblem:
    """A day of hourly slots: cheap night, a midday PV forecast of little surplus, a dear evening."""
    hours = np.arange(24)
    spot = np.select(
        [hours < 6, hours < 10, hours < 16, hours < 22], [0.09, 0.15, 0.10, 0.25], 0.12
    )
    midday = (hours >= 10) & (hours < 16)
    return replace(
        problem(spot, load=np.full(24, 0.5), pv=np.where(midday, 1.0, 0.0), soc=10),
        slot_minutes=60,
        tariff=Tariff(export_floor_eur_kwh=0.0),
        # Nothing is worth keeping after the day: the evening is what the battery is for.
        terminal_value_eur_kwh=0.0,
        net_load_outcomes_kw=outcomes,
    )


def expected_cost_eur(plan: Plan, p: PlanningProblem) -> float:
    """Energy cost of the plan's battery schedule over the forecast and the outcomes, weighted."""
    import_price = p.tariff.import_price(p.spot_eur_kwh)
    export_price = np.minimum(p.tariff.export_price(p.spot_eur_kwh), import_price)
    total = 0.0
    for weight, net_load in weighted_net_loads(p):
        grid = net_load - plan.battery_kw
        energy = import_price * np.clip(grid, 0, None) - export_price * np.clip(
            -grid, 0, None
        )
        total += weight * float(energy.sum()) * p.slot_hours
    return total - plan.terminal_value_eur_kwh * float(
        (plan.soc_pct[-1] - p.soc_pct) / 100 * p.battery.capacity_kwh
    )


def test_a_sunnier_outcome_leaves_room_for_the_sun() -> None:
    hours = np.arange(24)
    sunny = np.where((hours >= 10) & (hours < 16), 3.0, 0.0)
    forecast_only = sunny_day_problem(())
    # Three of the recent days were that sunny.
    hedged = sunny_day_problem((forecast_only.load_kw - sunny,) * 3)
    plan, hedged_plan = solve_highs(forecast_only), solve_highs(hedged)

    def grid_charged_before_noon_kwh(plan: Plan) -> float:
        return float(np.clip(-plan.battery_kw[:10], 0, None).sum())

    # The forecast alone says: buy at night what the evening needs beyond the small surplus. A
    # sunnier day would fill the battery by itself; the hedged plan buys less at night for it.
    assert grid_charged_before_noon_kwh(hedged_plan) < (
        grid_charged_before_noon_kwh(plan) - 0.5
    )
    # Over the outcomes it is costed against it is the cheaper plan, as its objective says.
    assert (
        expected_cost_eur(hedged_plan, hedged) < expected_cost_eur(plan, hedged) - 0.01
    )
    assert hedged_plan.objective_eur == pytest.approx(
        expected_cost_eur(hedged_plan, hedged), abs=1e-6
    )
    # Where the outcomes are the forecast itself, the plan is the forecast's.
    same = solve_highs(
        sunny_day_problem((forecast_only.load_kw - forecast_only.pv_kw,) * 2)
    )
    assert same.objective_eur == pytest.approx(plan.objective_eur, abs=1e-9)


def test_a_duller_outcome_keeps_energy_for_the_evening() -> None:
    # Full in the morning, dear at 06-10 and dearer in the evening, a midday surplus forecast that
    # would refill the battery: the forecast alone sells the morning's energy and refills at noon.
    # A dull day (no PV) would then buy the evening dearer; weighed, the plan sells less.
    base = replace(sunny_day_problem(()), soc_pct=90)
    forecast_pv = np.where((np.arange(24) >= 10) & (np.arange(24) < 16), 2.5, 0.0)
    forecast = replace(base, pv_kw=forecast_pv)
    hedged = replace(forecast, net_load_outcomes_kw=(forecast.load_kw,) * 3)
    plan, hedged_plan = solve_highs(forecast), solve_highs(hedged)

    def sold_before_noon_kwh(plan: Plan) -> float:
        return float(plan.grid_export_kw[:10].sum())

    assert sold_before_noon_kwh(plan) > 1.0
    assert sold_before_noon_kwh(hedged_plan) < sold_before_noon_kwh(plan) - 0.5
    assert hedged_plan.objective_eur == pytest.approx(
        expected_cost_eur(hedged_plan, hedged), abs=1e-6
    )


def test_many_outcomes_cost_what_each_would() -> None:
    # Seven outcomes crossing each other (and the forecast) at many points: the program lays the
    # battery's net charging over one piece between each two of their kinks; its objective is the
    # schedule's cost in every outcome, weighed, whichever pieces it ends on.
    rng = np.random.default_rng(7)
    base = sunny_day_problem(())
    forecast = base.load_kw - base.pv_kw
    outcomes = tuple(forecast + rng.normal(0, 1.5, 24) for _ in range(7))
    hedged = replace(base, net_load_outcomes_kw=outcomes)
    plan = solve_highs(hedged)
    assert plan.objective_eur == pytest.approx(
        expected_cost_eur(plan, hedged), abs=1e-6
    )
    # And no other schedule within the limits costs less over them: not the forecast's own plan,
    # nor one with the battery idle.
    for other in (solve_highs(base), solve_highs(replace(base, soc_pct=10.0))):
        assert (
            expected_cost_eur(plan, hedged) <= expected_cost_eur(other, hedged) + 1e-9
        )


def test_outcomes_cover_the_first_two_days() -> None:
    # Three days of the sunny-day problem: the other outcome is weighed over the first 48 hours,
    # the forecast alone after them.
    day = sunny_day_problem(())
    load, pv = np.tile(day.load_kw, 3), np.tile(day.pv_kw, 3)
    three = replace(
        day,
        spot_eur_kwh=np.tile(day.spot_eur_kwh, 3),
        load_kw=load,
        pv_kw=pv,
        net_load_outcomes_kw=(load - 3 * pv,),
    )
    plan = solve_highs(three)
    assert plan.objective_eur == pytest.approx(expected_cost_eur(plan, three), abs=1e-6)
    (_, forecast), (_, sunnier) = weighted_net_loads(three)
    assert sunnier[:48] == pytest.approx(three.net_load_outcomes_kw[0][:48])
    assert sunnier[48:] == pytest.approx(forecast[48:])


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        ((np.ones(3),) * 10, "at most 9 outcomes"),
        ((np.ones(2),), "one value per slot"),
        ((np.array([0.1, np.nan, 0.1]),), "must be numbers"),
        ((np.array([0.1, np.inf, 0.1]),), "must be numbers"),
    ],
)
def test_bad_outcomes_are_named(outcomes: tuple[np.ndarray, ...], message: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        replace(problem(np.full(3, 0.1)), net_load_outcomes_kw=outcomes)
    assert err.value.field == "net_load_outcomes_kw"
    assert message in str(err.value)
