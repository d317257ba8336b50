"""Day-ahead prices: parsing, merging, the slot grid, the forecast, retail prices, fetch policy."""

from __future__ import annotations

import bisect
import csv
from datetime import UTC, datetime, timedelta
from itertools import pairwise
import json
import math
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from custom_components.phoenyra_ems.engine.model import InvalidInputError, Tariff
from custom_components.phoenyra_ems.engine.prices import (
    LAST_DAY_WEIGHT,
    MARKET_TZ,
    PRICE_ATTRIBUTE_FORMATS,
    PriceDataError,
    PricePoint,
    eur_kwh_per_unit,
    forecast_prices,
    known_until,
    merge_prices,
    next_fetch,
    parse_awattar,
    parse_price_attributes,
    prices_from_json,
    prices_to_json,
    resolution_minutes,
    retail_prices,
    to_slots,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
AWATTAR = FIXTURES / "awattar"
ATTRIBUTES = FIXTURES / "price_attributes"
SHARED_PRICES = (
    Path(__file__).parents[3]
    / "shared"
    / "data"
    / "prices"
    / "at_dayahead_hourly_2024.csv"
)
VIENNA = ZoneInfo("Europe/Vienna")
HOUR = timedelta(hours=1)
QUARTER = timedelta(minutes=15)


def awattar(day: str, name: str = "awattar_at_marketdata") -> list[PricePoint]:
    return parse_awattar(json.loads((AWATTAR / f"{name}_{day}.json").read_text()))


def attributes(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ATTRIBUTES / f"{name}.json").read_text())
    return data


def hourly(start: datetime, prices: list[float]) -> list[PricePoint]:
    start = start.astimezone(UTC)  # local + timedelta would add wall-clock time
    return [
        PricePoint(start=start + i * HOUR, end=start + (i + 1) * HOUR, price_eur_kwh=p)
        for i, p in enumerate(prices)
    ]


def assert_same(points: list[PricePoint], expected: list[PricePoint]) -> None:
    """Equal times, prices equal up to the rounding of unit conversions."""
    assert [(p.start, p.end) for p in points] == [(p.start, p.end) for p in expected]
    assert [p.price_eur_kwh for p in points] == pytest.approx(
        [p.price_eur_kwh for p in expected]
    )


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=VIENNA)  # type: ignore[misc]


# --- aWATTar ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(AWATTAR.glob("*.json")), ids=lambda path: path.stem
)
def test_every_awattar_fixture_parses(path: Path) -> None:
    raw = json.loads(path.read_text())["data"]
    points = parse_awattar(json.loads(path.read_text()))
    assert len(points) == len(raw)
    for point, entry in zip(points, raw, strict=True):
        assert point.start.tzinfo is UTC
        assert point.start.timestamp() * 1000 == entry["start_timestamp"]
        assert point.end.timestamp() * 1000 == entry["end_timestamp"]
        assert point.price_eur_kwh == pytest.approx(entry["marketprice"] / 1000)
    # Gap-free: every price starts where the one before ends.
    assert all(a.end == b.start for a, b in pairwise(points))


def test_spring_dst_day_has_23_hours() -> None:
    points = awattar("2024-03-31")
    day_start, day_end = local(2024, 3, 31), local(2024, 4, 1)
    in_day = [p for p in points if day_start <= p.start < day_end]
    assert len(in_day) == 23
    # The file asks for 24 hours from local midnight, so its last entry is the next day's first.
    assert points[-1].start == day_end
    # 01:00+01:00 is followed by 03:00+02:00: no price is missing in UTC.
    assert points[1].end.astimezone(VIENNA).hour == 3
    prices, known = to_slots(points, day_start, 23 * 4, 15)
    assert known.all()
    # Hourly prices repeat on the quarter-hour grid.
    assert prices[:8] == pytest.approx([0.05691] * 4 + [0.03709] * 4)
    assert prices[-4:] == pytest.approx([0.04499] * 4)


def test_autumn_dst_day_holds_both_2_oclock_hours_but_not_the_last_hour() -> None:
    points = awattar("2024-10-27")
    assert len(points) == 24
    two_oclock = [
        p.price_eur_kwh for p in points if p.start.astimezone(VIENNA).hour == 2
    ]
    assert two_oclock == pytest.approx([0.08223, 0.08043])
    # The 25-hour day: the cache asked for 24 hours, so 23:00-24:00+01:00 is not in the file.
    prices, known = to_slots(points, local(2024, 10, 27), 25, 60)
    assert known.tolist() == [True] * 24 + [False]
    assert math.isnan(prices[-1])
    assert prices[2:4] == pytest.approx([0.08223, 0.08043])


