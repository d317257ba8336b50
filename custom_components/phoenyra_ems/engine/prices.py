"""Day-ahead prices: parsing, merging, the plan's slot grid, a built-in forecast and the fetch policy.

Every time in here is an aware datetime and is handled in UTC, so 23- and 25-hour days need no special
case; local time appears only where prices follow the local clock (the forecast's time of day and
weekday, and the market's publication time). Prices are in EUR/kWh, net (no grid fee, levies or VAT),
unless a name says otherwise.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
import math
from typing import TYPE_CHECKING, Any, TypeGuard
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from .forecast import utc_offsets_us
from .horizon import DAY_AHEAD_PUBLISHED
from .model import InvalidInputError

if TYPE_CHECKING:
    from .model import FloatArray, Tariff

type BoolArray = npt.NDArray[np.bool_]
type IntArray = npt.NDArray[np.int64]

# The day-ahead auction runs on Central European time, whatever the site's own time zone is.
MARKET_TZ = ZoneInfo("Europe/Berlin")
# The price APIs are rate-limited: never ask more often than this.
MIN_FETCH_INTERVAL = timedelta(minutes=1)
# Failed fetches wait 1, 2, 4 ... minutes, at most this long.
MAX_FETCH_BACKOFF = timedelta(minutes=60)
# Same-weekday profile over this many weeks (measured on 2023 and 2024 AT prices: 6 beats 2-4 and 8).
FORECAST_WEEKS = 6
# Weight of the last known day in the forecast; the shifted weekday profile takes the rest
# (measured on 2023 and 2024: 0.3 beats 0, 0.5 and 0.7 in both years).
LAST_DAY_WEIGHT = 0.3

_DAY = timedelta(days=1)
_DAY_US = 86_400_000_000
_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# No day-ahead market has products longer than an hour; a longer step between entries is a gap.
_LONGEST_PRODUCT = timedelta(hours=1)
_STANDARD_UNITS = (
    "EUR/MWh, EUR/kWh, ct/kWh (also written €/kWh, c/kWh, Eur/MWh, EUR / MWh)"
)


class PriceDataError(InvalidInputError):
    """Price data that cannot be used: malformed, incomplete, in an unknown unit or format.

    ``field`` says where (``data[3].marketprice``, ``unit``); the message says what is wrong.
    """


@dataclass(frozen=True, kw_only=True, slots=True)
class PricePoint:
    """One market price: ``price_eur_kwh`` holds from ``start`` (inclusive) to ``end`` (exclusive).

    Times are aware and stored in UTC (any aware time is converted).
    """

    start: datetime
    end: datetime
    price_eur_kwh: float
    # The times as seconds since the epoch, for to_slots: a plan lays some thousand points onto its
    # grid on every re-plan, and converting their times there cost more than all the rest.
    start_s: float = field(init=False, repr=False, compare=False)
    end_s: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Reject naive times, empty intervals and prices that are not numbers; store times in UTC."""
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise PriceDataError(name, f"needs an aware datetime, got {value!r}")
            # The dataclass is frozen: normalising the time zone is part of construction.
            utc = value.astimezone(UTC)
            object.__setattr__(self, name, utc)
            object.__setattr__(self, f"{name}_s", utc.timestamp())
        if self.end <= self.start:
            raise PriceDataError(
                "end", f"{self.end.isoformat()} is not after {self.start.isoformat()}"
            )
        if not _is_number(self.price_eur_kwh):
            raise PriceDataError(
                "price_eur_kwh", f"{self.price_eur_kwh!r} is not a finite number"
            )

    @property
    def minutes(self) -> float:
        """Length of the interval in minutes."""
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True, kw_only=True, slots=True)
class RetailPrices:
    """What a site pays and earns per slot, with the parts of the import price (all EUR/kWh).

    ``import_eur_kwh`` = ``spot_eur_kwh`` + ``grid_fee_eur_kwh`` + ``vat_eur_kwh``.
    """

    spot_eur_kwh: FloatArray
    grid_fee_eur_kwh: FloatArray
    vat_eur_kwh: FloatArray
    import_eur_kwh: FloatArray
    export_eur_kwh: FloatArray


