"""The planning model of optimizer.py stated with cvxpy, compiled once per shape, solved by HiGHS.

cvxpy has no wheels for Home Assistant OS (musl), so it is optional: used where it installs, never
required. The problem is written with Parameters (disciplined parametrized programming), so a problem
of a given shape is compiled once and every later solve only substitutes new data.
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
import importlib.util
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .optimizer import (
    GRID_SLACK_EUR_KWH,
    HIGHS_OPTIONS,
    LONG_PROGRAM_OPTIONS,
    LONG_PROGRAM_SLOTS,
    SLOT_BLOCKS,
    SOC_SLACK_EUR_KWH,
    SolverError,
    bounds,
    outcome_slots,
    outcome_weights,
    plan_from_solution,
)

if TYPE_CHECKING:
    from .model import Battery, Grid, Plan, PlanningProblem

_lock = threading.Lock()
_compiled: dict[tuple[Any, ...], _Compiled] = {}
# Shapes kept compiled; each is a few MB, and a site uses a handful (horizons of 24 to 48 hours).
_MAX_COMPILED = 16


def clear_compiled() -> None:
    """Forget every compiled problem, so that the next solve of each shape is a cold one."""
    with _lock:
        _compiled.clear()


@functools.cache
def cvxpy_available() -> bool:
    """Return whether cvxpy can be imported here (looked up on disk once; cache_clear() after an install)."""
    return importlib.util.find_spec("cvxpy") is not None


@dataclass(slots=True)
class _Compiled:
    problem: Any
    parameters: dict[str, Any]
    variables: dict[str, Any]
    storage: list[Any]


def _compile(
    n: int,
    dt: float,
    battery: Battery,
    grid: Grid,
    peak: bool,
    ramp: bool,
    flatten: bool,
    outcomes: int,
    k: int,
) -> _Compiled:
    # ``outcomes`` other outcomes over the first ``k`` slots (optimizer.outcome_slots).
    import cvxpy as cp  # noqa: PLC0415 - heavy and optional: imported where the solve runs

    par = {
        "import_price": cp.Parameter(n),
        "export_price": cp.Parameter(n),
        "net_load": cp.Parameter(n),
        "pv": cp.Parameter(n, nonneg=True),
        "charge_max": cp.Parameter(n, nonneg=True),
        "discharge_max": cp.Parameter(n, nonneg=True),
        # One parameter, not keep x initial energy: DPP allows no product of two parameters.
        "initial_kept_kwh": cp.Parameter(nonneg=True),
        "keep": cp.Parameter(nonneg=True),
        "terminal_value": cp.Parameter(),
        "degradation": cp.Parameter(nonneg=True),
        "holding": cp.Parameter(nonneg=True),
    }
    var = {name: cp.Variable(n, nonneg=True) for name in SLOT_BLOCKS}
    c, d = var["charge"], var["discharge"]
    imp, exp = var["grid_import"], var["grid_export"]
    eta_c, eta_d = battery.charge_efficiency, battery.discharge_efficiency
    # The stored energy: its part within the SoC window and the slacks beyond (as the HiGHS model).
    e = var["energy"] + var["above"] - var["below"]
    storage = [
        e[0] == par["initial_kept_kwh"] + dt * (eta_c * c[0] - d[0] / eta_d),
    ]
    if n > 1:
        storage.append(
            e[1:] == par["keep"] * e[:-1] + dt * (eta_c * c[1:] - d[1:] / eta_d)
        )
    constraints = [
        imp - exp - c + d - var["curtail"] == par["net_load"],
        *storage,
        var["energy"] >= battery.energy_min_kwh,
        var["energy"] <= battery.energy_max_kwh,
        var["below"] <= battery.energy_min_kwh,
        var["above"] <= battery.capacity_kwh - battery.energy_max_kwh,
        imp - var["over"] <= grid.max_import_kw,
        c <= par["charge_max"],
        d <= par["discharge_max"],
        exp <= grid.max_export_kw,
        var["curtail"] <= par["pv"],
    ]
    cost = (
        dt * par["degradation"] * cp.sum(c + d)
        - par["terminal_value"] * e[n - 1]
        - dt * par["holding"] * cp.sum(e)
        + SOC_SLACK_EUR_KWH * cp.sum(var["below"] + var["above"])
    )
    # The grid's part: the forecast's at its weight over the first k slots, and each other
    # outcome's there (its own grid exchange around the one battery schedule, at the export price
    # the HiGHS model gives it); beyond them the forecast's alone.
    weights = outcome_weights(outcomes)
    head, tail = slice(0, k), slice(k, n)

    def energy_cost(import_kw: Any, export_kw: Any, slots: slice, price: str) -> Any:
        return dt * (
            par["import_price"][slots] @ import_kw - par[price][slots] @ export_kw
        )

    cost += GRID_SLACK_EUR_KWH * dt * cp.sum(var["over"])
    if k > 0:
        cost += weights[0] * energy_cost(imp[head], exp[head], head, "export_price")
    if k < n:
        cost += energy_cost(imp[tail], exp[tail], tail, "export_price")
    if outcomes:
        par["outcome_export_price"] = cp.Parameter(n)
    for outcome in range(1, outcomes + 1):
        o_imp, o_exp = cp.Variable(k, nonneg=True), cp.Variable(k, nonneg=True)
        par[f"net_load_{outcome}"] = cp.Parameter(k)
        constraints.append(
            o_imp - o_exp - c[head] + d[head] == par[f"net_load_{outcome}"]
        )
        cost += weights[outcome] * energy_cost(
            o_imp, o_exp, head, "outcome_export_price"
        )
    grid_power = imp - exp
    if peak:
        par["peak_price"] = cp.Parameter(nonneg=True)
        par["peak_floor"] = cp.Parameter(nonneg=True)
        var["peak"] = cp.Variable()
        constraints += [var["peak"] >= imp, var["peak"] >= par["peak_floor"]]
        cost += par["peak_price"] * var["peak"]
    if ramp:
        par["ramp_price"] = cp.Parameter(nonneg=True)
        var["ramp"] = cp.Variable(n - 1, nonneg=True)
        change = grid_power[1:] - grid_power[:-1]
        constraints += [var["ramp"] >= change, var["ramp"] >= -change]
        cost += par["ramp_price"] * cp.sum(var["ramp"])
    if flatten:
        par["flatten_price"] = cp.Parameter(nonneg=True)
        par["target"] = cp.Parameter(n)
        var["flatten"] = cp.Variable(n, nonneg=True)
        distance = grid_power - par["target"]
        constraints += [var["flatten"] >= distance, var["flatten"] >= -distance]
        cost += dt * par["flatten_price"] * cp.sum(var["flatten"])
    problem = cp.Problem(cp.Minimize(cost), constraints)
    return _Compiled(problem=problem, parameters=par, variables=var, storage=storage)


def _options(slots: int) -> dict[str, float | int | str]:
    """Return the HiGHS options for cvxpy's form of a program of ``slots`` slots.

    Primal simplex, from scratch too: on cvxpy's form (a copy of the grid exchange per outcome)
    dual simplex, which the HiGHS engine's own matrices solve faster from scratch, took the latency
    benchmark's 192-slot programs 199 against 77 ms compiled anew, 36 against 16 ms re-solved.
    """
    return HIGHS_OPTIONS if slots <= LONG_PROGRAM_SLOTS else LONG_PROGRAM_OPTIONS


def solve_cvxpy(problem: PlanningProblem) -> Plan:
    """Solve the planning problem with cvxpy (HiGHS underneath) and return the plan."""
    import cvxpy as cp  # noqa: PLC0415 - see _compile

    began = time.perf_counter()
    b = bounds(problem)
    obj = problem.objective
    peak, ramp, flatten = (
        obj.peak_eur_kw > 0,
        obj.ramp_eur_kw > 0 and problem.slots > 1,
        obj.flatten_eur_kw > 0,
    )
    outcomes = len(problem.net_load_outcomes_kw)
    k = outcome_slots(problem)
    key = (
        problem.slots,
        problem.slot_minutes,
        problem.battery,
        problem.grid,
        peak,
        ramp,
        flatten,
        outcomes,
        k,
    )
    with _lock:
        compiled = _compiled.get(key)
        if compiled is None:
            if len(_compiled) >= _MAX_COMPILED:
                _compiled.pop(next(iter(_compiled)))
            compiled = _compiled[key] = _compile(
                problem.slots,
                problem.slot_hours,
                problem.battery,
                problem.grid,
                peak,
                ramp,
                flatten,
                outcomes,
                k,
            )
        values: dict[str, Any] = {
            "import_price": b.import_price,
            "export_price": b.export_price,
            "outcome_export_price": b.outcome_export_price,
            "net_load": problem.load_kw - problem.pv_kw,
            "pv": problem.pv_kw,
            "charge_max": b.charge_max,
            "discharge_max": b.discharge_max,
            "initial_kept_kwh": b.initial_kept_kwh,
            "keep": b.keep,
            "terminal_value": b.terminal_value,
            "degradation": obj.degradation_eur_kwh,
            "holding": obj.holding_eur_kwh_h,
            "peak_price": obj.peak_eur_kw,
            "peak_floor": obj.peak_floor_kw,
            "ramp_price": obj.ramp_eur_kw,
            "flatten_price": obj.flatten_eur_kw,
            "target": np.zeros(problem.slots)
            if problem.grid_target_kw is None
            else problem.grid_target_kw,
        }
        for outcome, net_load in enumerate(problem.net_load_outcomes_kw, start=1):
            values[f"net_load_{outcome}"] = net_load[:k]
        for name, parameter in compiled.parameters.items():
            parameter.value = values[name]
        try:
            compiled.problem.solve(solver=cp.HIGHS, **_options(problem.slots))
        except cp.error.SolverError as err:
            raise SolverError(f"cvxpy: {err}") from err
        if compiled.problem.status != cp.OPTIMAL:
            raise SolverError(f"cvxpy finished with status {compiled.problem.status}")
        columns = {
            name: np.asarray(v.value, dtype=float).reshape(-1)
            for name, v in compiled.variables.items()
        }
        # cvxpy's duals of "e == ..." are d(cost)/d(rhs) with the opposite sign of HiGHS's rows.
        duals = np.concatenate(
            [np.atleast_1d(con.dual_value) for con in compiled.storage]
        )
        objective = float(compiled.problem.value)
    return plan_from_solution(
        problem,
        b,
        columns,
        stored_energy_value=np.asarray(duals, dtype=float),
        objective=objective,
        engine="cvxpy",
        solve_ms=(time.perf_counter() - began) * 1000,
    )