def test_negative_prices_are_kept() -> None:
    points = awattar("2023-07-02")
    assert min(p.price_eur_kwh for p in points) == pytest.approx(-0.5)
    assert min(p.price_eur_kwh for p in awattar("2024-05-12")) == pytest.approx(
        -0.12642
    )


def test_quarter_hours_average_to_the_hourly_prices() -> None:
    quarters = awattar("2025-10-01", "energycharts_at_15min_normalized")
    hours = awattar("2025-10-01")
    assert len(quarters) == 96
    assert {p.minutes for p in quarters} == {15.0}
    assert resolution_minutes(quarters) == 15
    assert resolution_minutes(hours) == 60
    prices, known = to_slots(quarters, hours[0].start, 24, 60)
    assert known.all()
    # aWATTar's hourly answer on the first quarter-hour day is the mean of the four quarters.
    assert prices == pytest.approx([p.price_eur_kwh for p in hours], abs=1e-5)
    assert prices[0] == pytest.approx(np.mean([0.10887, 0.09708, 0.09707, 0.09704]))


def entry(**overrides: Any) -> dict[str, Any]:
    base = {
        "start_timestamp": 1715464800000,
        "end_timestamp": 1715468400000,
        "marketprice": 63.18,
        "unit": "Eur/MWh",
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "response"),
        ("garbage", "response"),
        (None, "response"),
        ({"object": "list"}, "data"),
        ({"data": {"a": 1}}, "data"),
        ({"data": [42]}, "data[0]"),
        (
            {"data": [{k: v for k, v in entry().items() if k != "marketprice"}]},
            "data[0].marketprice",
        ),
        (
            {"data": [{k: v for k, v in entry().items() if k != "start_timestamp"}]},
            "data[0].start_timestamp",
        ),
        (
            {"data": [{k: v for k, v in entry().items() if k != "end_timestamp"}]},
            "data[0].end_timestamp",
        ),
        ({"data": [{k: v for k, v in entry().items() if k != "unit"}]}, "data[0].unit"),
        ({"data": [entry(marketprice="63.18")]}, "data[0].marketprice"),
        ({"data": [entry(marketprice=None)]}, "data[0].marketprice"),
        ({"data": [entry(marketprice=float("nan"))]}, "data[0].marketprice"),
        ({"data": [entry(marketprice=True)]}, "data[0].marketprice"),
        ({"data": [entry(unit="NOK/MWh")]}, "data[0].unit"),
        ({"data": [entry(unit=None)]}, "data[0].unit"),
        ({"data": [entry(start_timestamp="yesterday")]}, "data[0].start_timestamp"),
        ({"data": [entry(start_timestamp=1e30)]}, "data[0].start_timestamp"),
        ({"data": [entry(end_timestamp=1715464800000)]}, "data[0]"),
        ({"data": [entry(), entry(marketprice=1.0)]}, "data"),
    ],
)
def test_malformed_awattar_data_names_the_problem(payload: object, field: str) -> None:
    with pytest.raises(PriceDataError) as err:
        parse_awattar(payload)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    # One error type, catchable as the engine's input error and as a ValueError.
    assert isinstance(err.value, InvalidInputError)
    assert isinstance(err.value, ValueError)


def test_empty_awattar_answer_is_no_error() -> None:
    assert parse_awattar({"object": "list", "data": []}) == []


# --- units and points -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("EUR/kWh", 1.0),
        ("€/kWh", 1.0),
        ("eur/kwh", 1.0),
        ("EUR/MWh", 0.001),
        ("Eur/MWh", 0.001),
        ("EUR / MWh", 0.001),
        ("€/MWh", 0.001),
        ("ct/kWh", 0.01),
        ("c/kWh", 0.01),
        ("Cent/kWh", 0.01),
    ],
)
def test_units_convert_to_eur_per_kwh(unit: str, factor: float) -> None:
    assert eur_kwh_per_unit(unit) == pytest.approx(factor)


@pytest.mark.parametrize("unit", ["NOK/kWh", "kWh", "EUR", "EUR/GJ", ""])
def test_unknown_units_are_refused(unit: str) -> None:
    with pytest.raises(PriceDataError, match="unknown price unit"):
        eur_kwh_per_unit(unit)