# --- units, numbers and times -------------------------------------------------------------------


def eur_kwh_per_unit(unit: str) -> float:
    """Return the factor that turns a price in ``unit`` into EUR/kWh (EUR/MWh: 0.001).

    Spelling is forgiving: case, spaces, ``€`` for EUR and ``c``/``cent`` for ct. Raises
    PriceDataError for other units (other currencies included: the engine plans in EUR).
    """
    factor = _unit_factor(unit)
    if factor is None:
        raise PriceDataError(
            "unit", f"unknown price unit {unit!r}; known: {_STANDARD_UNITS}"
        )
    return factor


def _unit_factor(unit: object) -> float | None:
    if not isinstance(unit, str):
        return None
    text = "".join(unit.split()).lower().replace("€", "eur").replace("euro", "eur")
    currency, _, energy = text.partition("/")
    per_kwh = {"eur": 1.0, "ct": 0.01, "c": 0.01, "cent": 0.01, "cents": 0.01}.get(
        currency
    )
    per_energy = {"kwh": 1.0, "mwh": 0.001}.get(energy)
    if per_kwh is None or per_energy is None:
        return None
    return per_kwh * per_energy


def _is_number(value: object) -> TypeGuard[int | float]:
    # bool is an int to Python, but True is no price.
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _number(value: object, where: str, *, strings: bool = False) -> float:
    """Return ``value`` as a finite float; entity attributes may hold numbers as text."""
    if strings and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise PriceDataError(where, f"{value!r} is not a number") from None
    if not _is_number(value):
        raise PriceDataError(where, f"{value!r} is not a finite number")
    return float(value)


def _time(value: object, where: str) -> datetime:
    """Return an aware datetime or ISO 8601 text with an offset as a UTC datetime."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise PriceDataError(where, f"{value!r} is not an ISO 8601 time") from None
    if not isinstance(value, datetime):
        raise PriceDataError(where, f"{value!r} is not a time")
    if value.utcoffset() is None:
        raise PriceDataError(where, f"{value.isoformat()} has no UTC offset")
    return value.astimezone(UTC)


def _epoch_ms(value: object, where: str) -> datetime:
    milliseconds = _number(value, where)
    try:
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise PriceDataError(where, f"{value!r} is out of range") from None


def _point(start: datetime, end: datetime, price: float, where: str) -> PricePoint:
    if end <= start:
        raise PriceDataError(
            where, f"ends ({end.isoformat()}) before it starts ({start.isoformat()})"
        )
    return PricePoint(start=start, end=end, price_eur_kwh=price)


def _without_overlap(points: list[PricePoint], where: str) -> list[PricePoint]:
    points.sort(key=lambda point: point.start)
    for before, after in pairwise(points):
        if after.start < before.end:
            raise PriceDataError(
                where,
                f"entries overlap: {before.start.isoformat()}-{before.end.isoformat()} "
                f"and {after.start.isoformat()}",
            )
    return points


# --- aWATTar --------------------------------------------------------------------------------------


def parse_awattar(payload: object) -> list[PricePoint]:
    """Return the prices of an aWATTar ``/v1/marketdata`` response (parsed JSON), sorted by start.

    Entries may be hourly or quarter-hourly, prices negative. An empty ``data`` list is no error
    (nothing published for the window yet). Anything malformed raises PriceDataError naming the
    entry and key.
    """
    if not isinstance(payload, Mapping):
        raise PriceDataError(
            "response", f"expected a JSON object, got {type(payload).__name__}"
        )
    data = payload.get("data")
    if not isinstance(data, list):
        raise PriceDataError("data", "missing or not a list")
    points: list[PricePoint] = []
    for index, entry in enumerate(data):
        where = f"data[{index}]"
        if not isinstance(entry, Mapping):
            raise PriceDataError(
                where, f"expected an object, got {type(entry).__name__}"
            )
        for key in ("start_timestamp", "end_timestamp", "marketprice", "unit"):
            if key not in entry:
                raise PriceDataError(f"{where}.{key}", "missing")
        factor = _unit_factor(entry["unit"])
        if factor is None:
            raise PriceDataError(
                f"{where}.unit",
                f"unknown price unit {entry['unit']!r}; known: {_STANDARD_UNITS}",
            )
        points.append(
            _point(
                _epoch_ms(entry["start_timestamp"], f"{where}.start_timestamp"),
                _epoch_ms(entry["end_timestamp"], f"{where}.end_timestamp"),
                _number(entry["marketprice"], f"{where}.marketprice") * factor,
                where,
            )
        )
    return _without_overlap(points, "data")


# --- Home Assistant price entities ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Format:
    """Where one integration keeps its price list in an entity's attributes."""

    name: str
    lists: tuple[str, ...]
    start: str
    end: str | None
    # Price keys in order of preference, each with the unit its name implies (None: the entity's).
    prices: tuple[tuple[str, str | None], ...]
    # Unit when the entity has none (None: the unit is required).
    default_unit: str | None


