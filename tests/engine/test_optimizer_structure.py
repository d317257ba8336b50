"""The planning LP's matrix is laid out once per shape; each problem fills in only its own data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from custom_components.phoenyra_ems.engine.model import (
    Battery,
    Grid,
    Objective,
    PlanningProblem,
    Strategy,
    Tariff,
)
from custom_components.phoenyra_ems.engine.optimizer import (
    HIGHS_OPTIONS,
    LONG_PROGRAM_SLOTS,
    WarmStarts,
    bounds,
    build_lp,
    pass_model,
    solve_highs,
)

BATTERY = Battery(capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5)
SMOOTHING = Objective(peak_eur_kw=1.0, ramp_eur_kw=0.02, flatten_eur_kw=0.05)
PLAIN = Objective()


def problem(n: int, seed: int, objective: Objective = PLAIN) -> PlanningProblem:
    rng = np.random.default_rng(seed)
    return PlanningProblem(
        start=datetime(2026, 5, 12, tzinfo=UTC),
        slot_minutes=15,
        spot_eur_kwh=rng.uniform(-0.05, 0.3, n),
        load_kw=rng.uniform(0.2, 3.0, n),
        pv_kw=rng.uniform(0.0, 4.0, n),
        soc_pct=40.0,
        battery=BATTERY,
        grid=Grid(max_import_kw=17, max_export_kw=10),
        tariff=Tariff(),
        objective=objective,
    )


def dense(p: PlanningProblem) -> np.ndarray:
    lp = build_lp(p, bounds(p))
    matrix = np.zeros((len(lp.row_lower), len(lp.cost)))
    for col in range(len(lp.cost)):
        begin, end = lp.a_start[col], lp.a_start[col + 1]
        matrix[lp.a_index[begin:end], col] = lp.a_value[begin:end]
    return matrix


def test_problems_of_one_shape_share_the_matrix() -> None:
    first, second = problem(48, 1), problem(48, 2)
    a, b = build_lp(first, bounds(first)), build_lp(second, bounds(second))
    assert a.a_index is b.a_index and a.a_value is b.a_value
    assert not np.array_equal(a.cost, b.cost)
    with pytest.raises(ValueError, match="read-only"):
        a.a_value[0] = 2.0
    # Another efficiency is another matrix (the storage rows), another length another layout.
    lossy = replace(first, battery=replace(BATTERY, charge_efficiency=0.9))
    assert not np.array_equal(dense(lossy), dense(first))
    assert (
        build_lp(problem(47, 1), bounds(problem(47, 1))).a_index.size < a.a_index.size
    )


def test_storage_rows_state_the_energy_balance() -> None:
    p = problem(4, 3, SMOOTHING)
    lp = build_lp(p, bounds(p))
    matrix = dense(p)
    keep = 1.0 - BATTERY.self_discharge_per_h * p.slot_hours
    rows = np.arange(len(lp.row_lower))[lp.rows["storage"]]
    column = np.arange(len(lp.cost))
    charge, discharge = column[lp.columns["charge"]], column[lp.columns["discharge"]]
    # The stored energy: its part within the SoC window plus the slacks beyond it.
    parts = {"energy": 1.0, "above": 1.0, "below": -1.0}
    for t, row in enumerate(rows):
        for name, sign in parts.items():
            part = column[lp.columns[name]]
            assert matrix[row, part[t]] == sign
            if t > 0:
                assert matrix[row, part[t - 1]] == -keep * sign
        assert matrix[row, charge[t]] == -p.slot_hours * BATTERY.charge_efficiency
        assert matrix[row, discharge[t]] == p.slot_hours / BATTERY.discharge_efficiency
        assert np.count_nonzero(matrix[row]) == (5 if t == 0 else 8)
    # The soft SoC window as column bounds: the part within it, and at most the rest of the battery
    # beyond it.
    for name, low, high in (
        ("energy", BATTERY.energy_min_kwh, BATTERY.energy_max_kwh),
        ("below", 0.0, BATTERY.energy_min_kwh),
        ("above", 0.0, BATTERY.capacity_kwh - BATTERY.energy_max_kwh),
    ):
        assert np.all(lp.col_lower[lp.columns[name]] == low)
        assert np.all(lp.col_upper[lp.columns[name]] == high)
    assert (
        lp.row_lower[rows[0]]
        == lp.row_upper[rows[0]]
        == pytest.approx(keep * BATTERY.capacity_kwh * 0.4)
    )


def test_a_plan_does_not_depend_on_what_was_solved_before() -> None:
    plain, smoothed = problem(96, 4), problem(96, 5, SMOOTHING)
    first = solve_highs(plain)
    solve_highs(smoothed)
    solve_highs(problem(95, 6))
    again = solve_highs(plain)
    assert again.objective_eur == first.objective_eur
    assert np.array_equal(again.battery_kw, first.battery_kw)
    assert np.array_equal(
        again.stored_energy_value_eur_kwh, first.stored_energy_value_eur_kwh
    )


@pytest.mark.parametrize("objective", [PLAIN, SMOOTHING])
def test_long_programs_from_scratch_end_on_the_short_programs_optimum(
    objective: Objective,
) -> None:
    """Long programs solved from scratch take dual simplex after presolve (much faster there)."""
    import highspy

    p = problem(LONG_PROGRAM_SLOTS + 100, 8, objective)
    solver = highspy.Highs()
    solver.setOptionValue("output_flag", False)
    for name, value in HIGHS_OPTIONS.items():
        solver.setOptionValue(name, value)
    assert pass_model(solver, build_lp(p, bounds(p))) == highspy.HighsStatus.kOk
    solver.run()
    assert solver.getModelStatus() == highspy.HighsModelStatus.kOptimal
    primal_objective = solver.getInfo().objective_function_value
    plan = solve_highs(p)
    assert plan.objective_eur == pytest.approx(primal_objective, rel=1e-9, abs=1e-9)
    assert np.all(np.abs(plan.battery_kw) <= 5 + 1e-9)
    # Started from its own basis, the long program is solved as a short one, to the same plan.
    warm_starts = WarmStarts()
    solve_highs(p, warm_starts)
    later = replace(p, start=p.start + timedelta(minutes=15), soc_pct=55.0)
    assert solve_highs(later, warm_starts).objective_eur == pytest.approx(
        solve_highs(later).objective_eur, rel=1e-6, abs=1e-6
    )


def replans(objective: Objective, count: int) -> list[PlanningProblem]:
    """Re-plans 15 minutes apart whose horizon mostly shrinks by a slot, grows by 83 slots every
    30th re-plan (new prices) and shrinks by 55 right after; the battery is rarely where the
    previous plan put it."""
    rng = np.random.default_rng(7)
    days = 3 * 96
    spot, load, pv = (
        rng.uniform(-0.05, 0.3, days),
        rng.uniform(0.2, 3.0, days),
        np.clip(3 * np.sin(np.arange(days) / 96 * 2 * np.pi), 0, None),
    )
    start = datetime(2026, 5, 12, tzinfo=UTC)
    result = []
    for k in range(count):
        slots = 96 - k % 30 if k % 30 else 150
        result.append(
            PlanningProblem(
                start=start + timedelta(minutes=15 * k),
                slot_minutes=15,
                spot_eur_kwh=spot[k : k + slots],
                load_kw=load[k : k + slots],
                pv_kw=pv[k : k + slots],
                soc_pct=float(rng.uniform(5, 95)),
                battery=BATTERY,
                grid=Grid(max_import_kw=17, max_export_kw=10),
                tariff=Tariff(),
                objective=objective,
                grid_target_kw=load[k : k + slots] - pv[k : k + slots],
            )
        )
    return result


@pytest.mark.parametrize(
    "objective",
    [
        PLAIN,
        SMOOTHING,
        Objective(peak_eur_kw=10.0, peak_floor_kw=1.5),
        Objective(grid_charging=False, battery_export=False),
    ],
)
def test_warm_started_plans_are_as_cheap_as_plans_from_scratch(
    objective: Objective,
) -> None:
    warm_starts = WarmStarts()
    for p in replans(objective, 40):
        warm = solve_highs(p, warm_starts)
        cold = solve_highs(p)
        assert warm.objective_eur == pytest.approx(
            cold.objective_eur, rel=1e-6, abs=1e-6
        )
        assert np.all(np.abs(warm.battery_kw) <= 5 + 1e-9)


def iterations(lp_problem: PlanningProblem, warm_starts: WarmStarts | None) -> int:
    """Simplex iterations HiGHS needs for the problem, from the remembered basis or from scratch."""
    import highspy

    lp = build_lp(lp_problem, bounds(lp_problem))
    solver = highspy.Highs()
    solver.setOptionValue("output_flag", False)
    for name, value in HIGHS_OPTIONS.items():
        solver.setOptionValue(name, value)
    assert pass_model(solver, lp) == highspy.HighsStatus.kOk
    if warm_starts is not None:
        basis = warm_starts.basis_for(lp_problem, lp)
        assert basis is not None
        assert solver.setBasis(basis) == highspy.HighsStatus.kOk
    solver.run()
    assert solver.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return int(solver.getInfo().simplex_iteration_count)


@pytest.mark.parametrize("objective", [PLAIN, SMOOTHING])
@pytest.mark.parametrize("later", [1, 2, 29])
def test_the_next_plan_starts_from_the_moved_basis(
    objective: Objective, later: int
) -> None:
    # later=29: the horizon has shrunk to 67 slots and grows to 150 (new prices).
    sequence = replans(objective, 31)
    warm_starts = WarmStarts()
    solve_highs(sequence[0], warm_starts)
    following = sequence[later]
    assert iterations(following, warm_starts) < iterations(following, None) / 3


def test_a_basis_is_moved_only_forward_on_the_slot_grid_within_its_horizon() -> None:
    first = replans(PLAIN, 1)[0]
    warm_starts = WarmStarts()

    def basis_at(p: PlanningProblem) -> object:
        return warm_starts.basis_for(p, build_lp(p, bounds(p)))

    assert basis_at(first) is None  # nothing solved yet
    solve_highs(first, warm_starts)
    assert basis_at(first) is not None
    for minutes in (-15, 7, 15 * 150):
        assert (
            basis_at(replace(first, start=first.start + timedelta(minutes=minutes)))
            is None
        )
    # Another kind of plan (another strategy, or one that may not trade) has its own basis.
    assert basis_at(replace(first, strategy=Strategy.PEAK_SHAVING)) is None
    assert basis_at(replace(first, objective=Objective(grid_charging=False))) is None