def test_price_point_is_utc_and_rejects_nonsense() -> None:
    point = PricePoint(
        start=local(2024, 5, 12, 10), end=local(2024, 5, 12, 11), price_eur_kwh=-0.1
    )
    assert point.start == datetime(2024, 5, 12, 8, tzinfo=UTC)
    assert point.start.tzinfo is UTC
    assert point.minutes == 60
    with pytest.raises(PriceDataError, match="aware"):
        PricePoint(
            start=datetime(2024, 5, 12), end=local(2024, 5, 12, 1), price_eur_kwh=0.1
        )
    with pytest.raises(PriceDataError, match="not after"):
        PricePoint(start=point.end, end=point.start, price_eur_kwh=0.1)
    with pytest.raises(PriceDataError, match="finite"):
        PricePoint(start=point.start, end=point.end, price_eur_kwh=math.inf)


# --- entity attributes ------------------------------------------------------------------------


def test_nord_pool_attributes() -> None:
    attrs = attributes("nordpool")
    points = parse_price_attributes(attrs, attrs["unit_of_measurement"])
    assert len(points) == 24
    assert points[0].start == local(2024, 5, 12)
    assert points[-1].end == local(2024, 5, 13)
    assert [p.price_eur_kwh for p in points] == pytest.approx(attrs["today"])
    # Without the entity's unit, Nord Pool's own currency/unit/price_in_cents attributes say it.
    assert parse_price_attributes(attrs, None) == points


def test_nord_pool_in_cents_on_a_dst_day_with_datetimes() -> None:
    attrs = attributes("nordpool_cents_dst")
    points = parse_price_attributes(attrs, "c/kWh")
    assert len(points) == 24
    assert points[0].price_eur_kwh == pytest.approx(0.05691)
    assert parse_price_attributes(attrs, None) == points
    # In Home Assistant's state machine Nord Pool's times are datetime objects, not text.
    live = {
        **attrs,
        "raw_today": [
            {
                **item,
                "start": datetime.fromisoformat(item["start"]),
                "end": datetime.fromisoformat(item["end"]),
            }
            for item in attrs["raw_today"]
        ],
    }
    assert parse_price_attributes(live, "c/kWh") == points
    prices, known = to_slots(points, local(2024, 3, 31), 23, 60)
    assert known.all()
    assert prices[1] == pytest.approx(0.03709)


def test_nord_pool_before_tomorrow_is_published_and_missing_values() -> None:
    attrs = attributes("nordpool")
    attrs["raw_today"][5]["value"] = (
        None  # Nord Pool shows a price it did not get as None
    )
    points = parse_price_attributes(attrs, "EUR/kWh")
    assert len(points) == 23
    assert (
        parse_price_attributes({"raw_today": [], "raw_tomorrow": []}, "EUR/kWh") == []
    )


def test_epex_spot_quarter_hours() -> None:
    attrs = attributes("epex_spot")
    points = parse_price_attributes(attrs, attrs["unit_of_measurement"])
    assert len(points) == 96
    assert resolution_minutes(points) == 15
    assert_same(points, awattar("2025-10-01", "energycharts_at_15min_normalized"))


def test_epex_spot_before_2024_09_reads_the_unit_from_the_key() -> None:
    attrs = attributes("epex_spot_legacy")
    # The entity says EUR/MWh, each entry names its unit: both agree on EUR/kWh.
    points = parse_price_attributes(attrs, attrs["unit_of_measurement"])
    assert_same(points, awattar("2023-07-02"))
    assert min(p.price_eur_kwh for p in points) == pytest.approx(-0.5)
    # The net price sensor of those versions listed ct/kWh only.
    cents_only = {
        "data": [
            {k: v for k, v in item.items() if k != "price_eur_per_mwh"}
            for item in attrs["data"]
        ]
    }
    assert [
        p.price_eur_kwh for p in parse_price_attributes(cents_only, "ct/kWh")
    ] == pytest.approx([p.price_eur_kwh for p in points])


def test_tibber_attributes_infer_the_end() -> None:
    attrs = attributes("tibber")
    points = parse_price_attributes(attrs, attrs["unit_of_measurement"])
    assert len(points) == 24
    assert all(p.minutes == 60 for p in points)
    # The last entry has no next one: it lasts as long as the one before it.
    assert points[-1].end == local(2024, 6, 27)
    assert points[0].price_eur_kwh == pytest.approx(0.1878)
    # Tibber's entities are always per kWh in the home's currency: EUR/kWh is assumed.
    assert parse_price_attributes(attrs, None) == points


def test_entsoe_attributes_with_repeated_lists() -> None:
    attrs = attributes("entsoe")
    points = parse_price_attributes(attrs, attrs["unit_of_measurement"])
    # "prices" repeats today and tomorrow: each hour once.
    assert len(points) == 24
    assert_same(points, awattar("2024-01-15"))