_NORD_POOL = _Format(
    name="Nord Pool (raw_today/raw_tomorrow: start, end, value)",
    lists=("raw_today", "raw_tomorrow"),
    start="start",
    end="end",
    prices=(("value", None),),
    default_unit=None,  # derived from the currency, unit and price_in_cents attributes
)
_EPEX_SPOT = _Format(
    name="EPEX Spot (data: start_time, end_time, price_per_kwh | price_eur_per_mwh | price_ct_per_kwh)",
    lists=("data",),
    start="start_time",
    end="end_time",
    prices=(
        ("price_per_kwh", None),
        ("price_eur_per_mwh", "EUR/MWh"),
        ("price_ct_per_kwh", "ct/kWh"),
    ),
    default_unit="EUR/kWh",
)
_TIBBER = _Format(
    name="Tibber (today/tomorrow: startsAt, total)",
    lists=("today", "tomorrow"),
    start="startsAt",
    end=None,
    prices=(("total", None),),
    default_unit="EUR/kWh",
)
_ENTSOE = _Format(
    name="ENTSO-e (prices_today/prices_tomorrow/prices: time, price)",
    lists=("prices_today", "prices_tomorrow", "prices"),
    start="time",
    end=None,
    prices=(("price", None),),
    default_unit="EUR/kWh",
)
_GENERIC_NAME = (
    "generic (any list of start, end (optional), price | value; needs the unit)"
)
_FORMATS = (_NORD_POOL, _EPEX_SPOT, _TIBBER, _ENTSOE)

PRICE_ATTRIBUTE_FORMATS: tuple[str, ...] = (
    *(known.name for known in _FORMATS),
    _GENERIC_NAME,
)
"""The entity attribute formats parse_price_attributes recognises, for messages and docs."""


def parse_price_attributes(
    attributes: Mapping[str, Any], unit: str | None
) -> list[PricePoint]:
    """Return the prices a Home Assistant price entity lists in its attributes, sorted by start.

    The format is recognised from the attribute names (see PRICE_ATTRIBUTE_FORMATS). ``unit`` is
    the entity's unit_of_measurement; a price key that names its unit (``price_eur_per_mwh``) wins
    over it, and formats whose integration always uses one unit assume it when ``unit`` is None.
    Entries without an end last until the next entry (at most an hour) or, the last one and those
    before a gap, as long as the one before it (else the list's shortest step). Entries whose price is None (not published) are left out. Anything else that
    cannot be read raises PriceDataError; an unrecognised format names the formats it knows.
    """
    for candidate in _FORMATS:
        lists = _price_lists(attributes, candidate.lists, candidate.start)
        if lists is not None:
            entity_unit = unit
            if entity_unit is None and candidate is _NORD_POOL:
                entity_unit = _nord_pool_unit(attributes)
            return _parse_lists(lists, candidate, entity_unit or candidate.default_unit)
    generic = [
        key
        for key, value in attributes.items()
        if isinstance(value, list)
        and value
        and isinstance(value[0], Mapping)
        and "start" in value[0]
        and ("price" in value[0] or "value" in value[0])
    ]
    if generic:
        generic_format = _Format(
            name=_GENERIC_NAME,
            lists=tuple(generic),
            start="start",
            end="end",
            prices=(("price", None), ("value", None)),
            default_unit=None,
        )
        return _parse_lists(
            [(key, attributes[key]) for key in generic], generic_format, unit
        )
    raise PriceDataError(
        "attributes",
        "no price list found; known formats: " + "; ".join(PRICE_ATTRIBUTE_FORMATS),
    )


