"""Modbus register maps: where a device keeps each value, how to convert it, and when to write.

Everything here is pure: the codec turns engineering values (percent, kW) into 16-bit register
words and back, and the write policy decides from plain numbers. The device layer moves the words.

Addresses are the 0-based protocol addresses sent on the wire. Many manuals count from 1 and add a
type prefix ("40001" is holding register 0, "30011" is input register 10).

Values follow the engine's sign conventions (see the package docstring). A device that counts the
other way round gets a negative scale, e.g. ``scale=-0.001`` for a grid meter in W that reports
export as positive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
import math
import struct
from typing import Any

from .model import Battery, InvalidInputError

_WORD_MAX = 0xFFFF
_ADDRESS_MAX = 0xFFFF
# Unit ids 1-247 address serial devices; TCP gateways also use 0 and 255 for the device itself.
_UNIT_ID_MAX = 255
# Largest finite float32; a value beyond it would become infinity on the device.
_FLOAT32_MAX = 3.4028234663852886e38


class RegisterType(StrEnum):
    """The two register tables of the Modbus data model that hold 16-bit words."""

    HOLDING = "holding"
    INPUT = "input"


class DataType(StrEnum):
    """How the words of one value are interpreted."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"


class Endian(StrEnum):
    """Order of the words of a 32-bit value, or of the bytes within one word."""

    BIG = "big"
    LITTLE = "little"


# The struct format of each data type, always big-endian; a spec's word and byte orders are applied
# to the packed bytes afterwards.
_FORMATS: dict[DataType, str] = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.FLOAT32: ">f",
}
_INTEGER_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
}


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise InvalidInputError(name, message)


def _is_int(value: object) -> bool:
    # bool is an int in Python, but True as a register address is a mistake, not a 1.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True, slots=True)