def test_generic_list_needs_the_unit() -> None:
    attrs = attributes("generic")
    points = parse_price_attributes(attrs, attrs["unit_of_measurement"])
    assert [round(p.price_eur_kwh, 5) for p in points] == [
        round(p.price_eur_kwh, 5) for p in awattar("2026-05-10")
    ]
    assert points[-1].end == points[-1].start + HOUR
    with pytest.raises(PriceDataError, match="unit_of_measurement") as err:
        parse_price_attributes(attrs, None)
    assert err.value.field == "unit"


def test_inferred_ends_follow_quarter_hours_and_stop_at_gaps() -> None:
    start = local(2025, 10, 1, 22)
    items = [
        {"start": (start + i * QUARTER).isoformat(), "value": 10.0 + i}
        for i in range(4)
    ]
    items.append(
        {"start": (start + 4 * HOUR).isoformat(), "value": 20.0}
    )  # after a gap
    points = parse_price_attributes({"prices_list": items}, "ct/kWh")
    assert [p.minutes for p in points] == [15, 15, 15, 15, 15]
    assert points[3].end == start + HOUR
    assert points[4].start == start + 4 * HOUR


def test_numbers_as_text_are_read_from_attributes() -> None:
    items = [
        {
            "start": "2024-05-12T00:00:00+02:00",
            "end": "2024-05-12T01:00:00+02:00",
            "price": "12.5",
        }
    ]
    assert parse_price_attributes({"forecast": items}, "ct/kWh")[
        0
    ].price_eur_kwh == pytest.approx(0.125)


def test_unknown_attribute_format_lists_the_known_ones() -> None:
    with pytest.raises(PriceDataError) as err:
        parse_price_attributes(
            {"friendly_name": "Price", "today": [0.1, 0.2]}, "EUR/kWh"
        )
    assert err.value.field == "attributes"
    for known in ("Nord Pool", "EPEX Spot", "Tibber", "ENTSO-e", "generic"):
        assert known in str(err.value)
    assert len(PRICE_ATTRIBUTE_FORMATS) == 5


@pytest.mark.parametrize(
    ("attrs", "unit", "field"),
    [
        (
            {
                "raw_today": [
                    {"start": "noon", "end": "2024-05-12T01:00:00+02:00", "value": 1}
                ]
            },
            "EUR/kWh",
            "raw_today[0].start",
        ),
        (
            {
                "raw_today": [
                    {
                        "start": "2024-05-12T00:00:00",
                        "end": "2024-05-12T01:00:00",
                        "value": 1,
                    }
                ]
            },
            "EUR/kWh",
            "raw_today[0].start",
        ),
        (
            {
                "raw_today": [
                    {
                        "start": "2024-05-12T00:00:00+02:00",
                        "end": "2024-05-12T01:00:00+02:00",
                        "value": "high",
                    }
                ]
            },
            "EUR/kWh",
            "raw_today[0].value",
        ),
        (
            {
                "raw_today": [
                    {
                        "start": "2024-05-12T00:00:00+02:00",
                        "end": "2024-05-12T01:00:00+02:00",
                        "value": "nan",
                    }
                ]
            },
            "EUR/kWh",
            "raw_today[0].value",
        ),
        (
            {
                "raw_today": [
                    {
                        "start": "2024-05-12T00:00:00+02:00",
                        "end": "2024-05-12T01:00:00+02:00",
                    }
                ]
            },
            "EUR/kWh",
            "raw_today[0]",
        ),
        (
            {
                "raw_today": ["0.1"],
                "raw_tomorrow": [{"start": "2024-05-12T00:00:00+02:00", "value": 1}],
            },
            "EUR/kWh",
            "raw_today[0]",
        ),
        (
            {
                "raw_today": [
                    {
                        "start": "2024-05-12T00:00:00+02:00",
                        "end": "2024-05-12T01:00:00+02:00",
                        "value": 1,
                    }
                ]
            },
            "NOK/kWh",
            "unit",
        ),
        (
            {
                "raw_today": [
                    {
                        "start": "2024-05-12T01:00:00+02:00",
                        "end": "2024-05-12T00:00:00+02:00",
                        "value": 1,
                    }
                ]
            },
            "EUR/kWh",
            "entry at 2024-05-11T23:00:00+00:00",
        ),
        (
            {
                "data": [
                    {
                        "start_time": "2024-05-12T00:00:00+02:00",
                        "end_time": "2024-05-12T01:00:00+02:00",
                        "volume_mwh": 3,
                    }
                ]
            },
            "EUR/kWh",
            "data[0]",
        ),
        (
            {"today": [{"startsAt": 1715464800, "total": 0.2}]},
            "EUR/kWh",
            "today[0].startsAt",
        ),
    ],
)
def test_malformed_attributes_name_the_problem(
    attrs: dict[str, Any], unit: str, field: str
) -> None:
    with pytest.raises(PriceDataError) as err:
        parse_price_attributes(attrs, unit)
    assert err.value.field == field