def _price_lists(
    attributes: Mapping[str, Any], keys: tuple[str, ...], start_key: str
) -> list[tuple[str, list[Any]]] | None:
    """Return the lists of a format if the attributes hold it, else None.

    A format is there when one of its lists starts with an entry that has its start key, or, for
    names no other format uses, when its lists are present but still empty (nothing published).
    """
    present = [
        (key, attributes[key]) for key in keys if isinstance(attributes.get(key), list)
    ]
    if any(
        value and isinstance(value[0], Mapping) and start_key in value[0]
        for _, value in present
    ):
        return present
    distinctive = {"raw_today", "raw_tomorrow", "prices_today", "prices_tomorrow"}
    if present and all(not value for _, value in present) and distinctive & set(keys):
        return present
    return None


def _nord_pool_unit(attributes: Mapping[str, Any]) -> str | None:
    """Nord Pool's unit from its own attributes: currency (or cents) per its price unit."""
    currency = attributes.get("currency")
    energy = attributes.get("unit")
    if not isinstance(currency, str) or not isinstance(energy, str):
        return None
    return f"{'ct' if attributes.get('price_in_cents') is True else currency}/{energy}"


def _parse_lists(
    lists: list[tuple[str, list[Any]]], fmt: _Format, unit: str | None
) -> list[PricePoint]:
    # start -> (end or None, price); a later list wins for the same start (ENTSO-e repeats
    # today's prices in "prices_today" and "prices").
    entries: dict[datetime, tuple[datetime | None, float]] = {}
    for key, items in lists:
        for index, item in enumerate(items):
            where = f"{key}[{index}]"
            if not isinstance(item, Mapping):
                raise PriceDataError(
                    where, f"expected an object, got {type(item).__name__}"
                )
            if fmt.start not in item:
                raise PriceDataError(f"{where}.{fmt.start}", "missing")
            start = _time(item[fmt.start], f"{where}.{fmt.start}")
            end = None
            if fmt.end is not None and item.get(fmt.end) is not None:
                end = _time(item[fmt.end], f"{where}.{fmt.end}")
            price = _attribute_price(item, fmt, unit, where)
            if price is not None:
                entries[start] = (end, price)
    starts = sorted(entries)
    steps = [b - a for a, b in pairwise(starts) if b - a <= _LONGEST_PRODUCT]
    typical = min(steps, default=_LONGEST_PRODUCT)
    points = []
    for index, start in enumerate(starts):
        end, price = entries[start]
        if end is None:
            end = _inferred_end(starts, index, typical)
        points.append(_point(start, end, price, f"entry at {start.isoformat()}"))
    return _without_overlap(
        points, fmt.lists[0] if len(fmt.lists) == 1 else "attributes"
    )


def _attribute_price(
    item: Mapping[str, Any], fmt: _Format, unit: str | None, where: str
) -> float | None:
    for key, implied_unit in fmt.prices:
        if key not in item:
            continue
        if item[key] is None:
            return None
        price_unit = implied_unit or unit
        if price_unit is None:
            raise PriceDataError(
                "unit",
                f"{fmt.name}: the entity has no unit_of_measurement; known: {_STANDARD_UNITS}",
            )
        factor = _unit_factor(price_unit)
        if factor is None:
            raise PriceDataError(
                "unit", f"unknown price unit {price_unit!r}; known: {_STANDARD_UNITS}"
            )
        return _number(item[key], f"{where}.{key}", strings=True) * factor
    raise PriceDataError(
        where, f"no price; expected one of {[key for key, _ in fmt.prices]}"
    )


