"""The control loop's rules: payload parsing, freshness, the energy balance, the fallback rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math

from hypothesis import given, strategies as st
import pytest

from custom_components.phoenyra_ems.engine.control import (
    POWER_SIGNALS,
    Reading,
    fresh_values,
    measurement,
    parse_payload,
    self_consumption_kw,
)
from custom_components.phoenyra_ems.engine.model import InvalidInputError

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
COMPLETE = {
    "soc": 55.0,
    "battery_power": 1.5,
    "grid_power": -0.5,
    "pv_power": 3.0,
    "load_power": 4.0,
}


@pytest.mark.parametrize(
    ("payload", "path", "expected"),
    [
        ("42.5", None, 42.5),
        (b" -1200 \n", None, -1200.0),
        ('{"battery": {"soc": 61}}', "battery.soc", 61.0),
        ('{"values": [1, {"p": "-3.5"}]}', "values.1.p", -3.5),
        ("7", "", 7.0),
    ],
)
def test_parse_payload_reads_numbers_and_json_paths(
    payload: str | bytes, path: str | None, expected: float
) -> None:
    assert parse_payload(payload, path) == expected


@pytest.mark.parametrize(
    ("payload", "path", "message"),
    [
        ("on", None, "'on' is not a number"),
        ("nan", None, "is not a number"),
        ("inf", None, "is not a number"),
        ("{broken", "a", "is not JSON"),
        ('{"a": 1}', "b", "has no 'b'"),
        ('{"a": [1]}', "a.3", "has no 'a.3'"),
        ('{"a": true}', "a", "True is not a number"),
        ('{"a": null}', "a", "None is not a number"),
        ('{"a": {"b": 1}}', "a", "is not a number"),
    ],
)
def test_parse_payload_rejects_what_is_not_a_number(
    payload: str, path: str | None, message: str
) -> None:
    with pytest.raises(InvalidInputError, match="payload") as raised:
        parse_payload(payload, path)
    assert message in str(raised.value)


def test_fresh_values_drop_what_is_older_than_the_limit() -> None:
    readings = {
        "soc": Reading(50.0, NOW - timedelta(seconds=15)),
        "grid_power": Reading(1.0, NOW - timedelta(seconds=16)),
        "pv_power": Reading(2.0, NOW + timedelta(seconds=1)),
    }
    assert fresh_values(readings, NOW, timedelta(seconds=15)) == {
        "soc": 50.0,
        "pv_power": 2.0,
    }


@pytest.mark.parametrize("missing", POWER_SIGNALS)
def test_one_missing_power_follows_from_the_balance(missing: str) -> None:
    values = {k: v for k, v in COMPLETE.items() if k != missing}
    measured = measurement(NOW, values)
    assert measured.soc_pct == 55.0
    assert (
        measured.battery_kw,
        measured.grid_kw,
        measured.pv_kw,
        measured.load_kw,
    ) == (
        pytest.approx(1.5),
        pytest.approx(-0.5),
        pytest.approx(3.0),
        pytest.approx(4.0),
    )


@given(
    battery=st.floats(-50, 50),
    pv=st.floats(0, 50),
    load=st.floats(0, 50),
    missing=st.sampled_from(POWER_SIGNALS),
)
def test_the_balance_holds_whichever_power_is_missing(
    battery: float, pv: float, load: float, missing: str
) -> None:
    values = {
        "soc": 50.0,
        "battery_power": battery,
        "grid_power": load - pv - battery,
        "pv_power": pv,
        "load_power": load,
    }
    del values[missing]
    m = measurement(NOW, values)
    assert m.grid_kw == pytest.approx(m.load_kw - m.pv_kw - m.battery_kw, abs=1e-9)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({k: v for k, v in COMPLETE.items() if k != "soc"}, "soc"),
        (
            {"soc": 50.0, "battery_power": 1.0, "grid_power": 1.0},
            "pv_power, load_power",
        ),
        ({**COMPLETE, "soc": 101.0}, "soc"),
        ({**COMPLETE, "soc": math.nan}, "soc"),
        ({**COMPLETE, "grid_power": math.inf}, "grid_power"),
    ],
)
def test_measurement_names_what_is_missing_or_wrong(
    values: dict[str, float], field: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        measurement(NOW, values)
    assert raised.value.field == field


def test_self_consumption_rule_covers_the_net_load() -> None:
    # Importing 2 kW while discharging 1 kW: the site needs 3 kW without the battery.
    importing = measurement(
        NOW, {**COMPLETE, "battery_power": 1.0, "grid_power": 2.0, "load_power": 6.0}
    )
    assert self_consumption_kw(importing) == pytest.approx(3.0)
    # Exporting 2.5 kW while idle: charge with the surplus.
    exporting = measurement(
        NOW, {**COMPLETE, "battery_power": 0.0, "grid_power": -2.5, "load_power": 0.5}
    )
    assert self_consumption_kw(exporting) == pytest.approx(-2.5)