# --- merging and coverage ---------------------------------------------------------------------


def test_later_fetches_replace_earlier_prices() -> None:
    day = local(2024, 5, 12)
    old = hourly(day, [0.1, 0.2, 0.3])
    new = hourly(day + HOUR, [0.25, 0.35, 0.45])
    merged = merge_prices(old, new)
    assert [p.price_eur_kwh for p in merged] == [0.1, 0.25, 0.35, 0.45]
    # Quarter-hours replace the hour they fall into, and an hour replaces its quarters.
    quarters = [
        PricePoint(
            start=day + HOUR + i * QUARTER,
            end=day + HOUR + (i + 1) * QUARTER,
            price_eur_kwh=i / 10,
        )
        for i in range(4)
    ]
    with_quarters = merge_prices(merged, quarters)
    assert [p.minutes for p in with_quarters] == [60, 15, 15, 15, 15, 60, 60]
    back = merge_prices(with_quarters, hourly(day + HOUR, [0.9]))
    assert [(p.minutes, p.price_eur_kwh) for p in back] == [
        (60, 0.1),
        (60, 0.9),
        (60, 0.35),
        (60, 0.45),
    ]
    # History before keep_from is dropped.
    assert merge_prices(back, [], keep_from=day + 2 * HOUR)[0].start == day + 2 * HOUR
    # Overlapping fetched prices are refused rather than guessed.
    with pytest.raises(PriceDataError):
        merge_prices(old, [*new, *hourly(day + HOUR, [1.0])])


def test_known_until_is_the_end_of_the_gap_free_run_from_now() -> None:
    day = local(2024, 5, 12)
    points = hourly(day, [0.1] * 24) + hourly(day + timedelta(hours=25), [0.2] * 3)
    assert known_until(points, day + timedelta(hours=5, minutes=30)) == day + timedelta(
        hours=24
    )
    assert known_until(points, day - HOUR) is None
    assert known_until(points, day + timedelta(hours=24, minutes=30)) is None


def test_json_round_trip() -> None:
    points = awattar("2024-10-27")
    stored = json.loads(json.dumps(prices_to_json(points)))
    assert prices_from_json(stored) == points
    with pytest.raises(PriceDataError) as err:
        prices_from_json([{"start": "2024-01-01T00:00:00+00:00", "price_eur_kwh": 1}])
    assert err.value.field == "prices[0].end"
    with pytest.raises(PriceDataError):
        prices_from_json({"prices": []})


# --- the slot grid ----------------------------------------------------------------------------


def test_to_slots_marks_partly_covered_slots_unknown() -> None:
    start = local(2024, 5, 12)
    quarters = [
        PricePoint(
            start=start + i * QUARTER,
            end=start + (i + 1) * QUARTER,
            price_eur_kwh=float(i),
        )
        for i in range(6)  # 1.5 hours
    ]
    prices, known = to_slots(quarters, start, 3, 60)
    assert known.tolist() == [True, False, False]
    assert prices[0] == pytest.approx(1.5)
    assert np.isnan(prices[1:]).all()
    # A grid that starts mid-slot of the prices takes the overlapping share.
    shifted, known = to_slots(
        hourly(start, [1.0, 3.0]), start + timedelta(minutes=30), 1, 60
    )
    assert known.all() and shifted[0] == pytest.approx(2.0)
    empty, known = to_slots([], start, 4, 15)
    assert not known.any() and np.isnan(empty).all()
    with pytest.raises(PriceDataError):
        to_slots(quarters, datetime(2024, 5, 12), 4, 15)
    with pytest.raises(PriceDataError):
        to_slots(quarters, start, 4, 0)
    with pytest.raises(PriceDataError, match="overlap"):
        to_slots([*quarters, *hourly(start, [1.0])], start, 4, 15)


# --- the forecast -----------------------------------------------------------------------------