def _inferred_end(starts: list[datetime], index: int, typical: timedelta) -> datetime:
    """End of an entry without one: the next start, else its predecessor's step, else ``typical``.

    ``typical`` is the shortest step between entries (at most an hour): after a gap, the entry
    lasts as long as the list's products.
    """
    start = starts[index]
    if index + 1 < len(starts) and starts[index + 1] - start <= _LONGEST_PRODUCT:
        return starts[index + 1]
    if index > 0 and start - starts[index - 1] <= _LONGEST_PRODUCT:
        return start + (start - starts[index - 1])
    return start + typical


# --- sequences of prices --------------------------------------------------------------------------


def merge_prices(
    existing: Iterable[PricePoint],
    fetched: Iterable[PricePoint],
    *,
    keep_from: datetime | None = None,
) -> list[PricePoint]:
    """Return ``existing`` updated with ``fetched``, sorted by start and without overlaps.

    A fetched price replaces every existing one whose interval it overlaps (the same start, or
    hourly prices superseded by quarter-hours and back). Prices that end at or before ``keep_from``
    are dropped, which bounds the history a store keeps.
    """
    merged = sorted(existing, key=lambda point: point.start)
    new = sorted(fetched, key=lambda point: point.start)
    _without_overlap(new, "fetched")
    for point in new:
        starts = [old.start for old in merged]
        # Existing prices are sorted and disjoint: the ones overlapping ``point`` are contiguous.
        first = bisect.bisect_right(starts, point.start)
        if first > 0 and merged[first - 1].end > point.start:
            first -= 1
        last = bisect.bisect_left(starts, point.end)
        merged[first:last] = [point]
    if keep_from is not None:
        merged = [point for point in merged if point.end > keep_from]
    return merged


def known_until(points: Sequence[PricePoint], now: datetime) -> datetime | None:
    """Return the end of the gap-free run of prices that covers ``now``, or None if none does.

    ``points`` are sorted and disjoint (as merge_prices and the parsers return them).
    """
    end: datetime | None = None
    for point in points:
        if end is None:
            if point.start <= now < point.end:
                end = point.end
        elif point.start == end:
            end = point.end
        elif point.start > end:
            break
    return end


def resolution_minutes(points: Sequence[PricePoint]) -> int:
    """Return what the latest prices come in: 15 (quarter-hours) or 60 minutes (also with none).

    The last day of prices decides, so a history that switched to quarter-hours reports 15.
    """
    if not points:
        return 60
    latest = max(point.end for point in points)
    recent = [point.minutes for point in points if point.end > latest - _DAY]
    return 15 if min(recent) < 60 else 60


def prices_to_json(points: Iterable[PricePoint]) -> list[dict[str, str | float]]:
    """Return ``points`` as JSON-ready dicts (ISO 8601 UTC times), e.g. for a store."""
    return [
        {
            "start": point.start.isoformat(),
            "end": point.end.isoformat(),
            "price_eur_kwh": point.price_eur_kwh,
        }
        for point in points
    ]


def prices_from_json(data: object) -> list[PricePoint]:
    """Return the prices prices_to_json wrote; anything else raises PriceDataError."""
    if not isinstance(data, list):
        raise PriceDataError("prices", f"expected a list, got {type(data).__name__}")
    points = []
    for index, item in enumerate(data):
        where = f"prices[{index}]"
        if not isinstance(item, Mapping):
            raise PriceDataError(
                where, f"expected an object, got {type(item).__name__}"
            )
        for key in ("start", "end", "price_eur_kwh"):
            if key not in item:
                raise PriceDataError(f"{where}.{key}", "missing")
        points.append(
            _point(
                _time(item["start"], f"{where}.start"),
                _time(item["end"], f"{where}.end"),
                _number(item["price_eur_kwh"], f"{where}.price_eur_kwh"),
                where,
            )
        )
    return _without_overlap(points, "prices")


