"""The battery planning linear program, assembled as sparse matrices and solved with HiGHS.

Per slot t the variables are charge power c, discharge power d (kW), stored energy e at the end of
the slot (kWh), grid import and export (kW), curtailed PV (kW), and three penalised slacks that keep
the program feasible whatever the inputs: energy below the SoC window, energy above it, and import
beyond the grid limit. Minimised:

    sum_t dt * (p_imp[t] * imp[t] - p_exp[t] * exp[t] + w * (c[t] + d[t]))
          - V * e[T-1] + penalties

subject to, for every slot,
    imp - exp - c + d - curt = load - pv                            (energy balance)
    e[t] = k * e[t-1] + dt * (eta_c * c[t] - d[t] / eta_d)          (storage, k = self-discharge)
    e + below >= E_min,  e - above <= E_max,  imp - over <= G_imp   (soft limits)

V, the value of energy left at the end, keeps the plan from emptying the battery merely because
the horizon ends.
"""

from __future__ import annotations

from dataclasses import dataclass
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from .model import FloatArray, Plan, PlanningProblem

# EUR per kWh of violated limit: far above any energy price, so a slack is used only when the
# limits cannot all be kept (e.g. a measured SoC outside the window).
SLACK_PENALTY_EUR_KWH = 10.0

_BLOCKS = (
    "charge",
    "discharge",
    "energy",
    "grid_import",
    "grid_export",
    "curtail",
    "below",
    "above",
    "over",
)


_local = threading.local()


class SolverError(RuntimeError):
    """The solver did not return an optimal plan."""


@dataclass(frozen=True, slots=True)
class LinearProgram:
    """A linear program in HiGHS's column-wise form: min cost.x, row_lower <= A x <= row_upper."""

    cost: FloatArray
    col_lower: FloatArray
    col_upper: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    a_start: npt.NDArray[np.int32]
    a_index: npt.NDArray[np.int32]
    a_value: FloatArray
    slots: int

    def block(self, values: FloatArray, name: str) -> FloatArray:
        """Return the part of a column vector that belongs to one variable block."""
        i = _BLOCKS.index(name)
        return values[i * self.slots : (i + 1) * self.slots]


def terminal_value_eur_kwh(problem: PlanningProblem) -> float:
    """Return the default value of one kWh left in the battery at the end of the horizon.

    Stored energy later replaces imports; valued at the median import price of the horizon after
    the discharge loss, so the plan keeps energy it bought cheaply but does not hoard it.
    """
    import_price = problem.tariff.import_price(problem.spot_eur_kwh)
    return max(
        0.0, float(np.median(import_price)) * problem.battery.discharge_efficiency
    )


def build_lp(problem: PlanningProblem, terminal_value: float) -> LinearProgram:
    """Assemble the planning problem as a sparse linear program."""
    n = problem.slots
    dt = problem.slot_hours
    bat = problem.battery
    tariff = problem.tariff
    idx = {name: np.arange(n) + i * n for i, name in enumerate(_BLOCKS)}
    slots = np.arange(n)

    cost = np.zeros(len(_BLOCKS) * n)
    cost[idx["grid_import"]] = dt * tariff.import_price(problem.spot_eur_kwh)
    cost[idx["grid_export"]] = -dt * tariff.export_price(problem.spot_eur_kwh)
    cost[idx["charge"]] = dt * problem.degradation_eur_kwh
    cost[idx["discharge"]] = dt * problem.degradation_eur_kwh
    cost[idx["energy"][-1]] = -terminal_value
    cost[idx["below"]] = SLACK_PENALTY_EUR_KWH
    cost[idx["above"]] = SLACK_PENALTY_EUR_KWH
    cost[idx["over"]] = SLACK_PENALTY_EUR_KWH * dt

    lower = np.zeros_like(cost)
    upper = np.full_like(cost, np.inf)
    upper[idx["charge"]] = bat.max_charge_kw
    upper[idx["discharge"]] = bat.max_discharge_kw
    upper[idx["energy"]] = bat.capacity_kwh
    upper[idx["grid_import"]] = np.inf  # the limit is a soft row below
    upper[idx["grid_export"]] = problem.grid.max_export_kw
    upper[idx["curtail"]] = problem.pv_kw

    keep = 1.0 - bat.self_discharge_per_h * dt
    rows: list[npt.NDArray[Any]] = []
    cols: list[npt.NDArray[Any]] = []
    vals: list[npt.NDArray[Any]] = []

    def add(
        row: npt.NDArray[np.int64],
        col: npt.NDArray[np.int64],
        value: float | FloatArray,
    ) -> None:
        rows.append(row)
        cols.append(col)
        vals.append(np.broadcast_to(np.asarray(value, dtype=float), row.shape))

    # Row blocks: balance, storage, soc floor, soc ceiling, import limit.
    balance, storage, floor, ceiling, limit = (slots + k * n for k in range(5))
    add(balance, idx["grid_import"], 1.0)
    add(balance, idx["grid_export"], -1.0)
    add(balance, idx["charge"], -1.0)
    add(balance, idx["discharge"], 1.0)
    add(balance, idx["curtail"], -1.0)
    add(storage, idx["energy"], 1.0)
    add(storage[1:], idx["energy"][:-1], -keep)
    add(storage, idx["charge"], -dt * bat.charge_efficiency)
    add(storage, idx["discharge"], dt / bat.discharge_efficiency)
    add(floor, idx["energy"], 1.0)
    add(floor, idx["below"], 1.0)
    add(ceiling, idx["energy"], 1.0)
    add(ceiling, idx["above"], -1.0)
    add(limit, idx["grid_import"], 1.0)
    add(limit, idx["over"], -1.0)

    net_load = problem.load_kw - problem.pv_kw
    initial_kwh = bat.capacity_kwh * problem.soc_pct / 100
    storage_rhs = np.zeros(n)
    storage_rhs[0] = keep * initial_kwh
    row_lower = np.concatenate(
        [
            net_load,
            storage_rhs,
            np.full(n, bat.energy_min_kwh),
            np.full(n, -np.inf),
            np.full(n, -np.inf),
        ]
    )
    row_upper = np.concatenate(
        [
            net_load,
            storage_rhs,
            np.full(n, np.inf),
            np.full(n, bat.energy_max_kwh),
            np.full(n, problem.grid.max_import_kw),
        ]
    )

    row = np.concatenate(rows)
    col = np.concatenate(cols)
    val = np.concatenate(vals)
    order = np.lexsort((row, col))
    col_sorted = col[order]
    start = np.searchsorted(col_sorted, np.arange(len(cost) + 1)).astype(np.int32)
    return LinearProgram(
        cost=cost,
        col_lower=lower,
        col_upper=upper,
        row_lower=row_lower,
        row_upper=row_upper,
        a_start=start,
        a_index=row[order].astype(np.int32),
        a_value=val[order],
        slots=n,
    )


