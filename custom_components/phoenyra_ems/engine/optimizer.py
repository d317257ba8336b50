"""The battery planning linear program: one model, assembled here as sparse matrices for HiGHS.

Per slot t the variables are charge power c, discharge power d (kW), stored energy at the end of
the slot (kWh), grid import and export (kW), curtailed PV (kW), and three penalised slacks that keep
the program feasible whatever the inputs: energy below the SoC window, energy above it, and import
beyond the grid limit. The stored energy is e + above - below, with e (block "energy") bounded to
the SoC window [E_min, E_max], below to [0, E_min] and above to [0, capacity - E_max]: the soft SoC
limits as column bounds, not rows (two rows a slot fewer; the simplex ran 12 % faster on automatic
mode's re-plans). Depending on the objective there are also the horizon's peak import P, and per
slot the change of grid power (rising part r+, falling part r-) and its distance from a target
(above f+, below f-). Minimised:

    sum_t dt * (p_imp * imp - p_exp * exp + w * (c + d)) + k_peak * P
          + sum_t (k_ramp * (r+ + r-) + dt * k_flat * (f+ + f-) - dt * h * s[t]) - V * s[T-1]
          + penalties

subject to, for every slot, with s = e + above - below,
    imp - exp - c + d - curt = load - pv                            (energy balance)
    s[t] = k * s[t-1] + dt * (eta_c * c[t] - d[t] / eta_d)          (storage, k = self-discharge)
    imp - over <= G_imp                                             (soft grid limit)
    imp <= P, P >= peak floor                                       (with a demand charge)
    g[t] - g[t-1] = r+[t] - r-[t],  g[t] - target[t] = f+[t] - f-[t]   (with smoothing, g = imp - exp)

V, the value of energy left at the end, keeps the plan from emptying the battery merely because
the horizon ends; h, a reward per kWh held per hour too small to outweigh any price, breaks ties
towards storing early and releasing late. With other outcomes (PlanningProblem.net_load_outcomes_kw)
the forecast's energy cost weighs less over the slots they cover, and each outcome's own grid exchange
around the one battery schedule is costed at its weight (_OutcomePieces: as pieces of the battery's
net charging, one row a slot). The cvxpy engine (cvxpy_engine.py) states the same model with cvxpy.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
import functools
import threading
import time
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from .model import OUTCOME_WEIGHT, FloatArray, Plan, PlanningProblem

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from datetime import datetime

# EUR per kWh of violated limit: far above any energy price, so a slack is used only when the
# limits cannot all be kept (a measured SoC outside the window, a load beyond the grid connection).
# The battery's window is a safety limit and weighs more: when both cannot be kept, the grid gives.
SOC_SLACK_EUR_KWH = 100.0
GRID_SLACK_EUR_KWH = 10.0

# The per-slot variable blocks of the model, shared by both engines.
SLOT_BLOCKS = (
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

# HiGHS instances not in use, by the options they were set up with (see _borrowed_solver).
_idle_solvers: dict[tuple[tuple[str, float | int | str], ...], list[Any]] = {}
_idle_lock = threading.Lock()


class SolverError(RuntimeError):
    """The solver did not return an optimal plan."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """Variable bounds and prices of one problem, shared by both engines."""

    import_price: FloatArray
    export_price: FloatArray
    charge_max: FloatArray
    discharge_max: FloatArray
    # Energy in store at the end of the first slot before charging or discharging (after one slot
    # of self-discharge): the right-hand side of the first storage row in both engines.
    initial_kept_kwh: float
    keep: float
    terminal_value: float
    # What the other outcomes' surplus earns (PlanningProblem.net_load_outcomes_kw): the export price,
    # but never below 0, as a surplus at a negative price would be curtailed rather than exported.
    outcome_export_price: FloatArray


def terminal_value_eur_kwh(problem: PlanningProblem) -> float:
    """Return the default value of one kWh left in the battery at the end of the horizon.

    Stored energy later replaces imports; valued at the median import price of the horizon after
    the discharge loss, so the plan keeps energy it bought cheaply but does not hoard it.
    """
    import_price = problem.tariff.import_price(problem.spot_eur_kwh)
    return max(
        0.0, float(np.median(import_price)) * problem.battery.discharge_efficiency
    )


def bounds(problem: PlanningProblem) -> Bounds:
    """Return prices and variable bounds of the problem."""
    bat = problem.battery
    objective = problem.objective
    surplus = np.clip(problem.pv_kw - problem.load_kw, 0, None)
    deficit = np.clip(problem.load_kw - problem.pv_kw, 0, None)
    charge_max = np.full(problem.slots, bat.max_charge_kw)
    discharge_max = np.full(problem.slots, bat.max_discharge_kw)
    if not objective.grid_charging:
        charge_max = np.minimum(charge_max, surplus)
    if not objective.battery_export:
        discharge_max = np.minimum(discharge_max, deficit)
    if objective.reserve_for_peaks:
        discharge_max = np.minimum(
            discharge_max, np.clip(deficit - objective.peak_floor_kw, 0, None)
        )
    value = problem.terminal_value_eur_kwh
    import_price = problem.tariff.import_price(problem.spot_eur_kwh)
    # The meter sees the net flow: importing and exporting at once earns nothing, even where export
    # pays more than import costs (negative retail prices, an export floor). Capping the export
    # price at the import price keeps the program from pretending otherwise.
    export_price = np.minimum(
        problem.tariff.export_price(problem.spot_eur_kwh), import_price
    )
    keep = 1.0 - bat.self_discharge_per_h * problem.slot_hours
    return Bounds(
        import_price=import_price,
        export_price=export_price,
        outcome_export_price=np.minimum(np.maximum(export_price, 0.0), import_price),
        charge_max=charge_max,
        discharge_max=discharge_max,
        initial_kept_kwh=keep * bat.capacity_kwh * problem.soc_pct / 100,
        keep=keep,
        terminal_value=terminal_value_eur_kwh(problem) if value is None else value,
    )


@dataclass(frozen=True, slots=True)
class LinearProgram:
    """A linear program in HiGHS's column-wise form: min offset + cost.x, row_lower <= A x <= row_upper."""

    offset: float
    cost: FloatArray
    col_lower: FloatArray
    col_upper: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    a_start: npt.NDArray[np.int32]
    a_index: npt.NDArray[np.int32]
    a_value: FloatArray
    # Continuous variables only: HiGHS's array interface wants one entry per column.
    integrality: npt.NDArray[np.int32]
    columns: Mapping[str, slice]
    rows: Mapping[str, slice]