class RegisterSpec:
    """Where one value lives on the device and how its words convert to a number.

    The value is ``raw * scale``, where ``raw`` is the register content read as ``data_type``.
    """

    address: int
    register_type: RegisterType = RegisterType.HOLDING
    data_type: DataType = DataType.INT16
    scale: float = 1.0
    # Big: the most significant word comes first (at ``address``). Only 32-bit types have words
    # to order.
    word_order: Endian = Endian.BIG
    # Big: the most significant byte of each word is sent first, as the Modbus standard says.
    byte_order: Endian = Endian.BIG
    unit_id: int = 1

    def __post_init__(self) -> None:
        """Reject impossible values."""
        for name, enum in (
            ("register_type", RegisterType),
            ("data_type", DataType),
            ("word_order", Endian),
            ("byte_order", Endian),
        ):
            value = getattr(self, name)
            _require(
                isinstance(value, enum),
                name,
                f"must be one of {', '.join(member.value for member in enum)}",
            )
        _require(
            _is_int(self.address) and 0 <= self.address <= _ADDRESS_MAX,
            "address",
            f"must be a whole number from 0 to {_ADDRESS_MAX}",
        )
        _require(
            self.address + register_count(self) - 1 <= _ADDRESS_MAX,
            "address",
            f"a {self.data_type} at {self.address} runs past register {_ADDRESS_MAX}",
        )
        _require(
            isinstance(self.scale, int | float)
            and not isinstance(self.scale, bool)
            and math.isfinite(self.scale)
            and self.scale != 0,
            "scale",
            "must be a number other than 0",
        )
        _require(
            _is_int(self.unit_id) and 0 <= self.unit_id <= _UNIT_ID_MAX,
            "unit_id",
            f"must be a whole number from 0 to {_UNIT_ID_MAX}",
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible form, as stored in a config entry."""
        return {
            "address": self.address,
            "register_type": self.register_type.value,
            "data_type": self.data_type.value,
            "scale": self.scale,
            "word_order": self.word_order.value,
            "byte_order": self.byte_order.value,
            "unit_id": self.unit_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisterSpec:
        """Build a spec from its plain form; missing keys take the defaults.

        Raises InvalidInputError naming the offending key.
        """
        known = {field.name for field in fields(cls)}
        for key in data:
            _require(key in known, str(key), "is not a register setting")
        _require("address" in data, "address", "is required")
        values = dict(data)
        for name, enum in (
            ("register_type", RegisterType),
            ("data_type", DataType),
            ("word_order", Endian),
            ("byte_order", Endian),
        ):
            if name in values:
                raw = values[name]
                _require(
                    raw in {member.value for member in enum},
                    name,
                    f"must be one of {', '.join(member.value for member in enum)}, not {raw!r}",
                )
                values[name] = enum(raw)
        return cls(**values)


def register_count(spec: RegisterSpec) -> int:
    """Return the number of 16-bit registers the value occupies."""
    return 1 if spec.data_type in {DataType.INT16, DataType.UINT16} else 2


def _reorder(spec: RegisterSpec, packed: bytes) -> bytes:
    """Turn big-endian packed bytes into the device's order, or back (the mapping is its own inverse)."""
    words = [packed[i : i + 2] for i in range(0, len(packed), 2)]
    if spec.byte_order is Endian.LITTLE:
        words = [word[::-1] for word in words]
    if spec.word_order is Endian.LITTLE:
        words.reverse()
    return b"".join(words)


def decode(spec: RegisterSpec, registers: Sequence[int]) -> float:
    """Return the value held in ``registers`` (the words read from ``spec.address`` on).

    Raises InvalidInputError for a wrong number of words, a word outside 0-65535 or a float32
    that is not a finite number (NaN and infinity are how many devices say "no value").
    """
    count = register_count(spec)
    _require(
        len(registers) == count,
        "registers",
        f"a {spec.data_type} needs {count} registers, got {len(registers)}",
    )
    for word in registers:
        _require(
            _is_int(word) and 0 <= word <= _WORD_MAX,
            "registers",
            f"{word!r} is not a 16-bit register value",
        )
    packed = _reorder(spec, b"".join(word.to_bytes(2, "big") for word in registers))
    (raw,) = struct.unpack(_FORMATS[spec.data_type], packed)
    _require(
        math.isfinite(raw),
        "registers",
        f"float32 {[f'0x{word:04X}' for word in registers]} is {raw}, not a number",
    )
    return float(raw * spec.scale)


def encode(spec: RegisterSpec, value: float) -> list[int]:
    """Return the register words that make the device hold ``value``.

    Integer types round ``value / scale`` to the nearest whole number (ties to even). A value
    that does not fit the data type raises InvalidInputError instead of wrapping around.
    """
    _require(math.isfinite(value), "value", f"{value} is not a number")
    raw = value / spec.scale
    if spec.data_type is DataType.FLOAT32:
        _require(
            abs(raw) <= _FLOAT32_MAX,
            "value",
            f"{value:g} does not fit float32 at scale {spec.scale:g}",
        )
        packed = struct.pack(">f", raw)
    else:
        whole = round(raw)
        low, high = _INTEGER_RANGES[spec.data_type]
        if not low <= whole <= high:
            ends = sorted((low * spec.scale, high * spec.scale))
            raise InvalidInputError(
                "value",
                f"{value:g} does not fit {spec.data_type} at scale {spec.scale:g} "
                f"(the register holds {ends[0]:g} to {ends[1]:g})",
            )
        packed = struct.pack(_FORMATS[spec.data_type], whole)
    ordered = _reorder(spec, packed)
    return [
        int.from_bytes(ordered[i : i + 2], "big") for i in range(0, len(ordered), 2)
    ]


# The measured signals of a register map, in the order they are read and reported.
SIGNALS = ("soc", "battery_power", "grid_power", "pv_power", "load_power")
SETPOINT = "setpoint"


@dataclass(frozen=True, kw_only=True, slots=True)
class RegisterMap:
    """Where a battery inverter keeps the site's measurements and its power setpoint.

    Every entry is optional: None means the device does not provide it (the value then comes from
    elsewhere, or the device is only read). Units: ``soc`` in percent, everything else in kW with
    the engine's signs; ``setpoint`` is the battery power to hold (positive discharges).
    """

    soc: RegisterSpec | None = None
    battery_power: RegisterSpec | None = None
    grid_power: RegisterSpec | None = None
    pv_power: RegisterSpec | None = None
    load_power: RegisterSpec | None = None
    setpoint: RegisterSpec | None = None

    def __post_init__(self) -> None:
        """Reject a setpoint the device cannot be written to and overlapping registers."""
        for name in (*SIGNALS, SETPOINT):
            spec = getattr(self, name)
            _require(
                spec is None or isinstance(spec, RegisterSpec),
                name,
                "must be a register spec or None",
            )
        if self.setpoint is not None:
            _require(
                self.setpoint.register_type is RegisterType.HOLDING,
                f"{SETPOINT}.register_type",
                "must be holding: input registers are read-only",
            )
        # Two values in the same words are a copy-and-paste mistake, not a device layout.
        taken: dict[tuple[int, RegisterType, int], str] = {}
        for name, spec in self.specs().items():
            for address in range(spec.address, spec.address + register_count(spec)):
                key = (spec.unit_id, spec.register_type, address)
                _require(
                    key not in taken,
                    f"{name}.address",
                    f"{spec.register_type} register {address} is already used by {taken.get(key)}",
                )
                taken[key] = name

    def specs(self) -> dict[str, RegisterSpec]:
        """Return the configured entries by name: the signals in SIGNALS order, then the setpoint."""
        every = {name: getattr(self, name) for name in (*SIGNALS, SETPOINT)}
        return {name: spec for name, spec in every.items() if spec is not None}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain JSON-compatible form, as stored in a config entry; absent entries are left out."""
        return {name: spec.to_dict() for name, spec in self.specs().items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisterMap:
        """Build a map from its plain form; a missing or None entry is not configured.

        Raises InvalidInputError naming the entry and key, e.g. ``soc.data_type``.
        """
        specs: dict[str, RegisterSpec] = {}
        for name, entry in data.items():
            _require(
                name in (*SIGNALS, SETPOINT), str(name), "is not a register map entry"
            )
            if entry is None:
                continue
            _require(
                isinstance(entry, Mapping),
                name,
                "must be a mapping of register settings",
            )
            try:
                specs[name] = RegisterSpec.from_dict(entry)
            except InvalidInputError as err:
                message = str(err).removeprefix(f"{err.field}: ")
                raise InvalidInputError(f"{name}.{err.field}", message) from err
        return cls(**specs)


# A generic example layout, not any particular product's: the measurements in one contiguous block
# of input registers (so they are read with one request), powers as int32 watts, and the setpoint
# as an int32 watt holding register. Real devices need their own map.
DEFAULT_REGISTER_MAP = RegisterMap(
    soc=RegisterSpec(
        address=100,
        register_type=RegisterType.INPUT,
        data_type=DataType.UINT16,
        scale=0.1,
    ),
    battery_power=RegisterSpec(
        address=101,
        register_type=RegisterType.INPUT,
        data_type=DataType.INT32,
        scale=0.001,
    ),
    grid_power=RegisterSpec(
        address=103,
        register_type=RegisterType.INPUT,
        data_type=DataType.INT32,
        scale=0.001,
    ),
    pv_power=RegisterSpec(
        address=105,
        register_type=RegisterType.INPUT,
        data_type=DataType.INT32,
        scale=0.001,
    ),
    load_power=RegisterSpec(
        address=107,
        register_type=RegisterType.INPUT,
        data_type=DataType.INT32,
        scale=0.001,
    ),
    setpoint=RegisterSpec(
        address=200,
        register_type=RegisterType.HOLDING,
        data_type=DataType.INT32,
        scale=0.001,
    ),
)


def check_reading(signal: str, value: float) -> float:
    """Return ``value`` if it is plausible for ``signal``; raise InvalidInputError naming it if not.

    Catches what decoding alone cannot: a state of charge outside 0-100 % is a wrong scale,
    address or data type, or a device reporting "no value" with an out-of-range code.
    """
    _require(math.isfinite(value), signal, f"{value} is not a number")
    if signal == "soc":
        _require(0 <= value <= 100, signal, f"{value:g} % is outside 0-100 %")
    return value


def safe_setpoint_kw(setpoint_kw: float, soc_pct: float, battery: Battery) -> float:
    """Limit a battery setpoint (positive discharges) to what the battery may do now.

    The power stays within the charge and discharge limits; at or below ``soc_min_pct`` the
    battery does not discharge, at or above ``soc_max_pct`` it does not charge.
    """
    _require(math.isfinite(setpoint_kw), "setpoint_kw", "is not a number")
    _require(math.isfinite(soc_pct), "soc_pct", "is not a number")
    low = 0.0 if soc_pct >= battery.soc_max_pct else -battery.max_charge_kw
    high = 0.0 if soc_pct <= battery.soc_min_pct else battery.max_discharge_kw
    # A plain 0.0 rather than -0.0 when clamped from below, so that it encodes and prints as 0.
    return min(max(setpoint_kw, low), high) + 0.0


def should_write(
    new_kw: float,
    last_written_kw: float | None,
    last_write_time: float | None,
    now: float,
    deadband_kw: float,
    min_interval_s: float,
) -> bool:
    """Whether to send ``new_kw`` to the device, sparing the inverter's flash memory.

    Many inverters store every written setpoint in flash, which wears out after a limited number
    of writes; so write only when the setpoint moved by more than ``deadband_kw`` from the value
    last written and at least ``min_interval_s`` seconds have passed since that write. Times are
    seconds on one monotonic clock; None means nothing has been written yet.
    """
    _require(
        math.isfinite(deadband_kw) and deadband_kw >= 0,
        "deadband_kw",
        "must be a number >= 0",
    )
    _require(
        math.isfinite(min_interval_s) and min_interval_s >= 0,
        "min_interval_s",
        "must be a number >= 0",
    )
    if last_written_kw is None or last_write_time is None:
        return True
    if abs(new_kw - last_written_kw) <= deadband_kw:
        return False
    return now - last_write_time >= min_interval_s