def solve_highs(problem: PlanningProblem, terminal_value: float | None = None) -> Plan:
    """Solve the planning problem with HiGHS and return the plan.

    Raises SolverError when HiGHS does not report an optimal solution; thanks to the slacks that
    means a solver fault, never infeasible inputs.
    """
    import highspy  # noqa: PLC0415 - heavy import, done where the solve runs (off the event loop)

    value = (
        terminal_value_eur_kwh(problem) if terminal_value is None else terminal_value
    )
    began = time.perf_counter()
    lp = build_lp(problem, value)
    model = highspy.HighsLp()
    model.num_col_ = len(lp.cost)
    model.num_row_ = len(lp.row_lower)
    model.col_cost_ = lp.cost
    model.col_lower_ = lp.col_lower
    model.col_upper_ = lp.col_upper
    model.row_lower_ = lp.row_lower
    model.row_upper_ = lp.row_upper
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = lp.a_start
    model.a_matrix_.index_ = lp.a_index
    model.a_matrix_.value_ = lp.a_value
    model.a_matrix_.num_col_ = len(lp.cost)
    model.a_matrix_.num_row_ = len(lp.row_lower)

    solver = _thread_solver()
    solver.passModel(model)
    solver.run()
    status = solver.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError(
            f"HiGHS finished with status {solver.modelStatusToString(status)}"
        )
    solution = solver.getSolution()
    x = np.asarray(solution.col_value, dtype=float)
    duals = np.asarray(solution.row_dual, dtype=float)
    solve_ms = (time.perf_counter() - began) * 1000
    return _plan_from_solution(
        problem,
        lp,
        x,
        duals[problem.slots : 2 * problem.slots],
        value,
        "highs",
        solve_ms,
    )


def _thread_solver() -> Any:
    """One HiGHS instance per thread, reused: creating one costs time and prints a banner."""
    solver = getattr(_local, "solver", None)
    if solver is None:
        import highspy  # noqa: PLC0415 - see solve_highs

        solver = highspy.Highs()  # type: ignore[no-untyped-call]
        solver.setOptionValue("output_flag", False)
        solver.setOptionValue("threads", 1)
        _local.solver = solver
    return solver


def _plan_from_solution(
    problem: PlanningProblem,
    lp: LinearProgram,
    x: FloatArray,
    storage_duals: FloatArray,
    terminal_value: float,
    engine: str,
    solve_ms: float,
) -> Plan:
    dt = problem.slot_hours
    imp = np.clip(lp.block(x, "grid_import"), 0, None)
    exp = np.clip(lp.block(x, "grid_export"), 0, None)
    energy = lp.block(x, "energy")
    import_price = problem.tariff.import_price(problem.spot_eur_kwh)
    export_price = problem.tariff.export_price(problem.spot_eur_kwh)
    net_load = problem.load_kw - problem.pv_kw
    baseline = dt * np.where(
        net_load > 0, import_price * net_load, export_price * net_load
    )
    return Plan(
        start=problem.start,
        slot_minutes=problem.slot_minutes,
        strategy=problem.strategy,
        engine=engine,
        status="optimal",
        solve_ms=solve_ms,
        initial_soc_pct=problem.soc_pct,
        capacity_kwh=problem.battery.capacity_kwh,
        battery_kw=lp.block(x, "discharge") - lp.block(x, "charge"),
        soc_pct=np.clip(energy / problem.battery.capacity_kwh * 100, 0, 100),
        grid_import_kw=imp,
        grid_export_kw=exp,
        pv_curtailed_kw=np.clip(lp.block(x, "curtail"), 0, None),
        import_price_eur_kwh=import_price,
        export_price_eur_kwh=export_price,
        cost_eur=dt * (import_price * imp - export_price * exp),
        baseline_cost_eur=baseline,
        # HiGHS reports d(cost)/d(rhs); one more kWh in storage lowers the cost.
        stored_energy_value_eur_kwh=-storage_duals,
        terminal_value_eur_kwh=terminal_value,
    )