@dataclass(frozen=True, slots=True)
class _Shape:
    """All the constraint matrix depends on: problems of one shape share their matrix."""

    slots: int
    slot_hours: float
    keep: float
    charge_efficiency: float
    discharge_efficiency: float
    peak: bool
    ramp: bool
    flatten: bool
    # Other outcomes besides the forecast (PlanningProblem.net_load_outcomes_kw), over the first slots.
    outcomes: int = 0
    outcome_slots: int = 0


# The other outcomes cover a plan's first two days (the longest plan the integration makes); beyond
# them the forecast stands alone: over a whole week a sunnier day as an outcome made a 672-slot plan
# 2.3 times slower (88 against 38 ms from scratch), for days a re-plan will know better.
OUTCOME_HOURS = 48


def outcome_slots(problem: PlanningProblem) -> int:
    """Return how many of the problem's first slots its other outcomes cover (0 without any)."""
    if not problem.net_load_outcomes_kw:
        return 0
    return min(problem.slots, round(OUTCOME_HOURS / problem.slot_hours))


def outcome_weights(outcomes: int) -> list[float]:
    """Return the weight of the forecast and of each of ``outcomes`` other outcomes, in that order."""
    return [1 - outcomes * OUTCOME_WEIGHT, *[OUTCOME_WEIGHT] * outcomes]


def weighted_net_loads(problem: PlanningProblem) -> list[tuple[float, FloatArray]]:
    """Return each net load the plan is costed against with its weight: the forecast's first.

    Beyond the slots the other outcomes cover (outcome_slots) each is the forecast's.
    """
    forecast = problem.load_kw - problem.pv_kw
    covered = outcome_slots(problem)
    return list(
        zip(
            outcome_weights(len(problem.net_load_outcomes_kw)),
            (
                forecast,
                *(
                    np.concatenate([outcome[:covered], forecast[covered:]])
                    for outcome in problem.net_load_outcomes_kw
                ),
            ),
            strict=True,
        )
    )