# --- the plan's slot grid -------------------------------------------------------------------------


def to_slots(
    points: Sequence[PricePoint], start: datetime, slots: int, slot_minutes: int
) -> tuple[FloatArray, BoolArray]:
    """Return the price of each of ``slots`` slots from ``start`` and which of them are known.

    A slot's price is the time-weighted mean of the prices that cover it: hourly prices repeat on a
    15-minute grid, quarter-hours average on an hourly grid. A slot is known only when prices cover
    all of it; unknown slots hold NaN. ``points`` must not overlap (merge_prices ensures it).
    """
    if start.utcoffset() is None:
        raise PriceDataError("start", f"{start.isoformat()} has no UTC offset")
    if slot_minutes <= 0:
        raise PriceDataError("slot_minutes", "must be greater than 0")
    if slots < 0:
        raise PriceDataError("slots", "must not be negative")
    slot_s = slot_minutes * 60.0
    edges = start.timestamp() + slot_s * np.arange(slots + 1, dtype=np.float64)
    if slots == 0 or not points:
        return np.full(slots, np.nan), np.zeros(slots, dtype=np.bool_)
    begin = np.array([point.start_s for point in points])
    end = np.array([point.end_s for point in points])
    price = np.array([point.price_eur_kwh for point in points])
    order = np.argsort(begin, kind="stable")
    begin, end, price = begin[order], end[order], price[order]
    if np.any(end[:-1] > begin[1:]):
        raise PriceDataError("points", "prices overlap (merge them with merge_prices)")
    # Integrate the price step function up to each slot edge: O(slots + points), exact coverage
    # (timestamps are whole seconds, exact in float64, so a fully covered slot sums to slot_s).
    length = end - begin
    energy_before = np.concatenate([[0.0], np.cumsum(price * length)])
    cover_before = np.concatenate([[0.0], np.cumsum(length)])
    last = (
        np.searchsorted(begin, edges, side="right") - 1
    )  # last point starting at or before
    has = last >= 0
    at = np.where(has, last, 0)
    into = np.where(has, np.clip(edges - begin[at], 0.0, length[at]), 0.0)
    energy = np.where(has, energy_before[at] + price[at] * into, 0.0)
    cover = np.where(has, cover_before[at] + into, 0.0)
    known: BoolArray = np.diff(cover) >= slot_s - 1e-6
    prices: FloatArray = np.full(slots, np.nan)
    prices[known] = np.diff(energy)[known] / slot_s
    return prices, known


# --- the built-in forecast ------------------------------------------------------------------------


