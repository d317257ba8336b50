"""The register codec, the register map and the setpoint write policy."""

from __future__ import annotations

import json
import math
import struct

from hypothesis import given, strategies as st
import pytest

from custom_components.phoenyra_ems.engine.model import Battery, InvalidInputError
from custom_components.phoenyra_ems.engine.registers import (
    DEFAULT_REGISTER_MAP,
    DataType,
    Endian,
    RegisterMap,
    RegisterSpec,
    RegisterType,
    check_reading,
    decode,
    encode,
    register_count,
    safe_setpoint_kw,
    should_write,
)

BATTERY = Battery(
    capacity_kwh=10.0,
    max_charge_kw=4.0,
    max_discharge_kw=5.0,
    soc_min_pct=10.0,
    soc_max_pct=90.0,
)
INTEGER_RANGES = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
}
ORDERS = [(word, byte) for word in Endian for byte in Endian]


def spec(data_type: DataType, **kwargs: object) -> RegisterSpec:
    return RegisterSpec(address=10, data_type=data_type, **kwargs)  # type: ignore[arg-type]


# Known words, worked out by hand from the Modbus convention (big-endian words, high word first).
@pytest.mark.parametrize(
    ("data_type", "value", "words"),
    [
        (DataType.INT16, -1, [0xFFFF]),
        (DataType.INT16, -32768, [0x8000]),
        (DataType.UINT16, 65535, [0xFFFF]),
        (DataType.INT32, -2, [0xFFFF, 0xFFFE]),
        (DataType.INT32, 70000, [0x0001, 0x1170]),
        (DataType.UINT32, 4_294_967_295, [0xFFFF, 0xFFFF]),
        (DataType.FLOAT32, 1.0, [0x3F80, 0x0000]),
        (DataType.FLOAT32, -2.5, [0xC020, 0x0000]),
    ],
)
def test_known_words(data_type: DataType, value: float, words: list[int]) -> None:
    assert encode(spec(data_type), value) == words
    assert decode(spec(data_type), words) == value


@pytest.mark.parametrize(
    ("word_order", "byte_order", "words"),
    [
        (Endian.BIG, Endian.BIG, [0x1234, 0x5678]),  # ABCD
        (Endian.BIG, Endian.LITTLE, [0x3412, 0x7856]),  # BADC
        (Endian.LITTLE, Endian.BIG, [0x5678, 0x1234]),  # CDAB
        (Endian.LITTLE, Endian.LITTLE, [0x7856, 0x3412]),  # DCBA
    ],
)
def test_word_and_byte_order(
    word_order: Endian, byte_order: Endian, words: list[int]
) -> None:
    uint32 = spec(DataType.UINT32, word_order=word_order, byte_order=byte_order)
    assert encode(uint32, 0x12345678) == words
    assert decode(uint32, words) == 0x12345678


def test_byte_order_of_a_16_bit_value() -> None:
    swapped = spec(DataType.UINT16, byte_order=Endian.LITTLE, word_order=Endian.LITTLE)
    assert encode(swapped, 0x1234) == [0x3412]
    assert decode(swapped, [0x3412]) == 0x1234


def test_scale_and_rounding() -> None:
    soc = spec(DataType.UINT16, scale=0.1)
    assert encode(soc, 55.5) == [555]
    assert decode(soc, [555]) == pytest.approx(55.5)
    # 2.34 is not a multiple of 0.1: the nearest register value is written.
    assert encode(soc, 2.34) == [23]
    watts = spec(DataType.INT32, scale=0.001)
    assert encode(watts, -3.2) == encode(spec(DataType.INT32), -3200)
    assert decode(watts, [0xFFFF, 0xF380]) == pytest.approx(-3.2)


def test_negative_scale_flips_the_sign() -> None:
    export_positive = spec(DataType.INT32, scale=-0.001)
    assert decode(export_positive, encode(spec(DataType.INT32), 1500)) == -1.5
    assert encode(export_positive, -1.5) == encode(spec(DataType.INT32), 1500)