@dataclass(frozen=True, slots=True)
class _OutcomePieces:
    """The other outcomes' grid cost as pieces of the battery's net charging q = c - d, per slot.

    Outcome s imports q + net load_s when that is positive and exports the rest, so the weighted sum
    of their costs is convex and piecewise linear in q, kinked at each q = -net load_s. q is laid
    out as ``first`` - below + pieces + above: ``below`` runs down from the lowest kink (every
    outcome exporting), each piece between two neighbouring kinks (``widths``), ``above`` up from
    the highest (every outcome importing). ``costs`` (below, pieces, above; EUR per kW over the
    slot) rise from piece to piece, so the program fills them in order; ``offset`` is the cost at
    the lowest kinks, which no decision changes.
    """

    first: FloatArray
    widths: FloatArray
    costs: FloatArray
    offset: float


def _outcome_pieces(problem: PlanningProblem, b: Bounds, k: int) -> _OutcomePieces:
    """Lay out the other outcomes' cost over the first ``k`` slots (see _OutcomePieces)."""
    dt = problem.slot_hours
    kinks = np.sort(-np.array([o[:k] for o in problem.net_load_outcomes_kw]), axis=0)
    count = len(kinks)
    importing = np.arange(count + 1)[:, np.newaxis]
    # Slopes of the cost in q below the lowest kink, between kinks and above the highest.
    slopes = (
        OUTCOME_WEIGHT
        * dt
        * (
            importing * b.import_price[:k]
            + (count - importing) * b.outcome_export_price[:k]
        )
    )
    costs = slopes.copy()
    # "below" grows as q falls.
    costs[0] = -slopes[0]
    at_first = OUTCOME_WEIGHT * dt * b.outcome_export_price[:k] * (kinks[0] - kinks)
    return _OutcomePieces(
        first=kinks[0],
        widths=np.diff(kinks, axis=0),
        costs=costs,
        offset=float(at_first.sum()),
    )


@dataclass(frozen=True, slots=True)
class _Structure:
    """The layout and matrix of one shape; costs and bounds are filled in per problem."""

    columns: dict[str, slice]
    rows: dict[str, slice]
    n_cols: int
    n_rows: int
    a_start: npt.NDArray[np.int32]
    a_index: npt.NDArray[np.int32]
    a_value: FloatArray
    integrality: npt.NDArray[np.int32]


class _Builder:
    """Lays out named blocks of columns and rows and collects the matrix entries."""

    def __init__(self) -> None:
        self.columns: dict[str, slice] = {}
        self.rows: dict[str, slice] = {}
        self.n_cols = 0
        self.n_rows = 0
        self.entries: list[
            tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]
        ] = []

    def variables(self, name: str, size: int) -> npt.NDArray[np.int64]:
        self.columns[name] = slice(self.n_cols, self.n_cols + size)
        self.n_cols += size
        return np.arange(self.n_cols - size, self.n_cols, dtype=np.int64)

    def constraints(self, name: str, size: int) -> npt.NDArray[np.int64]:
        self.rows[name] = slice(self.n_rows, self.n_rows + size)
        self.n_rows += size
        return np.arange(self.n_rows - size, self.n_rows, dtype=np.int64)

    def coefficients(
        self, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], value: float
    ) -> None:
        self.entries.append((rows, cols, np.full(rows.shape, value)))

    def build(self) -> _Structure:
        row = np.concatenate([r for r, _, _ in self.entries])
        col = np.concatenate([c for _, c, _ in self.entries])
        val = np.concatenate([v for _, _, v in self.entries])
        order = np.lexsort((row, col))
        start = np.searchsorted(col[order], np.arange(self.n_cols + 1)).astype(np.int32)
        structure = _Structure(
            columns=self.columns,
            rows=self.rows,
            n_cols=self.n_cols,
            n_rows=self.n_rows,
            a_start=start,
            a_index=row[order].astype(np.int32),
            a_value=val[order],
            integrality=np.zeros(self.n_cols, dtype=np.int32),
        )
        # Shared by every problem of the shape (and every thread): nobody may change them.
        for array in (
            structure.a_start,
            structure.a_index,
            structure.a_value,
            structure.integrality,
        ):
            array.flags.writeable = False
        return structure


