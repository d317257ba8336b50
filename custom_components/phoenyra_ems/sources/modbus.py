"""A battery inverter or meter over Modbus TCP or RTU, on pymodbus's async clients.

``ModbusDevice`` reads a ``RegisterMap`` and writes the battery setpoint, verifying every write
by reading it back. Every failure is a ``ModbusDeviceError`` whose ``reason`` says what kind it
is and whose message says where. After a connection failure the device reconnects by itself on
a later call, waiting longer after each failed attempt (``Backoff``).

Works with pymodbus 3.8 (Home Assistant 2025.4) up to 3.13 (Home Assistant 2026.10). The calls used
here differ only in the name of the unit-id keyword (``_UNIT_KEYWORD``); 3.13 also reports a
cancelled request as an I/O error (``_raise_if_cancelled``). Values are converted by the engine's
own codec, not pymodbus's, whose helpers changed between these versions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
import inspect
import math
import time
from typing import TYPE_CHECKING, Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType

# Relative (not custom_components.phoenyra_ems...) because mypy, run on this file, names the package
# phoenyra_ems: custom_components has no __init__.py.
from ..engine.model import Battery, InvalidInputError  # noqa: TID252
from ..engine.registers import (  # noqa: TID252
    RegisterMap,
    RegisterSpec,
    RegisterType,
    check_reading,
    decode,
    encode,
    register_count,
    safe_setpoint_kw,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from pymodbus.client import ModbusBaseClient
    from pymodbus.pdu import ModbusPDU

# pymodbus 3.8 names the unit id of a request ``slave``, later versions ``device_id``; the name is
# taken once from the installed version so that every request passes it the same way.
_UNIT_KEYWORD = (
    "device_id"
    if "device_id"
    in inspect.signature(ModbusClientMixin.read_holding_registers).parameters
    else "slave"
)

# The most registers one read request may ask for (Modbus application protocol, function 3/4).
_MAX_READ_COUNT = 125

_EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class Failure(StrEnum):
    """What kind of failure a ModbusDeviceError reports (usable as a translation key)."""

    # No connection: refused, host or serial port missing, connection lost, or waiting to retry.
    UNREACHABLE = "unreachable"
    # Connected, but no valid response came in time.
    TIMEOUT = "timeout"
    # The device answered with a Modbus exception response (e.g. illegal data address).
    DEVICE_EXCEPTION = "device_exception"
    # A register held something that is not a plausible value, or a value does not fit its register.
    BAD_VALUE = "bad_value"
    # The setpoint read back after writing is not what was written.
    READBACK_MISMATCH = "readback_mismatch"
    # The register map has no setpoint register to write.
    NOT_CONFIGURED = "not_configured"


class ModbusDeviceError(Exception):
    """Talking to the Modbus device failed; the message says where and why."""

    def __init__(self, reason: Failure, message: str) -> None:
        """Report a failure of kind ``reason``."""
        super().__init__(message)
        self.reason = reason


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise InvalidInputError(name, message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_timeout(timeout_s: float) -> None:
    _require(
        isinstance(timeout_s, int | float)
        and not isinstance(timeout_s, bool)
        and math.isfinite(timeout_s)
        and timeout_s > 0,
        "timeout_s",
        "must be a number of seconds > 0",
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class TcpParams:
    """A device reached over Modbus TCP."""

    host: str
    port: int = 502
    timeout_s: float = 3.0

    def __post_init__(self) -> None:
        """Reject impossible values."""
        _require(
            isinstance(self.host, str) and bool(self.host.strip()),
            "host",
            "is required",
        )
        _require(
            _is_int(self.port) and 0 < self.port <= 65535,
            "port",
            "must be a whole number from 1 to 65535",
        )
        _require_timeout(self.timeout_s)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible form, as stored in a config entry."""
        return {
            "transport": "tcp",
            "host": self.host,
            "port": self.port,
            "timeout_s": self.timeout_s,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class SerialParams:
    """A device reached over Modbus RTU on a serial port."""

    port: str
    baudrate: int = 9600
    # N (none), E (even) or O (odd).
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    timeout_s: float = 3.0

    def __post_init__(self) -> None:
        """Reject impossible values."""
        _require(
            isinstance(self.port, str) and bool(self.port.strip()),
            "port",
            "is required",
        )
        _require(
            _is_int(self.baudrate) and self.baudrate > 0,
            "baudrate",
            "must be a whole number greater than 0",
        )
        _require(self.parity in {"N", "E", "O"}, "parity", "must be N, E or O")
        _require(self.stopbits in {1, 2}, "stopbits", "must be 1 or 2")
        _require(self.bytesize in {5, 6, 7, 8}, "bytesize", "must be 5, 6, 7 or 8")
        _require_timeout(self.timeout_s)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible form, as stored in a config entry."""
        return {
            "transport": "rtu",
            "port": self.port,
            "baudrate": self.baudrate,
            "parity": self.parity,
            "stopbits": self.stopbits,
            "bytesize": self.bytesize,
            "timeout_s": self.timeout_s,
        }


type ConnectionParams = TcpParams | SerialParams


def params_from_dict(data: Mapping[str, Any]) -> ConnectionParams:
    """Build connection parameters from their plain form (``to_dict``'s output).

    Raises InvalidInputError naming the offending key.
    """
    # Each transport with the one setting it cannot default.
    kinds: dict[str, tuple[type[TcpParams | SerialParams], str]] = {
        "tcp": (TcpParams, "host"),
        "rtu": (SerialParams, "port"),
    }
    transport = data.get("transport", "")
    if transport not in kinds:
        raise InvalidInputError("transport", "must be tcp or rtu")
    kind, required = kinds[transport]
    settings = {key: value for key, value in data.items() if key != "transport"}
    known = set(kind.__dataclass_fields__)
    for key in settings:
        _require(key in known, str(key), f"is not a {transport} setting")
    _require(required in settings, required, "is required")
    return kind(**settings)


@dataclass(frozen=True, kw_only=True, slots=True)
class Backoff:
    """How long to wait before reconnecting after consecutive failed attempts.

    The wait doubles (by ``factor``) with every failure, from ``initial_s`` up to ``maximum_s``,
    so an unreachable device is not hammered and a briefly lost one is back soon.
    """

    initial_s: float = 1.0
    maximum_s: float = 300.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        """Reject impossible values."""
        _require(self.initial_s > 0, "initial_s", "must be greater than 0")
        _require(
            self.maximum_s >= self.initial_s, "maximum_s", "must be at least initial_s"
        )
        _require(self.factor >= 1, "factor", "must be at least 1")

    def delay_s(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (0 after none)."""
        if failures <= 0:
            return 0.0
        # Capped before the power grows large, so that many failures cannot overflow a float.
        exponent = min(failures - 1, 64)
        return min(self.initial_s * self.factor**exponent, self.maximum_s)


class Transition(StrEnum):
    """A change of a device's availability."""

    LOST = "lost"
    RESTORED = "restored"


class AvailabilityTracker:
    """Turns the outcome of each poll into the changes of availability, to log each change once.

    Starts available, so the first failure reports LOST and a success at start-up reports nothing.
    """

    def __init__(self) -> None:
        """Start available."""
        self._available = True

    @property
    def available(self) -> bool:
        """Whether the last poll succeeded."""
        return self._available

    def update(self, ok: bool) -> Transition | None:
        """Record the outcome of a poll; return the transition it makes, or None if there is none."""
        if ok == self._available:
            return None
        self._available = ok
        return Transition.RESTORED if ok else Transition.LOST


@dataclass(frozen=True, slots=True)
class _Block:
    """Contiguous registers of one table and unit, read with one request."""

    register_type: RegisterType
    unit_id: int
    address: int
    count: int
    names: tuple[str, ...]

    def describe(self) -> str:
        kind = f"{self.register_type} register"
        where = (
            f"{kind} {self.address}"
            if self.count == 1
            else f"{kind}s {self.address}-{self.address + self.count - 1}"
        )
        return f"{where} ({', '.join(self.names)}) at unit {self.unit_id}"


def _blocks(specs: Mapping[str, RegisterSpec]) -> list[_Block]:
    """Group the entries into as few read requests as contiguous addresses allow.

    Only registers that follow each other without a gap share a request: devices commonly
    answer a request that touches an unmapped address with an exception.
    """
    ordered = sorted(
        specs.items(),
        key=lambda item: (item[1].unit_id, item[1].register_type, item[1].address),
    )
    blocks: list[_Block] = []
    for name, spec in ordered:
        count = register_count(spec)
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and (last.unit_id, last.register_type) == (spec.unit_id, spec.register_type)
            and last.address + last.count == spec.address
            and last.count + count <= _MAX_READ_COUNT
        ):
            blocks[-1] = _Block(
                spec.register_type,
                spec.unit_id,
                last.address,
                last.count + count,
                (*last.names, name),
            )
        else:
            blocks.append(
                _Block(spec.register_type, spec.unit_id, spec.address, count, (name,))
            )
    return blocks


def _problem(err: InvalidInputError) -> str:
    """Return the message of a codec error without the field name it starts with."""
    return str(err).removeprefix(f"{err.field}: ")


class ModbusDevice:
    """One Modbus device (or gateway) with the register map that says where its values are.

    The connection opens on the first call, or with ``connect()``. When it fails or is lost, the
    next call reconnects once the backoff allows; until then calls fail at once with UNREACHABLE.
    Calls are serialised, so a read and a write never interleave on the wire.
    """

    def __init__(
        self,
        params: ConnectionParams,
        register_map: RegisterMap,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Describe the device; nothing is opened until the first call."""
        self.params = params
        self.register_map = register_map
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._client: ModbusBaseClient | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._last_problem = ""
        self._lock = asyncio.Lock()

    def __str__(self) -> str:
        """Name the device by its address, as messages do."""
        if isinstance(self.params, TcpParams):
            return f"Modbus TCP {self.params.host}:{self.params.port}"
        return f"Modbus RTU {self.params.port}"

    @property
    def connected(self) -> bool:
        """Whether a connection is open now."""
        return self._client is not None and self._client.connected

    async def connect(self) -> None:
        """Open the connection now, whatever the backoff says; raise ModbusDeviceError if it fails."""
        async with self._lock:
            await self._connect()

    async def read_all(self) -> dict[str, float]:
        """Read every entry of the register map, the setpoint included.

        Returns the values by entry name (``soc``, ``battery_power``, ..., ``setpoint``) in
        percent and kW. Any failure raises ModbusDeviceError and returns nothing.
        """
        async with self._lock:
            specs = self.register_map.specs()
            values: dict[str, float] = {}
            for block in _blocks(specs):
                words = await self._read(block)
                for name in block.names:
                    spec = specs[name]
                    offset = spec.address - block.address
                    part = words[offset : offset + register_count(spec)]
                    try:
                        values[name] = check_reading(name, decode(spec, part))
                    except InvalidInputError as err:
                        raise ModbusDeviceError(
                            Failure.BAD_VALUE,
                            f"{self}: {name} at {spec.register_type} register {spec.address}: "
                            f"{_problem(err)}",
                        ) from err
            return {name: values[name] for name in specs}

    async def write_setpoint(
        self, kw: float, *, soc_pct: float, battery: Battery
    ) -> float:
        """Command the battery to ``kw`` (positive discharges) and return what the device now holds.

        The setpoint is first limited by ``safe_setpoint_kw`` to the battery's power limits and
        to what its state of charge ``soc_pct`` allows, so nothing beyond them is ever written.
        The register is read back after writing; anything but the written words raises
        READBACK_MISMATCH. The returned kW is the read-back value (the setpoint rounded to the
        register's resolution).
        """
        spec = self.register_map.setpoint
        if spec is None:
            raise ModbusDeviceError(
                Failure.NOT_CONFIGURED, f"{self}: no setpoint register is configured"
            )
        try:
            target_kw = safe_setpoint_kw(kw, soc_pct, battery)
            words = encode(spec, target_kw)
        except InvalidInputError as err:
            raise ModbusDeviceError(
                Failure.BAD_VALUE,
                f"{self}: setpoint {kw:g} kW for holding register {spec.address}: {_problem(err)}",
            ) from err
        block = _Block(
            spec.register_type,
            spec.unit_id,
            spec.address,
            len(words),
            ("setpoint",),
        )
        unit: dict[str, Any] = {_UNIT_KEYWORD: spec.unit_id}
        async with self._lock:
            if len(words) == 1:
                await self._execute(
                    f"writing {block.describe()}",
                    lambda client: client.write_register(
                        spec.address, words[0], **unit
                    ),
                )
            else:
                await self._execute(
                    f"writing {block.describe()}",
                    lambda client: client.write_registers(spec.address, words, **unit),
                )
            readback = await self._read(block)
        if readback != words:
            raise ModbusDeviceError(
                Failure.READBACK_MISMATCH,
                f"{self}: {block.describe()} reads back {_hex(readback)} "
                f"after writing {_hex(words)} ({target_kw:g} kW)",
            )
        return decode(spec, readback)

    async def close(self) -> None:
        """Close the connection; a later call opens it again."""
        async with self._lock:
            self._drop_client()

    # Connection handling. Callers hold the lock.

    async def _ensure_connected(self) -> None:
        if self.connected:
            return
        wait_s = self._retry_at - self._clock()
        if wait_s > 0:
            raise ModbusDeviceError(
                Failure.UNREACHABLE,
                f"{self}: {self._last_problem}; next attempt in {wait_s:.1f} s",
            )
        await self._connect()

    async def _connect(self) -> None:
        self._drop_client()
        try:
            client = self._new_client()
        except RuntimeError as err:
            # pymodbus refuses to build a serial client when pyserial is missing.
            raise self._failed(Failure.UNREACHABLE, f"cannot open: {err}") from err
        self._client = client
        try:
            connected = await client.connect()
        except (OSError, ModbusException) as err:
            self._drop_client()
            raise self._failed(Failure.UNREACHABLE, f"cannot connect: {err}") from err
        if not connected:
            self._drop_client()
            raise self._failed(Failure.UNREACHABLE, "cannot connect")
        self._failures = 0
        self._retry_at = 0.0

    def _new_client(self) -> ModbusBaseClient:
        # pymodbus's own reconnecting (reconnect_delay) and retrying are off: this class owns both,
        # so that a failure reaches the caller at once and the backoff is in one place.
        params = self.params
        if isinstance(params, TcpParams):
            return AsyncModbusTcpClient(
                params.host,
                port=params.port,
                timeout=params.timeout_s,
                retries=0,
                reconnect_delay=0,
            )
        return AsyncModbusSerialClient(
            params.port,
            framer=FramerType.RTU,
            baudrate=params.baudrate,
            bytesize=params.bytesize,
            parity=params.parity,
            stopbits=params.stopbits,
            timeout=params.timeout_s,
            retries=0,
            reconnect_delay=0,
        )

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _failed(self, reason: Failure, problem: str) -> ModbusDeviceError:
        """Count a connection failure, schedule the next attempt and build the error to raise."""
        self._failures += 1
        self._retry_at = self._clock() + self._backoff.delay_s(self._failures)
        self._last_problem = problem
        return ModbusDeviceError(reason, f"{self}: {problem}")

    # Requests. Callers hold the lock.

    async def _read(self, block: _Block) -> list[int]:
        kwargs: dict[str, Any] = {"count": block.count, _UNIT_KEYWORD: block.unit_id}
        if block.register_type is RegisterType.HOLDING:
            response = await self._execute(
                f"reading {block.describe()}",
                lambda client: client.read_holding_registers(block.address, **kwargs),
            )
        else:
            response = await self._execute(
                f"reading {block.describe()}",
                lambda client: client.read_input_registers(block.address, **kwargs),
            )
        words = list(getattr(response, "registers", []))
        if len(words) != block.count:
            raise ModbusDeviceError(
                Failure.BAD_VALUE,
                f"{self}: reading {block.describe()}: "
                f"the response has {len(words)} registers instead of {block.count}",
            )
        return words

    async def _execute(
        self, action: str, request: Callable[[ModbusBaseClient], Awaitable[ModbusPDU]]
    ) -> ModbusPDU:
        """Send one request and return its response, mapping every failure to ModbusDeviceError."""
        await self._ensure_connected()
        assert self._client is not None
        try:
            response = await request(self._client)
        except ConnectionException as err:
            self._drop_client()
            raise self._failed(
                Failure.UNREACHABLE, f"{action}: connection lost"
            ) from err
        except ModbusIOException as err:
            _raise_if_cancelled()
            # A late answer could be taken for the next request's: start over on a new connection.
            self._drop_client()
            raise self._failed(
                Failure.TIMEOUT,
                f"{action}: no valid response within {self.params.timeout_s:g} s",
            ) from err
        except ModbusException as err:
            self._drop_client()
            raise self._failed(Failure.UNREACHABLE, f"{action}: {err}") from err
        if response.isError():
            code = getattr(response, "exception_code", None)
            name = _EXCEPTION_NAMES.get(code, "unknown") if code is not None else "?"
            raise ModbusDeviceError(
                Failure.DEVICE_EXCEPTION,
                f"{self}: {action}: the device answered Modbus exception {code} ({name})",
            )
        return response


def _raise_if_cancelled() -> None:
    # pymodbus 3.13 turns the cancellation of a request it is waiting on into ModbusIOException;
    # the caller's cancellation must stay a cancellation, not become a timeout.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _hex(words: list[int]) -> str:
    return "[" + ", ".join(f"0x{word:04X}" for word in words) + "]"


async def test_connection(
    params: ConnectionParams, register_map: RegisterMap
) -> dict[str, float]:
    """Connect, read the whole map once and disconnect: the config flow's check before saving.

    Returns what ``ModbusDevice.read_all`` returns; raises ModbusDeviceError on any failure.
    """
    device = ModbusDevice(params, register_map)
    try:
        await device.connect()
        return await device.read_all()
    finally:
        await device.close()
