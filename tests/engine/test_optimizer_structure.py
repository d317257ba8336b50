"""The planning LP's matrix is laid out once per shape; each problem fills in only its own data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from custom_components.phoenyra_ems.engine.model import (
    Battery,
    Grid,
    Objective,
    PlanningProblem,
    Tariff,
)
from custom_components.phoenyra_ems.engine.optimizer import (
    bounds,
    build_lp,
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
    rows = np.arange(len(lp.row_lower))[lp.storage_rows]
    energy = np.arange(len(lp.cost))[lp.columns["energy"]]
    charge = np.arange(len(lp.cost))[lp.columns["charge"]]
    discharge = np.arange(len(lp.cost))[lp.columns["discharge"]]
    for t, row in enumerate(rows):
        assert matrix[row, energy[t]] == 1.0
        assert matrix[row, charge[t]] == -p.slot_hours * BATTERY.charge_efficiency
        assert matrix[row, discharge[t]] == p.slot_hours / BATTERY.discharge_efficiency
        if t > 0:
            assert matrix[row, energy[t - 1]] == -keep
        assert np.count_nonzero(matrix[row]) == (3 if t == 0 else 4)
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