# A day of re-plans lays out about 150 shapes (the horizon shrinks by a slot each re-plan until
# the next day's prices arrive, for each of three objectives); one takes some 50 kB.
@functools.lru_cache(maxsize=256)
def _structure(shape: _Shape) -> _Structure:
    """Lay out the variables and constraints of a shape and assemble its matrix.

    Built once per shape (a re-plan every 15 minutes, or a backtest's thousands, keep their shape):
    only costs, bounds and right-hand sides change from problem to problem (build_lp).
    """
    n = shape.slots
    dt = shape.slot_hours
    lp = _Builder()
    c = lp.variables("charge", n)
    d = lp.variables("discharge", n)
    e = lp.variables("energy", n)
    imp = lp.variables("grid_import", n)
    exp = lp.variables("grid_export", n)
    curt = lp.variables("curtail", n)
    below = lp.variables("below", n)
    above = lp.variables("above", n)
    over = lp.variables("over", n)

    balance = lp.constraints("balance", n)
    for cols, sign in ((imp, 1.0), (exp, -1.0), (c, -1.0), (d, 1.0), (curt, -1.0)):
        lp.coefficients(balance, cols, sign)
    # The stored energy is e + above - below (see the module's docstring).
    storage = lp.constraints("storage", n)
    for part, sign in ((e, 1.0), (above, 1.0), (below, -1.0)):
        lp.coefficients(storage, part, sign)
        lp.coefficients(storage[1:], part[:-1], -shape.keep * sign)
    lp.coefficients(storage, c, -dt * shape.charge_efficiency)
    lp.coefficients(storage, d, dt / shape.discharge_efficiency)
    limit = lp.constraints("limit", n)
    lp.coefficients(limit, imp, 1.0)
    lp.coefficients(limit, over, -1.0)
    if shape.outcomes:
        # The other outcomes' cost, laid out over pieces of the battery's net charging
        # (_OutcomePieces): a row a slot and one column more than there are outcomes, where a copy
        # of the grid's exchange for each outcome would take a row and two columns per outcome.
        k = shape.outcome_slots
        rows = lp.constraints("outcomes", k)
        lp.coefficients(rows, c[:k], 1.0)
        lp.coefficients(rows, d[:k], -1.0)
        lp.coefficients(rows, lp.variables("outcome_below", k), 1.0)
        for piece in range(1, shape.outcomes):
            lp.coefficients(rows, lp.variables(f"outcome_piece_{piece}", k), -1.0)
        lp.coefficients(rows, lp.variables("outcome_above", k), -1.0)

    if shape.peak:
        peak = lp.variables("peak", 1)
        rows = lp.constraints("peak", n)
        lp.coefficients(rows, imp, 1.0)
        lp.coefficients(rows, np.repeat(peak, n), -1.0)
    # Absolute values as the sum of a positive and a negative part in one equality row: half the
    # rows of the pair of inequalities |x| <= r, and load balancing's 192-slot programs solved in
    # 24 instead of 31 ms.
    if shape.ramp:
        rows = lp.constraints("ramp", n - 1)
        lp.coefficients(rows, imp[1:], 1.0)
        lp.coefficients(rows, exp[1:], -1.0)
        lp.coefficients(rows, imp[:-1], -1.0)
        lp.coefficients(rows, exp[:-1], 1.0)
        lp.coefficients(rows, lp.variables("ramp_up", n - 1), -1.0)
        lp.coefficients(rows, lp.variables("ramp_down", n - 1), 1.0)
    if shape.flatten:
        rows = lp.constraints("flatten", n)
        lp.coefficients(rows, imp, 1.0)
        lp.coefficients(rows, exp, -1.0)
        lp.coefficients(rows, lp.variables("flatten_above", n), -1.0)
        lp.coefficients(rows, lp.variables("flatten_below", n), 1.0)
    return lp.build()


