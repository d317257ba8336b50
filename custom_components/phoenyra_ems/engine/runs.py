"""The log of optimization runs: what was planned when, with which strategy, engine and result."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
import math
from typing import Any

# A week of 15-minute runs, and a little room for "optimize now".
RUNS_KEPT = 800
RUNS_MAX_AGE = timedelta(days=7)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecord:
    """One optimization run. A failed run has status ``failed`` and says why in ``reason``."""

    time: datetime
    strategy: str | None
    reason: str
    expected_profit_eur: float | None
    status: str
    engine: str | None
    solve_ms: float | None
    horizon_slots: int

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for storage and responses."""
        return {**asdict(self), "time": self.time.isoformat()}

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """Read what ``as_dict`` wrote; raises ValueError or TypeError on anything else."""
        if not isinstance(data, dict):
            raise TypeError("a run must be a mapping")
        try:
            time = datetime.fromisoformat(data["time"])
            return cls(
                time=time,
                strategy=_optional(data["strategy"], str),
                reason=str(data["reason"]),
                expected_profit_eur=_optional_number(data["expected_profit_eur"]),
                status=str(data["status"]),
                engine=_optional(data["engine"], str),
                solve_ms=_optional_number(data["solve_ms"]),
                horizon_slots=int(data["horizon_slots"]),
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"a run lacks {err}") from err


def _optional[T](value: Any, kind: type[T]) -> T | None:
    if value is None:
        return None
    if not isinstance(value, kind):
        raise TypeError(f"{value!r} is not a {kind.__name__}")
    return value


def _optional_number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} is not a number")
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not finite")
    return float(value)


class RunLog:
    """The recent runs, oldest first, bounded in number and age."""

    def __init__(self, runs: list[RunRecord] | None = None) -> None:
        """Start with ``runs`` (oldest first) or none."""
        self.runs: list[RunRecord] = list(runs or [])[-RUNS_KEPT:]

    def add(self, run: RunRecord) -> None:
        """Append a run and forget what is too old or too many."""
        self.runs.append(run)
        oldest = run.time - RUNS_MAX_AGE
        self.runs = [item for item in self.runs[-RUNS_KEPT:] if item.time >= oldest]

    def since(self, start: datetime) -> list[RunRecord]:
        """Return the runs from ``start`` on, oldest first."""
        return [run for run in self.runs if run.time >= start]

    def as_list(self) -> list[dict[str, Any]]:
        """Plain data, for storage."""
        return [run.as_dict() for run in self.runs]

    @classmethod
    def from_list(cls, data: Any) -> RunLog:
        """Read what ``as_list`` wrote; raises ValueError or TypeError on anything else."""
        if not isinstance(data, list):
            raise TypeError("runs must be a list")
        return cls([RunRecord.from_dict(item) for item in data])