def test_forecast_follows_the_weekday_profile_shifted_to_the_recent_level() -> None:
    # Three weeks: weekdays 0.10 EUR/kWh, weekends 0.05; the last day (Friday) runs 0.02 higher.
    start = local(2024, 4, 15)  # a Monday
    prices = []
    for day in range(21):
        base = 0.05 if (start + day * timedelta(days=1)).weekday() >= 5 else 0.10
        prices += [base + (0.02 if day == 18 else 0.0)] * 24
    history = hourly(start, prices[: 19 * 24])  # Monday .. the third Friday
    saturday = start + timedelta(days=19)
    result, forecast = forecast_prices(history, saturday - HOUR, 25, 60, tz=VIENNA)
    assert forecast.tolist() == [False] + [True] * 24
    assert result[0] == pytest.approx(0.12)
    # Saturday: weekday profile 0.05, shifted by the Friday's +0.02, blended with Friday's 0.12.
    expected = LAST_DAY_WEIGHT * 0.12 + (1 - LAST_DAY_WEIGHT) * (0.05 + 0.02)
    assert result[1:] == pytest.approx([expected] * 24)


def test_forecast_repeats_the_last_day_without_weekday_history() -> None:
    start = local(2024, 3, 30)  # Saturday, the night before the spring DST change
    day_one = [0.01 * h for h in range(24)]
    history = hourly(start, day_one + [0.5] * 23)  # Sunday has 23 hours
    monday = local(2024, 4, 1)
    result, forecast = forecast_prices(history, monday, 24, 60, tz=VIENNA)
    assert forecast.all()
    # Sunday had no 02:00: that hour repeats the last day that had it.
    assert result == pytest.approx([0.5, 0.5, 0.02] + [0.5] * 21)
    # Known slots keep their price; only the unknown ones are forecast.
    result, forecast = forecast_prices(history, monday - 2 * HOUR, 4, 60, tz=VIENNA)
    assert forecast.tolist() == [False, False, True, True]
    assert result == pytest.approx([0.5] * 4)


def test_forecast_keeps_the_time_of_day_across_dst() -> None:
    # Two weeks of a daily shape in local time; the DST change falls in between.
    days = [local(2024, 3, 24) + timedelta(days=d) for d in range(15)]
    history = []
    for day in days[:-1]:
        stamp = day.astimezone(UTC)
        while stamp.astimezone(VIENNA).date() == day.date():
            hour = stamp.astimezone(VIENNA).hour
            history.append(
                PricePoint(start=stamp, end=stamp + HOUR, price_eur_kwh=hour / 100)
            )
            stamp += HOUR
    result, forecast = forecast_prices(history, days[-1], 24, 60, tz=VIENNA)
    assert forecast.all()
    assert result == pytest.approx([h / 100 for h in range(24)])