def forecast_prices(
    history: Sequence[PricePoint],
    start: datetime,
    slots: int,
    slot_minutes: int,
    *,
    tz: tzinfo,
    weeks: int = FORECAST_WEEKS,
) -> tuple[FloatArray, BoolArray]:
    """Return prices for every slot from ``start``, forecasting those no price covers.

    ``history`` holds all prices known (the published ones of the horizon and the past weeks).
    Returns the prices and a mask that is True where a price is forecast. A forecast slot gets
    LAST_DAY_WEIGHT x the price at the same time on the last known day plus the rest x the mean of
    the same weekday and time over the last ``weeks`` weeks, shifted by how far the last known day's
    mean lies from that profile's (prices move in levels: fuel, wind, season). Without any weekday
    history the last known day repeats (measured better than a mean of recent days). Time of day
    and weekday are wall-clock in ``tz``, so daylight-saving days line up (a time of day the day
    before lacks, the spring change's, is looked up further back; a time it has twice is its first).
    Raises PriceDataError when no price is known in the period the forecast looks at.
    """
    if weeks < 0:
        raise PriceDataError("weeks", "must not be negative")
    if start.utcoffset() is None:
        raise PriceDataError("start", f"{start.isoformat()} has no UTC offset")
    if slot_minutes <= 0:
        raise PriceDataError("slot_minutes", "must be greater than 0")
    slot = timedelta(minutes=slot_minutes)
    lookback = (weeks * 7 + 2) * _DAY
    history_slots = round(lookback / slot)
    # Arithmetic on aware local times is wall-clock arithmetic: the grid is laid out in UTC.
    grid_start = start.astimezone(UTC) - history_slots * slot
    values, known = to_slots(history, grid_start, history_slots + slots, slot_minutes)
    wanted = ~known[history_slots:]
    if not wanted.any():
        return values[history_slots:], wanted
    known_index = np.flatnonzero(known)
    if known_index.size == 0:
        raise PriceDataError(
            "history", f"no price known in the {lookback.days} days before the plan"
        )
    last_known = int(known_index[-1])
    day_slots = round(_DAY / slot)
    earlier = _WallClockGrid(grid_start, slot, len(values), day_slots, tz, known)

    def weekday_profile(index: IntArray) -> FloatArray:
        """Mean of the same weekday and time over the past weeks; NaN where none is known."""
        total, count = np.zeros(len(index)), np.zeros(len(index))
        for week in range(1, weeks + 1):
            other = earlier(index, 7 * week)
            found = other >= 0
            total[found] += values[other[found]]
            count[found] += 1
        profile = np.full(len(index), np.nan)
        np.divide(total, count, out=profile, where=count > 0)
        return profile

    # The level shift: the last known day's mean against what the profile says for it.
    reference = np.arange(max(0, last_known - day_slots + 1), last_known + 1)
    reference = reference[known[reference]]
    deviation = values[reference] - weekday_profile(reference)
    deviation = deviation[np.isfinite(deviation)]
    shift = float(deviation.mean()) if deviation.size else 0.0
    recent = values[max(0, last_known - day_slots + 1) : last_known + 1]
    fallback = float(np.nanmean(recent))

    index = history_slots + np.flatnonzero(wanted)
    profile = weekday_profile(index)
    # The same time on the last known day: the latest day before each slot that has it known.
    repeat = np.full(len(index), np.nan)
    for days in range(1, lookback.days + 1):
        missing = np.isnan(repeat)
        if not missing.any():
            break
        other = earlier(index[missing], days)
        found = (other >= 0) & (other <= last_known)
        filled = repeat[missing]
        filled[found] = values[other[found]]
        repeat[missing] = filled
    blended = LAST_DAY_WEIGHT * repeat + (1 - LAST_DAY_WEIGHT) * (profile + shift)
    forecast = np.where(
        np.isnan(profile),
        np.where(np.isnan(repeat), fallback, repeat),
        np.where(np.isnan(repeat), profile + shift, blended),
    )
    prices = values[history_slots:].copy()
    prices[wanted] = forecast
    return prices, wanted


