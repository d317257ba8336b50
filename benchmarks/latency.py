"""Solve time per engine, cold and warm, for 96, 192 and 672 slots of 15 minutes.

Cold: the first solve of a problem of that shape (cvxpy compiles it; HiGHS starts from scratch). Warm:
the window moved on by one slot, as a 15-minute re-plan does (cvxpy re-uses the compiled problem; HiGHS
starts from the previous plan's basis, as the integration does). Automatic mode: the four strategies
planned and scored, cold and warm. Reports medians over the repeats.

    ./scripts/bench latency [--repeats N]
"""

from __future__ import annotations

import argparse
from datetime import timedelta
import functools
import json
import statistics
import time
from typing import TYPE_CHECKING

from custom_components.phoenyra_ems.engine import cvxpy_engine
from custom_components.phoenyra_ems.engine.forecast import (
    OUTCOME_DAYS,
    PV_DEPARTURE_REST_OF_TODAY,
    net_load_outcomes,
    recent_departures,
)
from custom_components.phoenyra_ems.engine.model import (
    Battery,
    Grid,
    PlanningProblem,
    Strategy,
    Tariff,
)
from custom_components.phoenyra_ems.engine.optimizer import WarmStarts, solve_highs
from custom_components.phoenyra_ems.engine.strategies import StrategySettings, select

from .data import SiteData, default_site

if TYPE_CHECKING:
    from collections.abc import Callable

SIZES = (96, 192, 672)
# The windows start a week into the data, so that each has the recent days its outcomes need.
WEEK = 7 * 96
BATTERY = Battery(capacity_kwh=10, max_charge_kw=5, max_discharge_kw=5)
GRID = Grid(max_import_kw=17, max_export_kw=10)


def problem(site: SiteData, first: int, slots: int) -> PlanningProblem:
    """Return the planning problem of ``slots`` slots from slot ``first``.

    With the other outcomes the integration weighs beside the forecasts, from the week before.
    """
    # Windows past the data's end start over a week in (the bundled demo data has four weeks).
    first = WEEK + (first - WEEK) % (len(site.load_kw) - WEEK - slots)
    spot, load, pv = site.window(first, slots)
    per_day = 1440 // site.step_min
    history = slice(max(0, first - OUTCOME_DAYS * per_day), first)
    outcomes = net_load_outcomes(
        load,
        pv,
        recent_departures(site.load_kw[history], per_day, slots),
        recent_departures(
            site.pv_kw[history],
            per_day,
            slots,
            rest_of_today=PV_DEPARTURE_REST_OF_TODAY,
        ),
    )
    return PlanningProblem(
        start=site.start + timedelta(minutes=site.step_min * first),
        slot_minutes=site.step_min,
        spot_eur_kwh=spot,
        load_kw=load,
        pv_kw=pv,
        net_load_outcomes_kw=outcomes,
        soc_pct=50.0,
        battery=BATTERY,
        grid=GRID,
        tariff=Tariff(),
    )


def timed_ms(solve: object, p: PlanningProblem) -> float:
    """Wall time of one solve in ms, problem assembly included."""
    began = time.perf_counter()
    solve(p)  # type: ignore[operator]
    return (time.perf_counter() - began) * 1000


def auto_plan(p: PlanningProblem, warm_starts: WarmStarts | None = None) -> object:
    """Plan all four strategies and pick one, as automatic mode does."""
    solver = functools.partial(solve_highs, warm_starts=warm_starts)
    return select(p, StrategySettings(), Strategy.ARBITRAGE, solver)


def timed_warm_ms(
    solve: Callable[..., object], before: PlanningProblem, now: PlanningProblem
) -> float:
    """Wall time of solving ``now`` in ms, started from the basis of ``before`` (solved first)."""
    warm_starts = WarmStarts()
    solve(before, warm_starts=warm_starts)
    return timed_ms(functools.partial(solve, warm_starts=warm_starts), now)


def main(argv: list[str]) -> None:
    """Measure and print the medians; the last line is JSON."""
    parser = argparse.ArgumentParser(prog="./scripts/bench latency")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    site = default_site()
    result: dict[str, object] = {
        "highs_ms": {},
        "source": site.source,
        "repeats": args.repeats,
    }
    solve_highs(problem(site, 0, 96))  # the first solve of the process loads HiGHS
    for n in SIZES:
        samples = [
            timed_ms(solve_highs, problem(site, WEEK + 4 * 24 * k, n))
            for k in range(args.repeats)
        ]
        result["highs_ms"][str(n)] = round(statistics.median(samples), 2)  # type: ignore[index]
        print(f"highs  {n:4d} slots: {result['highs_ms'][str(n)]:8.2f} ms")  # type: ignore[index]
    # Warm: the previous window solved first, from scratch, then this one from its basis. Automatic
    # mode: all four strategies planned and scored, as each run does, from scratch and warm.
    highs_warm: dict[str, float] = {}
    auto_cold: dict[str, float] = {}
    auto_warm: dict[str, float] = {}
    for n in SIZES:
        warm_samples, auto_cold_samples, auto_warm_samples = [], [], []
        for k in range(args.repeats):
            before, now = (
                problem(site, WEEK + 4 * 24 * k, n),
                problem(site, WEEK + 4 * 24 * k + 1, n),
            )
            warm_samples.append(timed_warm_ms(solve_highs, before, now))
            auto_cold_samples.append(timed_ms(auto_plan, now))
            auto_warm_samples.append(timed_warm_ms(auto_plan, before, now))
        highs_warm[str(n)] = round(statistics.median(warm_samples), 2)
        auto_cold[str(n)] = round(statistics.median(auto_cold_samples), 2)
        auto_warm[str(n)] = round(statistics.median(auto_warm_samples), 2)
        print(
            f"highs  {n:4d} slots: warm {highs_warm[str(n)]:8.2f} ms; auto (four strategies) "
            f"cold {auto_cold[str(n)]:8.2f} ms, warm {auto_warm[str(n)]:8.2f} ms"
        )
    result["highs_warm_ms"] = highs_warm
    result["auto_highs_ms"] = auto_cold
    result["auto_highs_warm_ms"] = auto_warm
    if cvxpy_engine.cvxpy_available():
        cold: dict[str, float] = {}
        warm: dict[str, float] = {}
        for n in SIZES:
            cold_samples, warm_samples = [], []
            for k in range(max(3, args.repeats // 5)):
                cvxpy_engine.clear_compiled()
                first = WEEK + 4 * 24 * k
                cold_samples.append(
                    timed_ms(cvxpy_engine.solve_cvxpy, problem(site, first, n))
                )
                warm_samples.extend(
                    timed_ms(cvxpy_engine.solve_cvxpy, problem(site, first + step, n))
                    for step in range(1, 6)
                )
            cold[str(n)] = round(statistics.median(cold_samples), 2)
            warm[str(n)] = round(statistics.median(warm_samples), 2)
            print(
                f"cvxpy  {n:4d} slots: cold {cold[str(n)]:8.2f} ms, warm {warm[str(n)]:8.2f} ms"
            )
        result["cvxpy_cold_ms"] = cold
        result["cvxpy_warm_ms"] = warm
    print(json.dumps(result))