def build_lp(problem: PlanningProblem, b: Bounds) -> LinearProgram:
    """Return the planning problem as a sparse linear program (its shape's matrix, its own data)."""
    n = problem.slots
    dt = problem.slot_hours
    bat = problem.battery
    obj = problem.objective
    s = _structure(
        _Shape(
            slots=n,
            slot_hours=dt,
            keep=b.keep,
            charge_efficiency=bat.charge_efficiency,
            discharge_efficiency=bat.discharge_efficiency,
            peak=obj.peak_eur_kw > 0,
            ramp=obj.ramp_eur_kw > 0 and n > 1,
            flatten=obj.flatten_eur_kw > 0,
            outcomes=len(problem.net_load_outcomes_kw),
            outcome_slots=outcome_slots(problem),
        )
    )
    inf = np.inf
    cost, lower, upper = np.empty(s.n_cols), np.empty(s.n_cols), np.empty(s.n_cols)
    row_lower, row_upper = np.empty(s.n_rows), np.empty(s.n_rows)

    def variables(
        name: str, block_cost: Any, block_lower: Any, block_upper: Any
    ) -> None:
        where = s.columns[name]
        cost[where], lower[where], upper[where] = block_cost, block_lower, block_upper

    def constraints(name: str, block_lower: Any, block_upper: Any) -> None:
        where = s.rows[name]
        row_lower[where], row_upper[where] = block_lower, block_upper

    variables("charge", dt * obj.degradation_eur_kwh, 0, b.charge_max)
    variables("discharge", dt * obj.degradation_eur_kwh, 0, b.discharge_max)
    variables("energy", 0, bat.energy_min_kwh, bat.energy_max_kwh)
    variables("below", SOC_SLACK_EUR_KWH, 0, bat.energy_min_kwh)
    variables("above", SOC_SLACK_EUR_KWH, 0, bat.capacity_kwh - bat.energy_max_kwh)
    # The value of the energy left at the end, and the tie-break's reward for energy held in every
    # slot, on each part of the stored energy.
    for name, sign in (("energy", 1.0), ("above", 1.0), ("below", -1.0)):
        cost[s.columns[name].stop - 1] -= sign * b.terminal_value
        cost[s.columns[name]] -= sign * dt * obj.holding_eur_kwh_h
    # The grid's part: the forecast's at its weight where the other outcomes cover the slots, and
    # theirs (_OutcomePieces); beyond them the forecast's alone.
    k = outcome_slots(problem)
    weight = np.where(
        np.arange(n) < k, outcome_weights(len(problem.net_load_outcomes_kw))[0], 1.0
    )
    variables("grid_import", weight * dt * b.import_price, 0, inf)
    variables(
        "grid_export", -weight * dt * b.export_price, 0, problem.grid.max_export_kw
    )
    variables("curtail", 0, 0, problem.pv_kw)
    variables("over", GRID_SLACK_EUR_KWH * dt, 0, inf)
    net_load = problem.load_kw - problem.pv_kw
    constraints("balance", net_load, net_load)
    constraints("limit", -inf, problem.grid.max_import_kw)
    offset = 0.0
    if k:
        pieces = _outcome_pieces(problem, b, k)
        offset = pieces.offset
        constraints("outcomes", pieces.first, pieces.first)
        variables("outcome_below", pieces.costs[0], 0, inf)
        for piece, width in enumerate(pieces.widths, start=1):
            variables(f"outcome_piece_{piece}", pieces.costs[piece], 0, width)
        variables("outcome_above", pieces.costs[-1], 0, inf)
    constraints("storage", 0, 0)
    row_lower[s.rows["storage"].start] = row_upper[s.rows["storage"].start] = (
        b.initial_kept_kwh
    )

    if "peak" in s.columns:
        variables("peak", obj.peak_eur_kw, obj.peak_floor_kw, inf)
        constraints("peak", -inf, 0.0)
    if "ramp" in s.rows:
        variables("ramp_up", obj.ramp_eur_kw, 0, inf)
        variables("ramp_down", obj.ramp_eur_kw, 0, inf)
        constraints("ramp", 0.0, 0.0)
    if "flatten" in s.rows:
        target = (
            np.zeros(n) if problem.grid_target_kw is None else problem.grid_target_kw
        )
        variables("flatten_above", obj.flatten_eur_kw * dt, 0, inf)
        variables("flatten_below", obj.flatten_eur_kw * dt, 0, inf)
        constraints("flatten", target, target)
    return LinearProgram(
        offset=offset,
        cost=cost,
        col_lower=lower,
        col_upper=upper,
        row_lower=row_lower,
        row_upper=row_upper,
        a_start=s.a_start,
        a_index=s.a_index,
        a_value=s.a_value,
        integrality=s.integrality,
        columns=s.columns,
        rows=s.rows,
    )