@pytest.mark.parametrize(
    ("data_type", "scale", "value"),
    [
        (DataType.INT16, 1.0, 32768),
        (DataType.INT16, 1.0, -32769),
        (DataType.INT16, 0.1, 3276.8),
        (DataType.UINT16, 1.0, -1),
        (DataType.UINT16, 0.1, 6553.6),
        (DataType.INT32, 0.001, 2_147_483.648),
        (DataType.UINT32, 1.0, -0.6),
        (DataType.UINT32, 1.0, 2**32),
        (DataType.FLOAT32, 1.0, 1e39),
        (DataType.FLOAT32, 1e-10, 1e30),
    ],
)
def test_values_that_do_not_fit_raise_instead_of_wrapping(
    data_type: DataType, scale: float, value: float
) -> None:
    with pytest.raises(InvalidInputError, match="does not fit") as err:
        encode(spec(data_type, scale=scale), value)
    assert err.value.field == "value"


def test_error_names_the_range_of_the_register() -> None:
    with pytest.raises(InvalidInputError, match=r"-3276\.8 to 3276\.7"):
        encode(spec(DataType.INT16, scale=0.1), 4000)


@pytest.mark.parametrize("data_type", list(DataType))
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_numbers_are_not_encoded(data_type: DataType, value: float) -> None:
    with pytest.raises(InvalidInputError, match="not a number"):
        encode(spec(data_type), value)


@pytest.mark.parametrize(
    "words", [[0x7FC0, 0x0000], [0x7F80, 0x0000], [0xFF80, 0x0000], [0xFFFF, 0xFFFF]]
)
def test_float32_nan_and_infinity_are_decode_errors(words: list[int]) -> None:
    with pytest.raises(InvalidInputError, match="not a number") as err:
        decode(spec(DataType.FLOAT32), words)
    assert err.value.field == "registers"