class _WallClockGrid:
    """Finds the slot of a regular UTC grid at the same wall-clock time some days earlier.

    Wall-clock times are looked up in a table of the grid's own (extended by a day before its start,
    where the first of a time that occurs twice may lie): a few time-zone lookups for the whole grid
    instead of several per slot (a forecast re-plans every 15 minutes, a backtest 35,000 times).
    """

    def __init__(
        self,
        start: datetime,
        slot: timedelta,
        slots: int,
        extra: int,
        tz: tzinfo,
        known: BoolArray,
    ) -> None:
        """Lay out ``slots`` slots of ``slot`` from ``start`` (UTC), ``extra`` slots before it."""
        step_us = slot // _MICROSECOND
        start_us = (start - _EPOCH) // _MICROSECOND
        stamps_us = start_us + step_us * np.arange(-extra, slots, dtype=np.int64)
        self._walls_us = stamps_us + utc_offsets_us(stamps_us, tz)
        # The first occurrence of each wall time (fold 0, as datetime.replace(tzinfo=tz) reads it).
        self._unique, self._first = np.unique(self._walls_us, return_index=True)
        self._extra, self._slots, self._known = extra, slots, known
        self._start, self._slot, self._tz = start, slot, tz

    def __call__(self, index: IntArray, days: int) -> IntArray:
        """Return the known slot ``days`` wall-clock days before each slot of ``index``, else -1.

        -1 also where that day lacks the time of day (the spring DST gap) or it lies off the grid.
        """
        target = self._walls_us[index + self._extra] - days * _DAY_US
        position = np.minimum(
            np.searchsorted(self._unique, target), len(self._unique) - 1
        )
        other = self._first[position] - self._extra
        exact = self._unique[position] == target
        # Off the table: the spring gap, or a grid the offsets do not fit (a zone that shifts by
        # half an hour under hourly slots, where the nearest slot stands in): asked one by one.
        for missing in np.flatnonzero(~exact):
            other[missing] = self._nearest(int(target[missing]))
        found = (other >= 0) & (other < self._slots)
        found[found] = self._known[other[found]]
        return np.where(found, other, -1)

    def _nearest(self, wall_us: int) -> int:
        """Return the grid slot nearest to a wall-clock time (fold 0), -1 if the day lacks it."""
        # The wall-clock time as a naive datetime: the epoch read as local time, plus the time.
        wall = _EPOCH.replace(tzinfo=None) + timedelta(microseconds=wall_us)
        then = wall.replace(tzinfo=self._tz).astimezone(UTC)
        if then.astimezone(self._tz).replace(tzinfo=None) != wall:
            return -1
        return round((then - self._start) / self._slot)


# --- retail prices --------------------------------------------------------------------------------


def retail_prices(spot_eur_kwh: FloatArray, tariff: Tariff) -> RetailPrices:
    """Return the import and export prices ``tariff`` makes of spot prices, with the import parts.

    The prices are Tariff.import_price and Tariff.export_price; this only names the parts (the grid
    fee and levies, and the VAT on spot plus fee) for display.
    """
    spot = np.asarray(spot_eur_kwh, dtype=np.float64)
    import_eur_kwh = tariff.import_price(spot)
    grid_fee = np.full_like(spot, tariff.grid_fee_eur_kwh)
    return RetailPrices(
        spot_eur_kwh=spot,
        grid_fee_eur_kwh=grid_fee,
        vat_eur_kwh=import_eur_kwh - spot - grid_fee,
        import_eur_kwh=import_eur_kwh,
        export_eur_kwh=tariff.export_price(spot),
    )


# --- when to fetch --------------------------------------------------------------------------------


def next_fetch(
    now: datetime,
    known_until: datetime | None,
    last_attempt: datetime | None,
    failures: int,
) -> datetime:
    """Return when to fetch prices next (never before ``now``).

    ``known_until`` is where the gap-free known prices end (known_until()), ``last_attempt`` when
    the last fetch started, ``failures`` how many fetches in a row failed or brought nothing new
    (0 after one that did). While a day that is already published is missing, fetch now; failures
    wait 1, 2, 4 ... minutes, at most MAX_FETCH_BACKOFF. When everything published is known, the
    next fetch is the next publication (DAY_AHEAD_PUBLISHED, market time): no polling before it.
    Never sooner than MIN_FETCH_INTERVAL after the last attempt (the APIs are rate-limited).
    """
    # Aware local times add wall-clock time: the arithmetic is done in UTC.
    now = now.astimezone(UTC)
    due = now
    if known_until is not None:
        # The first day not (fully) known is published at noon the day before.
        first_missing = known_until.astimezone(MARKET_TZ).date()
        published = datetime.combine(
            first_missing - _DAY, DAY_AHEAD_PUBLISHED, tzinfo=MARKET_TZ
        )
        due = max(due, published)
    if last_attempt is not None:
        last_attempt = last_attempt.astimezone(UTC)
        due = max(due, last_attempt + MIN_FETCH_INTERVAL)
        if failures > 0:
            # 2 ** 6 minutes is past the cap already; a larger exponent only risks an overflow.
            backoff = timedelta(minutes=2 ** min(failures - 1, 6))
            due = max(due, last_attempt + min(backoff, MAX_FETCH_BACKOFF))
    return due