def solve_highs(
    problem: PlanningProblem, warm_starts: WarmStarts | None = None
) -> Plan:
    """Solve the planning problem with HiGHS and return the plan.

    With ``warm_starts``, the solve starts from the optimal basis of the same site's previous plan
    of this kind, moved on to this problem's start (see WarmStarts); without, from scratch.

    Raises SolverError when HiGHS does not report an optimal solution; thanks to the slacks that
    means a solver fault, never infeasible inputs.
    """
    import highspy  # noqa: PLC0415 - heavy import, done where the solve runs (off the event loop)

    began = time.perf_counter()
    b = bounds(problem)
    lp = build_lp(problem, b)
    basis = None if warm_starts is None else warm_starts.basis_for(problem, lp)
    with _borrowed_solver(highs_options(problem.slots, basis is not None)) as solver:
        passed = pass_model(solver, lp)
        if passed != highspy.HighsStatus.kOk:
            raise SolverError(f"HiGHS rejected the model: {passed}")
        warm = False
        if basis is not None:
            warm = solver.setBasis(basis) == highspy.HighsStatus.kOk
            if not warm:
                # A basis HiGHS does not accept leaves the solve to start from scratch.
                solver.clearSolver()
        solver.run()
        status = solver.getModelStatus()
        if warm and status != highspy.HighsModelStatus.kOptimal:
            # Never fail for a warm start: from scratch again (the basis is replaced below).
            solver.clearSolver()
            solver.run()
            status = solver.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise SolverError(
                f"HiGHS finished with status {solver.modelStatusToString(status)}"
            )
        solution = solver.getSolution()
        x = np.asarray(solution.col_value, dtype=float)
        duals = np.asarray(solution.row_dual, dtype=float)
        objective = float(solver.getInfo().objective_function_value)
        if warm_starts is not None:
            warm_starts.remember(
                problem,
                lp,
                solver.getBasicVariables()[1],
                x,
                np.asarray(solution.row_value, dtype=float),
            )
    columns = {name: x[where] for name, where in lp.columns.items()}
    return plan_from_solution(
        problem,
        b,
        columns,
        # HiGHS reports d(cost)/d(rhs); one more kWh in storage lowers the cost.
        stored_energy_value=-duals[lp.rows["storage"]],
        objective=objective,
        engine="highs",
        solve_ms=(time.perf_counter() - began) * 1000,
    )


def pass_model(solver: Any, lp: LinearProgram) -> Any:
    """Give a HiGHS instance the whole linear program; return HiGHS's status.

    Passed as arrays: a HighsLp object costs half a millisecond in conversions per model. The whole
    model every time: nothing of what the instance solved before carries over, except a basis
    given on purpose.
    """
    import highspy  # noqa: PLC0415 - see solve_highs

    return solver.passModel(
        len(lp.cost),
        len(lp.row_lower),
        len(lp.a_value),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        lp.offset,
        lp.cost,
        lp.col_lower,
        lp.col_upper,
        lp.row_lower,
        lp.row_upper,
        lp.a_start,
        lp.a_index,
        lp.a_value,
        lp.integrality,
    )


type _BasisKey = tuple[object, ...]

# HiGHS's basis statuses (HighsBasisStatus), kept as small integers: reading and writing them as
# Python objects costs more than the solve they save.
_AT_LOWER, _BASIC, _AT_UPPER, _FREE = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class _Basis:
    """An optimal basis: the status of every column and row, per block in slot order."""

    start: datetime
    columns: dict[str, npt.NDArray[np.int8]]
    rows: dict[str, npt.NDArray[np.int8]]