@pytest.mark.parametrize(
    ("data_type", "words", "match"),
    [
        (DataType.INT32, [1], "needs 2 registers, got 1"),
        (DataType.INT16, [1, 2], "needs 1 registers, got 2"),
        (DataType.UINT16, [65536], "not a 16-bit register value"),
        (DataType.INT16, [-1], "not a 16-bit register value"),
    ],
)
def test_malformed_registers_are_decode_errors(
    data_type: DataType, words: list[int], match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        decode(spec(data_type), words)


def test_register_count() -> None:
    assert [register_count(spec(data_type)) for data_type in DataType] == [
        1,
        1,
        2,
        2,
        2,
    ]


@given(data=st.data())
def test_integer_round_trip(data: st.DataObject) -> None:
    data_type = data.draw(st.sampled_from(list(INTEGER_RANGES)))
    word_order, byte_order = data.draw(st.sampled_from(ORDERS))
    scale = data.draw(st.sampled_from([1.0, 0.1, 0.01, 0.001, -0.001, 10.0]))
    low, high = INTEGER_RANGES[data_type]
    raw = data.draw(st.integers(low, high))
    codec = spec(data_type, scale=scale, word_order=word_order, byte_order=byte_order)
    words = encode(codec, raw * scale)
    assert len(words) == register_count(codec)
    assert all(0 <= word <= 0xFFFF for word in words)
    assert decode(codec, words) == pytest.approx(raw * scale, rel=1e-12)
    # Any words the device sends decode to a value that encodes back to the same words.
    assert encode(codec, decode(codec, words)) == words


@given(data=st.data())
def test_float32_round_trip(data: st.DataObject) -> None:
    word_order, byte_order = data.draw(st.sampled_from(ORDERS))
    value = data.draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
    codec = spec(DataType.FLOAT32, word_order=word_order, byte_order=byte_order)
    words = encode(codec, value)
    assert decode(codec, words) == value
    scaled = spec(DataType.FLOAT32, scale=0.001)
    kw = data.draw(st.floats(-1e6, 1e6))
    assert decode(scaled, encode(scaled, kw)) == pytest.approx(kw, rel=1e-6, abs=1e-9)


@given(words=st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2))
def test_any_finite_float32_words_round_trip(words: list[int]) -> None:
    codec = spec(DataType.FLOAT32)
    (raw,) = struct.unpack(">f", struct.pack(">HH", *words))
    if not math.isfinite(raw):
        with pytest.raises(InvalidInputError):
            decode(codec, words)
    else:
        assert encode(codec, decode(codec, words)) == words


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"address": -1}, "address"),
        ({"address": 65536}, "address"),
        ({"address": True}, "address"),
        ({"address": 65535, "data_type": DataType.INT32}, "address"),
        ({"address": 0, "scale": 0}, "scale"),
        ({"address": 0, "scale": math.nan}, "scale"),
        ({"address": 0, "unit_id": 256}, "unit_id"),
        ({"address": 0, "register_type": "holding"}, "register_type"),
        ({"address": 0, "data_type": "int16"}, "data_type"),
        ({"address": 0, "word_order": "big"}, "word_order"),
    ],
)
def test_spec_rejects_impossible_values(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        RegisterSpec(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_spec_dict_round_trip_and_defaults() -> None:
    full = RegisterSpec(
        address=7,
        register_type=RegisterType.INPUT,
        data_type=DataType.FLOAT32,
        scale=-0.5,
        word_order=Endian.LITTLE,
        byte_order=Endian.LITTLE,
        unit_id=3,
    )
    assert RegisterSpec.from_dict(json.loads(json.dumps(full.to_dict()))) == full
    assert RegisterSpec.from_dict({"address": 5}) == RegisterSpec(address=5)


@pytest.mark.parametrize(
    ("data", "field", "match"),
    [
        ({}, "address", "is required"),
        ({"address": 1, "colour": "red"}, "colour", "not a register setting"),
        ({"address": 1, "data_type": "int64"}, "data_type", "not 'int64'"),
        ({"address": 1, "register_type": "coil"}, "register_type", "holding, input"),
    ],
)
def test_spec_from_dict_names_the_bad_key(
    data: dict[str, object], field: str, match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match) as err:
        RegisterSpec.from_dict(data)
    assert err.value.field == field


def test_map_dict_round_trip() -> None:
    stored = json.loads(json.dumps(DEFAULT_REGISTER_MAP.to_dict()))
    assert RegisterMap.from_dict(stored) == DEFAULT_REGISTER_MAP
    assert RegisterMap.from_dict({}) == RegisterMap()
    assert RegisterMap().to_dict() == {}
    only_soc = RegisterMap.from_dict({"soc": {"address": 3}, "setpoint": None})
    assert only_soc == RegisterMap(soc=RegisterSpec(address=3))
    assert list(only_soc.to_dict()) == ["soc"]


def test_default_map_reads_every_signal_and_writes_the_setpoint() -> None:
    assert list(DEFAULT_REGISTER_MAP.specs()) == [
        "soc",
        "battery_power",
        "grid_power",
        "pv_power",
        "load_power",
        "setpoint",
    ]
    assert DEFAULT_REGISTER_MAP.setpoint is not None
    assert DEFAULT_REGISTER_MAP.setpoint.register_type is RegisterType.HOLDING


@pytest.mark.parametrize(
    ("data", "field", "match"),
    [
        ({"soc": {"address": 1, "data_type": "int8"}}, "soc.data_type", "int8"),
        ({"grid_power": {}}, "grid_power.address", "is required"),
        ({"frequency": {"address": 1}}, "frequency", "not a register map entry"),
        ({"soc": 5}, "soc", "must be a mapping"),
        (
            {"setpoint": {"address": 1, "register_type": "input"}},
            "setpoint.register_type",
            "read-only",
        ),
        (
            {
                "battery_power": {"address": 4, "data_type": "int32"},
                "grid_power": {"address": 5},
            },
            "grid_power.address",
            "holding register 5 is already used by battery_power",
        ),
    ],
)
def test_map_from_dict_names_the_bad_entry(
    data: dict[str, object], field: str, match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match) as err:
        RegisterMap.from_dict(data)
    assert err.value.field == field


def test_same_address_in_other_table_or_unit_is_no_overlap() -> None:
    RegisterMap(
        soc=RegisterSpec(address=1, register_type=RegisterType.INPUT),
        pv_power=RegisterSpec(address=1, unit_id=2),
        setpoint=RegisterSpec(address=1),
    )


def test_check_reading() -> None:
    assert check_reading("soc", 100.0) == 100.0
    assert check_reading("grid_power", -7.5) == -7.5
    with pytest.raises(InvalidInputError, match=r"6553\.5 % is outside 0-100 %") as err:
        check_reading("soc", 6553.5)
    assert err.value.field == "soc"
    with pytest.raises(InvalidInputError, match="not a number"):
        check_reading("pv_power", math.nan)


@pytest.mark.parametrize(
    ("setpoint_kw", "soc_pct", "expected"),
    [
        (3.0, 50.0, 3.0),
        (-3.0, 50.0, -3.0),
        (50.0, 50.0, 5.0),
        (-50.0, 50.0, -4.0),
        # At the bottom of the window the battery may charge but not discharge.
        (3.0, 10.0, 0.0),
        (3.0, 5.0, 0.0),
        (-3.0, 10.0, -3.0),
        # At the top it may discharge but not charge.
        (-3.0, 90.0, 0.0),
        (-3.0, 95.0, 0.0),
        (8.0, 90.0, 5.0),
    ],
)
def test_safe_setpoint(setpoint_kw: float, soc_pct: float, expected: float) -> None:
    result = safe_setpoint_kw(setpoint_kw, soc_pct, BATTERY)
    assert result == expected
    assert math.copysign(1, result) == math.copysign(1, expected)


@given(
    setpoint_kw=st.floats(-1e6, 1e6),
    soc_pct=st.floats(0, 100),
)
def test_safe_setpoint_never_leaves_the_limits(
    setpoint_kw: float, soc_pct: float
) -> None:
    result = safe_setpoint_kw(setpoint_kw, soc_pct, BATTERY)
    assert -BATTERY.max_charge_kw <= result <= BATTERY.max_discharge_kw
    if soc_pct <= BATTERY.soc_min_pct:
        assert result <= 0
    if soc_pct >= BATTERY.soc_max_pct:
        assert result >= 0
    # Whatever is allowed passes unchanged.
    if -BATTERY.max_charge_kw <= setpoint_kw <= BATTERY.max_discharge_kw and (
        BATTERY.soc_min_pct < soc_pct < BATTERY.soc_max_pct
    ):
        assert result == setpoint_kw


@pytest.mark.parametrize(("setpoint_kw", "soc_pct"), [(math.nan, 50), (1, math.nan)])
def test_safe_setpoint_rejects_non_numbers(setpoint_kw: float, soc_pct: float) -> None:
    with pytest.raises(InvalidInputError, match="not a number"):
        safe_setpoint_kw(setpoint_kw, soc_pct, BATTERY)


@pytest.mark.parametrize(
    ("new_kw", "last_kw", "last_time", "now", "expected"),
    [
        # Nothing written yet: write whatever it is.
        (0.0, None, None, 0.0, True),
        # Within the deadband: never, however long ago.
        (2.05, 2.0, 0.0, 1000.0, False),
        (1.95, 2.0, 0.0, 1000.0, False),
        # Beyond the deadband, but too soon after the last write.
        (3.0, 2.0, 100.0, 129.9, False),
        # Beyond the deadband and the interval has passed.
        (3.0, 2.0, 100.0, 130.0, True),
        (-3.0, 2.0, 100.0, 500.0, True),
    ],
)
def test_should_write(
    new_kw: float,
    last_kw: float | None,
    last_time: float | None,
    now: float,
    expected: bool,
) -> None:
    assert (
        should_write(
            new_kw,
            last_kw,
            last_time,
            now,
            deadband_kw=0.1,
            min_interval_s=30.0,
        )
        is expected
    )


def test_should_write_limits_a_noisy_setpoint() -> None:
    # A setpoint that jitters around 2 kW every second and steps to 4 kW after a minute.
    last_kw: float | None = None
    last_time: float | None = None
    writes = []
    for second in range(180):
        target = (2.0 if second < 60 else 4.0) + (0.05 if second % 2 else -0.05)
        if should_write(target, last_kw, last_time, float(second), 0.2, 30.0):
            writes.append(second)
            last_kw, last_time = target, float(second)
    assert writes == [0, 60]


@pytest.mark.parametrize(
    ("deadband_kw", "min_interval_s", "field"),
    [
        (-0.1, 0.0, "deadband_kw"),
        (0.0, -1.0, "min_interval_s"),
        (math.nan, 0.0, "deadband_kw"),
    ],
)
def test_should_write_rejects_impossible_settings(
    deadband_kw: float, min_interval_s: float, field: str
) -> None:
    with pytest.raises(InvalidInputError) as err:
        should_write(1.0, None, None, 0.0, deadband_kw, min_interval_s)
    assert err.value.field == field
