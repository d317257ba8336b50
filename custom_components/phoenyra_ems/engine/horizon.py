"""How far ahead prices are known: the day-ahead auction's publication rhythm."""

from __future__ import annotations

from datetime import datetime, time, timedelta

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
