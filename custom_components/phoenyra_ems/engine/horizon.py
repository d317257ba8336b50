"""How far ahead prices are known (the day-ahead auction's rhythm) and how far plans reach."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

# EPEX Spot publishes the next day's day-ahead prices at about 12:45 local time (Central Europe).
DAY_AHEAD_PUBLISHED = time(12, 45)


def prices_known_until(now_local: datetime) -> datetime:
    """Return the end of the published day-ahead prices at ``now_local`` (a local, aware time).

    From 12:45 on tomorrow is known, so prices run to the midnight after tomorrow; before, to the
    coming midnight. Wall-clock arithmetic keeps midnight right on daylight-saving days.
    """
    midnight = now_local.replace(hour=0, minute=0, second=0, microsecond=0)
    days = 2 if now_local.timetz().replace(tzinfo=None) >= DAY_AHEAD_PUBLISHED else 1
    return midnight + timedelta(days=days)


# Every plan reaches at least this far; slots beyond the published prices run on forecast prices.
# A plan that stopped at the last published price would, late in the evening, see only the next
# 24 hours and leave the worth of the energy kept past them to the terminal value alone. Measured
# over 2024 (README, Benchmarks): capture ratio 0.864 with 24 hours, 0.869 with 48 (and 72).
PLAN_HORIZON = timedelta(hours=48)


def plan_end(start: datetime, published_end: datetime) -> datetime:
    """Return the end of a plan from ``start`` when the published prices end at ``published_end``.

    PLAN_HORIZON counts real hours (in UTC: on a daylight-saving day local arithmetic is wall-clock).
    """
    return max(published_end, start.astimezone(UTC) + PLAN_HORIZON)