class WarmStarts:
    """The last optimal basis of each kind of plan of one site, to start its next plan from.

    A re-plan 15 minutes later is nearly the same program moved on by one slot. Started from the
    previous optimal basis moved on by the same slots (the new slots at the end take the statuses
    of the last old one), the simplex needs far fewer iterations. The plan is as optimal as one
    solved from scratch; where several plans are equally cheap it tends to keep the previous
    one's choice. One instance per site (a coordinator, a backtest): the strategies' solves may
    use it from several threads at once.
    """

    def __init__(self) -> None:
        """Start with no bases."""
        self._lock = threading.Lock()
        self._bases: dict[_BasisKey, _Basis] = {}

    @staticmethod
    def _key(problem: PlanningProblem, lp: LinearProgram) -> _BasisKey:
        obj = problem.objective
        # The program's layout apart from its length, and the bounds that change its solution
        # most (a plan that may trade and one that may not end on different bases).
        return (
            problem.strategy,
            problem.slot_minutes,
            tuple(lp.columns),
            tuple(lp.rows),
            obj.grid_charging,
            obj.battery_export,
        )

    def basis_for(self, problem: PlanningProblem, lp: LinearProgram) -> Any | None:
        """Return the remembered basis moved on to the problem's start, or None."""
        import highspy  # noqa: PLC0415 - see solve_highs

        with self._lock:
            old = self._bases.get(self._key(problem, lp))
        if old is None:
            return None
        moved, rest = divmod(
            (problem.start - old.start).total_seconds(), 60 * problem.slot_minutes
        )
        if rest or not 0 <= moved < old.rows["storage"].size:
            return None
        col_status = _moved(old.columns, lp.columns, int(moved))
        row_status = _moved(old.rows, lp.rows, int(moved))
        # A basis has exactly one basic variable (column or row) per row; the moved one may have
        # gained or lost some with the slots cut off and added at the ends. Too few: non-basic
        # rows of the last slots become basic (their slack enters); too many: basic columns of
        # the last slots leave the basis.
        missing = (
            row_status.size
            - np.count_nonzero(col_status == _BASIC)
            - np.count_nonzero(row_status == _BASIC)
        )
        if missing > 0:
            row_status[np.flatnonzero(row_status != _BASIC)[-missing:]] = _BASIC
        elif missing < 0:
            col_status[np.flatnonzero(col_status == _BASIC)[missing:]] = _AT_LOWER
        statuses = [highspy.HighsBasisStatus(code) for code in range(_FREE + 1)]
        columns = cast(
            "list[int]", _at_bounds(col_status, lp.col_lower, lp.col_upper).tolist()
        )
        rows = cast(
            "list[int]", _at_bounds(row_status, lp.row_lower, lp.row_upper).tolist()
        )
        basis = highspy.HighsBasis()
        basis.col_status = [statuses[code] for code in columns]
        basis.row_status = [statuses[code] for code in rows]
        basis.valid = True
        return basis

    def remember(
        self,
        problem: PlanningProblem,
        lp: LinearProgram,
        basic_variables: npt.NDArray[np.int32],
        col_value: FloatArray,
        row_value: FloatArray,
    ) -> None:
        """Keep the optimal basis of a solved problem for the next plan of its kind.

        ``basic_variables`` as HiGHS lists them: column j as j, row i as -1 - i.
        """
        col_status = np.where(
            col_value >= lp.col_upper - 1e-9, _AT_UPPER, _AT_LOWER
        ).astype(np.int8)
        row_status = np.where(
            row_value >= lp.row_upper - 1e-9, _AT_UPPER, _AT_LOWER
        ).astype(np.int8)
        col_status[basic_variables[basic_variables >= 0]] = _BASIC
        row_status[-1 - basic_variables[basic_variables < 0]] = _BASIC
        kept = _Basis(
            start=problem.start,
            columns={name: col_status[where] for name, where in lp.columns.items()},
            rows={name: row_status[where] for name, where in lp.rows.items()},
        )
        with self._lock:
            self._bases[self._key(problem, lp)] = kept


def _moved(
    old: Mapping[str, npt.NDArray[np.int8]], layout: Mapping[str, slice], first: int
) -> npt.NDArray[np.int8]:
    """Return the statuses of each block from old slot ``first`` on, laid out as ``layout``.

    Blocks of one entry (the horizon's peak) keep theirs; slots past the old end repeat its last.
    """
    blocks = []
    for name, where in layout.items():
        size = where.stop - where.start
        block = old[name]
        kept = block[first : first + size] if block.size > 1 else block
        if kept.size == 0:
            kept = block[-1:]
        blocks.append(kept)
        if kept.size < size:
            blocks.append(np.full(size - kept.size, kept[-1], dtype=np.int8))
    return np.concatenate(blocks)


def _at_bounds(
    status: npt.NDArray[np.int8], lower: FloatArray, upper: FloatArray
) -> npt.NDArray[np.int8]:
    """Return the statuses with every non-basic one at a bound its variable has.

    A variable moved to another slot may have other bounds there (no upper bound, or none at all).
    """
    has_lower, has_upper = np.isfinite(lower), np.isfinite(upper)
    bound = np.where(
        (status == _AT_UPPER) & has_upper,
        _AT_UPPER,
        np.where(has_lower, _AT_LOWER, np.where(has_upper, _AT_UPPER, _FREE)),
    )
    return np.where(status == _BASIC, _BASIC, bound).astype(np.int8)