def reference_forecast(
    history: list[PricePoint],
    start: datetime,
    slots: int,
    slot_minutes: int,
    tz: ZoneInfo,
    weeks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The forecast's definition, slot by slot with datetime arithmetic (slow, plain)."""
    slot = timedelta(minutes=slot_minutes)
    lookback = timedelta(days=weeks * 7 + 2)
    history_slots = round(lookback / slot)
    grid_start = start.astimezone(UTC) - history_slots * slot
    values, known = to_slots(history, grid_start, history_slots + slots, slot_minutes)
    wanted = ~known[history_slots:]
    last_known = int(np.flatnonzero(known)[-1])

    def earlier(index: int, days: int) -> int | None:
        wall = (grid_start + index * slot).astimezone(tz).replace(tzinfo=None)
        wall -= timedelta(days=days)
        then = wall.replace(tzinfo=tz).astimezone(UTC)
        if then.astimezone(tz).replace(tzinfo=None) != wall:
            return None
        other = round((then - grid_start) / slot)
        return other if 0 <= other < len(known) and known[other] else None

    def profile(index: int) -> float | None:
        same = [earlier(index, 7 * week) for week in range(1, weeks + 1)]
        found = [values[other] for other in same if other is not None]
        return float(np.mean(found)) if found else None

    def repeat(index: int) -> float | None:
        for days in range(1, lookback.days + 1):
            other = earlier(index, days)
            if other is not None and other <= last_known:
                return float(values[other])
        return None

    day_slots = round(timedelta(days=1) / slot)
    last_day = range(max(0, last_known - day_slots + 1), last_known + 1)
    deviations = [
        values[index] - p
        for index in last_day
        if known[index] and (p := profile(index)) is not None
    ]
    shift = float(np.mean(deviations)) if deviations else 0.0
    fallback = float(np.nanmean(values[last_day.start : last_day.stop]))
    prices = values[history_slots:].copy()
    for offset in np.flatnonzero(wanted):
        p, r = profile(history_slots + offset), repeat(history_slots + offset)
        if p is None:
            prices[offset] = fallback if r is None else r
        elif r is None:
            prices[offset] = p + shift
        else:
            prices[offset] = LAST_DAY_WEIGHT * r + (1 - LAST_DAY_WEIGHT) * (p + shift)
    return prices, wanted


@pytest.mark.parametrize(
    "zone",
    [
        "Europe/Vienna",
        "America/St_Johns",  # changes at half past a UTC hour
        "Australia/Lord_Howe",  # shifts by half an hour: hourly slots do not fit its offsets
        "UTC",
    ],
)
def test_forecast_matches_its_definition_around_dst(zone: str) -> None:
    tz = ZoneInfo(zone)
    rng = np.random.default_rng(7)
    first = datetime(2024, 1, 1, tzinfo=UTC)
    points = quarter_hours(first, list(rng.uniform(-0.05, 0.3, 366 * 96)))
    # Around each change of the year, at both resolutions, with gaps in the history.
    changes = [
        moment
        for moment in (first + timedelta(hours=h) for h in range(0, 366 * 24, 1))
        if moment.astimezone(tz).utcoffset()
        != (moment - HOUR).astimezone(tz).utcoffset()
    ] or [datetime(2024, 3, 31, tzinfo=UTC)]
    for change in changes:
        for days_after, minutes, weeks in (
            (0, 15, 6),
            (1, 60, 6),
            (3, 15, 2),
            (8, 60, 0),
        ):
            start = change + timedelta(days=days_after, minutes=30)
            end = start + timedelta(hours=13)
            history = [
                p
                for p in points
                if start - timedelta(days=45) <= p.start < end
                and not (
                    start - timedelta(days=9) <= p.start < start - timedelta(days=8)
                )
            ]
            if minutes == 60:
                history = hourly_means(history)
            expected, expected_mask = reference_forecast(
                history, start, 48 * 60 // minutes, minutes, tz, weeks
            )
            result, mask = forecast_prices(
                history, start, 48 * 60 // minutes, minutes, tz=tz, weeks=weeks
            )
            assert mask.tolist() == expected_mask.tolist()
            assert result == pytest.approx(expected, rel=1e-12, abs=1e-12)


def quarter_hours(start: datetime, prices: list[float]) -> list[PricePoint]:
    return [
        PricePoint(
            start=start + i * QUARTER, end=start + (i + 1) * QUARTER, price_eur_kwh=p
        )
        for i, p in enumerate(prices)
    ]


def hourly_means(points: list[PricePoint]) -> list[PricePoint]:
    by_hour: dict[datetime, list[float]] = {}
    for p in points:
        by_hour.setdefault(p.start.replace(minute=0), []).append(p.price_eur_kwh)
    return [
        PricePoint(start=hour, end=hour + HOUR, price_eur_kwh=float(np.mean(prices)))
        for hour, prices in sorted(by_hour.items())
        if len(prices) == 4
    ]


def test_forecast_without_any_price_raises() -> None:
    with pytest.raises(PriceDataError, match="no price"):
        forecast_prices([], local(2024, 5, 12), 24, 60, tz=VIENNA)


def load_year(path: Path) -> list[PricePoint]:
    with path.open() as file:
        return [
            PricePoint(
                start=datetime.fromisoformat(row["start_utc"]),
                end=datetime.fromisoformat(row["end_utc"]),
                price_eur_kwh=float(row["price_eur_mwh"]) / 1000,
            )
            for row in csv.DictReader(file)
        ]


@pytest.mark.skipif(
    not SHARED_PRICES.exists(), reason="shared price data not available"
)
def test_forecast_beats_repeating_the_last_day_on_2024() -> None:
    """Forecast each day of 2024 from the prices up to its midnight ("tomorrow", before 12:45)."""
    points = load_year(SHARED_PRICES)
    starts = [p.start for p in points]
    year, year_known = to_slots(points, points[0].start, len(points) + 1, 60)
    errors_forecast, errors_repeat = [], []
    day = local(2024, 2, 15)  # six weeks of history
    while day < local(2024, 12, 31):
        tomorrow = (day + timedelta(days=1, hours=2)).replace(hour=0)
        after = (tomorrow + timedelta(days=1, hours=2)).replace(hour=0)
        first = round((tomorrow.astimezone(UTC) - points[0].start) / HOUR)
        slots = round((after.astimezone(UTC) - tomorrow.astimezone(UTC)) / HOUR)
        actual, known = year[first : first + slots], year_known[first : first + slots]
        history = points[
            bisect.bisect_left(
                starts, tomorrow - timedelta(days=44)
            ) : bisect.bisect_left(starts, tomorrow)
        ]
        forecast, mask = forecast_prices(history, tomorrow, slots, 60, tz=VIENNA)
        repeat, _ = forecast_prices(history, tomorrow, slots, 60, tz=VIENNA, weeks=0)
        assert mask.all()
        errors_forecast.append(np.abs(forecast - actual)[known])
        errors_repeat.append(np.abs(repeat - actual)[known])
        day = tomorrow
    mae_forecast = float(np.concatenate(errors_forecast).mean()) * 1000
    mae_repeat = float(np.concatenate(errors_repeat).mean()) * 1000
    # Measured: 20.9 against 25.1 EUR/MWh (the forecast errs 17 % less).
    assert mae_forecast < 0.9 * mae_repeat, (
        f"MAE tomorrow 2024: forecast {mae_forecast:.2f}, last day {mae_repeat:.2f} EUR/MWh"
    )


# --- retail prices ----------------------------------------------------------------------------


def test_retail_prices_are_the_tariffs_with_their_parts() -> None:
    spot = np.array([-0.05, 0.0, 0.12])
    tariff = Tariff(
        vat_pct=20, grid_fee_eur_kwh=0.1, export_at_spot=True, export_floor_eur_kwh=0.0
    )
    retail = retail_prices(spot, tariff)
    assert retail.import_eur_kwh == pytest.approx(tariff.import_price(spot))
    assert retail.import_eur_kwh == pytest.approx([0.06, 0.12, 0.264])
    assert (
        retail.spot_eur_kwh + retail.grid_fee_eur_kwh + retail.vat_eur_kwh
        == pytest.approx(retail.import_eur_kwh)
    )
    assert retail.vat_eur_kwh == pytest.approx([0.01, 0.02, 0.044])
    assert retail.export_eur_kwh == pytest.approx([0.0, 0.0, 0.12])
    fixed = retail_prices(spot, Tariff(export_at_spot=False, feed_in_eur_kwh=0.08))
    assert fixed.export_eur_kwh == pytest.approx([0.08] * 3)


# --- when to fetch ----------------------------------------------------------------------------


def market(*args: int) -> datetime:
    return datetime(*args, tzinfo=MARKET_TZ)  # type: ignore[misc]


def test_no_polling_before_publication_when_today_is_known() -> None:
    now = market(2024, 5, 6, 9, 0)
    due = next_fetch(now, market(2024, 5, 7), now - timedelta(hours=3), 0)
    assert due == market(2024, 5, 6, 12, 45)


def test_after_publication_fetch_until_tomorrow_is_known() -> None:
    now = market(2024, 5, 6, 12, 50)
    # Tomorrow is missing: fetch now ...
    assert next_fetch(now, market(2024, 5, 7), now - timedelta(hours=4), 0) == now
    # ... but never twice within a minute ...
    assert next_fetch(
        now, market(2024, 5, 7), now - timedelta(seconds=20), 0
    ) == now + timedelta(seconds=40)
    # ... and failures back off 1, 2, 4 ... minutes, at most an hour.
    last = market(2024, 5, 6, 12, 49)
    delays = [
        (next_fetch(now, market(2024, 5, 7), last, failures) - last)
        / timedelta(minutes=1)
        for failures in (1, 2, 3, 4, 7, 8, 50)
    ]
    assert delays == [1, 2, 4, 8, 60, 60, 60]


def test_once_tomorrow_is_known_wait_for_the_next_publication() -> None:
    now = market(2024, 5, 6, 13, 10)
    due = next_fetch(now, market(2024, 5, 8), now - timedelta(minutes=1), 0)
    assert due == market(2024, 5, 7, 12, 45)


def test_missing_prices_are_fetched_at_once() -> None:
    now = market(2024, 5, 6, 9, 0)
    assert next_fetch(now, None, None, 0) == now
    # Today only known until 18:00 (a partial answer): fetch now.
    assert next_fetch(now, market(2024, 5, 6, 18), now - timedelta(minutes=5), 0) == now


def test_publication_time_is_market_time_across_dst() -> None:
    # The night before the autumn change; the publication is 12:45 CET in any site time zone.
    now = datetime(2024, 10, 26, 20, 0, tzinfo=UTC)
    due = next_fetch(now, market(2024, 10, 28), None, 0)
    assert due == market(2024, 10, 27, 12, 45)
    assert due == datetime(2024, 10, 27, 11, 45, tzinfo=UTC)