# Both engines give HiGHS these options; HiGHS's engine continues a warm start with them.
HIGHS_OPTIONS: dict[str, float | int | str] = {
    # Tighter than HiGHS's default 1e-7: with that, plans whose objective is mostly smoothing terms
    # differed between the engines by more than 1e-6 EUR.
    "primal_feasibility_tolerance": 1e-9,
    "dual_feasibility_tolerance": 1e-9,
    # A plan's program is small and has little to presolve away; primal simplex without presolve
    # solved the benchmark's 192-slot programs 1.3 to 2 times faster than the defaults (dual
    # simplex after presolve), to the same objective. It also continues best from a warm start
    # (at 672 slots 4.66 ms against dual simplex's 5.48).
    "presolve": "off",
    "simplex_strategy": 4,
}
# From scratch dual simplex, still without presolve: with the recent days' outcomes (a row and
# seven piece columns a slot) it solved the latency benchmark's programs in 10.93 against 14.84 ms
# at 192 slots and 28.59 against 47.35 ms at 672, automatic mode in 45 against 54 and 191 against
# 273 ms.
COLD_OPTIONS: dict[str, float | int | str] = {**HIGHS_OPTIONS, "simplex_strategy": 1}
# Programs longer than this many slots (two weeks of quarter-hours), solved from scratch, take
# presolve as well: there dual simplex after presolve was faster for every strategy than primal
# simplex without (arbitrage 132 against 80 ms at 1344 slots, 474 against 170 ms at 2688, a year's
# perfect-foresight plan 82 against 6 s). At 672 slots presolve cost time (39.97 against 28.59 ms).
LONG_PROGRAM_SLOTS = 1344
LONG_PROGRAM_OPTIONS: dict[str, float | int | str] = {**COLD_OPTIONS, "presolve": "on"}


def highs_options(slots: int, warm: bool = False) -> dict[str, float | int | str]:
    """Return the HiGHS options for a program of ``slots`` slots, started from a basis or not."""
    if warm:
        return HIGHS_OPTIONS
    return LONG_PROGRAM_OPTIONS if slots > LONG_PROGRAM_SLOTS else COLD_OPTIONS


@contextmanager
def _borrowed_solver(options: dict[str, float | int | str]) -> Iterator[Any]:
    """Lend a HiGHS instance set up with ``options`` for one solve.

    Creating one costs time and prints a banner. Instances outlive the threads that use them (Home
    Assistant's executor threads, where several sites may plan at once); each is used by one thread
    at a time, and kept with the options it was set up with.
    """
    key = tuple(options.items())
    with _idle_lock:
        idle = _idle_solvers.setdefault(key, [])
        solver = idle.pop() if idle else None
    if solver is None:
        import highspy  # noqa: PLC0415 - see solve_highs

        solver = highspy.Highs()  # type: ignore[no-untyped-call]
        solver.setOptionValue("output_flag", False)
        for name, value in options.items():
            solver.setOptionValue(name, value)
        # No "threads" option: HiGHS's scheduler is global, set up by whichever instance runs first
        # (cvxpy's included), and a different thread count makes later runs fail.
    try:
        yield solver
    finally:
        with _idle_lock:
            _idle_solvers[key].append(solver)


def plan_from_solution(
    problem: PlanningProblem,
    b: Bounds,
    columns: Mapping[str, npt.ArrayLike],
    *,
    stored_energy_value: FloatArray,
    objective: float,
    engine: str,
    solve_ms: float,
) -> Plan:
    """Turn an engine's solution (values per variable block) into a plan."""
    values = {
        name: np.asarray(column, dtype=np.float64) for name, column in columns.items()
    }
    dt = problem.slot_hours
    # What the meter sees: the net of import and export in each slot.
    grid = values["grid_import"] - values["grid_export"]
    imp = np.clip(grid, 0, None)
    exp = np.clip(-grid, 0, None)
    import_price = b.import_price
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
        battery=problem.battery,
        battery_kw=values["discharge"] - values["charge"],
        soc_pct=np.clip(
            (values["energy"] + values["above"] - values["below"])
            / problem.battery.capacity_kwh
            * 100,
            0,
            100,
        ),
        grid_import_kw=imp,
        grid_export_kw=exp,
        pv_curtailed_kw=np.clip(values["curtail"], 0, None),
        import_price_eur_kwh=import_price,
        export_price_eur_kwh=export_price,
        cost_eur=dt * (import_price * imp - export_price * exp),
        baseline_cost_eur=baseline,
        net_load_kw=net_load,
        objective_eur=objective,
        stored_energy_value_eur_kwh=np.asarray(stored_energy_value, dtype=float),
        terminal_value_eur_kwh=b.terminal_value,
        peak_limit_kw=float(values["peak"][0]) if "peak" in values else None,
        reserve_for_peaks=problem.objective.reserve_for_peaks,
        peak_floor_kw=problem.objective.peak_floor_kw,
    )
