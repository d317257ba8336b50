"""The Modbus device against a real pymodbus TCP server that plays a battery inverter."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest

from custom_components.phoenyra_ems.engine.model import Battery
from custom_components.phoenyra_ems.engine.registers import (
    DataType,
    Endian,
    RegisterMap,
    RegisterSpec,
    RegisterType,
)
from custom_components.phoenyra_ems.sources import modbus
from custom_components.phoenyra_ems.sources.modbus import (
    AvailabilityTracker,
    Backoff,
    Failure,
    ModbusDevice,
    ModbusDeviceError,
    SerialParams,
    TcpParams,
    Transition,
    params_from_dict,
)
from tests.modbus_inverter import (
    BATTERY,
    LOAD_KW,
    MAP,
    PV_KW,
    FakeInverter,
    free_port,
    set_words,
    until,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

# Home Assistant's test plugin blocks sockets (pytest-socket); these tests need real ones on
# 127.0.0.1, which pytest-socket's socket_enabled fixture allows.
pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def inverter() -> AsyncGenerator[FakeInverter]:
    fake = FakeInverter(soc_pct=50.0)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def device(inverter: FakeInverter) -> AsyncGenerator[ModbusDevice]:
    dev = ModbusDevice(
        TcpParams(host="127.0.0.1", port=inverter.port, timeout_s=1.0),
        MAP,
        backoff=Backoff(initial_s=0.05, maximum_s=0.2),
    )
    yield dev
    await dev.close()


# --- Reading ----------------------------------------------------------------------------------


async def test_read_all_returns_the_simulated_values(
    inverter: FakeInverter, device: ModbusDevice
) -> None:
    values = await device.read_all()
    assert list(values) == [*MAP.specs()]
    assert values["soc"] == pytest.approx(inverter.battery.soc_pct, abs=0.2)
    assert values["battery_power"] == 0.0
    assert values["grid_power"] == pytest.approx(LOAD_KW - PV_KW)
    assert values["pv_power"] == pytest.approx(PV_KW)
    assert values["load_power"] == pytest.approx(LOAD_KW)
    assert values["setpoint"] == 0.0
    assert device.connected


async def test_read_all_decodes_the_words_on_the_wire(inverter: FakeInverter) -> None:
    # Raw words written by hand, so the codec is not checked against itself.
    await set_words(inverter.server, RegisterType.INPUT, 150, [555, 0xFFFF, 0xF380])
    await set_words(inverter.server, RegisterType.HOLDING, 160, [0x0000, 0x3FC0])
    wire_map = RegisterMap(
        soc=RegisterSpec(
            address=150,
            register_type=RegisterType.INPUT,
            data_type=DataType.UINT16,
            scale=0.1,
        ),
        grid_power=RegisterSpec(
            address=151,
            register_type=RegisterType.INPUT,
            data_type=DataType.INT32,
            scale=0.001,
        ),
        # float32 1.5 with the low word first.
        pv_power=RegisterSpec(
            address=160, data_type=DataType.FLOAT32, word_order=Endian.LITTLE
        ),
    )
    assert await modbus.test_connection(
        TcpParams(host="127.0.0.1", port=inverter.port), wire_map
    ) == pytest.approx({"soc": 55.5, "grid_power": -3.2, "pv_power": 1.5})


# --- Writing ----------------------------------------------------------------------------------


async def test_setpoint_is_read_back_and_moves_the_soc(
    inverter: FakeInverter, device: ModbusDevice
) -> None:
    start = (await device.read_all())["soc"]

    assert await device.write_setpoint(-3.0, soc_pct=start, battery=BATTERY) == -3.0
    assert await inverter.setpoint_kw() == -3.0
    await until(lambda: _soc_above(device, start + 1))
    charging = await device.read_all()
    assert charging["setpoint"] == -3.0
    assert charging["battery_power"] == pytest.approx(-3.0)
    assert charging["grid_power"] == pytest.approx(LOAD_KW - PV_KW + 3.0)

    high = charging["soc"]
    assert await device.write_setpoint(2.5, soc_pct=high, battery=BATTERY) == 2.5
    await until(lambda: _soc_below(device, high - 1))
    assert (await device.read_all())["battery_power"] == pytest.approx(2.5)


async def _soc_above(device: ModbusDevice, pct: float) -> bool:
    return (await device.read_all())["soc"] > pct


async def _soc_below(device: ModbusDevice, pct: float) -> bool:
    return (await device.read_all())["soc"] < pct


async def test_setpoint_is_rounded_to_the_register_resolution(
    device: ModbusDevice,
) -> None:
    assert await device.write_setpoint(1.23456, soc_pct=50, battery=BATTERY) == 1.235


@pytest.mark.parametrize(
    ("asked_kw", "soc_pct", "written_kw"),
    [
        (50.0, 50.0, 5.0),
        (-50.0, 50.0, -4.0),
        (3.0, 10.0, 0.0),
        (-3.0, 90.0, 0.0),
        (-3.0, 10.0, -3.0),
    ],
)
async def test_setpoint_never_exceeds_the_limits(
    inverter: FakeInverter,
    device: ModbusDevice,
    asked_kw: float,
    soc_pct: float,
    written_kw: float,
) -> None:
    assert (
        await device.write_setpoint(asked_kw, soc_pct=soc_pct, battery=BATTERY)
        == written_kw
    )
    assert inverter.writes == [written_kw]


async def test_readback_mismatch_is_an_error() -> None:
    fake = FakeInverter(soc_pct=50.0, setpoint_limit_kw=2.0)
    await fake.start()
    device = ModbusDevice(TcpParams(host="127.0.0.1", port=fake.port), MAP)
    try:
        with pytest.raises(ModbusDeviceError) as err:
            await device.write_setpoint(3.0, soc_pct=50, battery=BATTERY)
        assert err.value.reason is Failure.READBACK_MISMATCH
        assert str(err.value) == (
            f"Modbus TCP 127.0.0.1:{fake.port}: holding registers 200-201 (setpoint) at unit 1 "
            "reads back [0x0000, 0x07D0] after writing [0x0000, 0x0BB8] (3 kW)"
        )
        assert await device.write_setpoint(1.5, soc_pct=50, battery=BATTERY) == 1.5
    finally:
        await device.close()
        await fake.stop()


async def test_write_without_setpoint_register(inverter: FakeInverter) -> None:
    device = ModbusDevice(
        TcpParams(host="127.0.0.1", port=inverter.port), RegisterMap(soc=MAP.soc)
    )
    with pytest.raises(ModbusDeviceError) as err:
        await device.write_setpoint(1.0, soc_pct=50, battery=BATTERY)
    assert err.value.reason is Failure.NOT_CONFIGURED
    assert not device.connected


async def test_setpoint_that_does_not_fit_its_register(inverter: FakeInverter) -> None:
    tiny = RegisterMap(setpoint=RegisterSpec(address=210, data_type=DataType.INT16))
    big_battery = Battery(capacity_kwh=100_000, max_charge_kw=1e5, max_discharge_kw=1e5)
    device = ModbusDevice(TcpParams(host="127.0.0.1", port=inverter.port), tiny)
    with pytest.raises(
        ModbusDeviceError,
        match=r"40000 does not fit int16 at scale 1 \(the register holds -32768 to 32767\)",
    ) as err:
        await device.write_setpoint(40_000, soc_pct=50, battery=big_battery)
    assert err.value.reason is Failure.BAD_VALUE
    assert inverter.writes == []


# --- Faults -----------------------------------------------------------------------------------


async def test_server_lost_and_back_on_the_same_port(
    inverter: FakeInverter, device: ModbusDevice
) -> None:
    tracker = AvailabilityTracker()
    transitions: list[Transition] = []
    errors: list[ModbusDeviceError] = []

    async def poll() -> bool:
        try:
            await device.read_all()
        except ModbusDeviceError as err:
            errors.append(err)
            ok = False
        else:
            ok = True
        if (change := tracker.update(ok)) is not None:
            transitions.append(change)
        return ok

    assert await poll()
    await inverter.stop()
    # A request already on its way when the server goes would wait for its timeout; the next
    # poll comes after the device has seen the connection close.
    await until(lambda: _disconnected(device))
    for _ in range(6):
        assert not await poll()
        await asyncio.sleep(0.02)
    assert transitions == [Transition.LOST]
    assert {err.reason for err in errors} == {Failure.UNREACHABLE}
    assert f"Modbus TCP 127.0.0.1:{inverter.port}: cannot connect" in str(errors[0])
    # Within the backoff the device does not even try, and says when it will.
    assert any("next attempt in" in str(err) for err in errors)

    await inverter.start()
    await until(poll)
    assert transitions == [Transition.LOST, Transition.RESTORED]
    assert (await device.read_all())["pv_power"] == pytest.approx(PV_KW)


async def test_unreachable_device() -> None:
    port = free_port()
    with pytest.raises(ModbusDeviceError) as err:
        await modbus.test_connection(TcpParams(host="127.0.0.1", port=port), MAP)
    assert err.value.reason is Failure.UNREACHABLE
    assert str(err.value) == f"Modbus TCP 127.0.0.1:{port}: cannot connect"


async def test_reconnect_attempts_back_off() -> None:
    port = free_port()
    now = [1000.0]
    device = ModbusDevice(
        TcpParams(host="127.0.0.1", port=port),
        MAP,
        backoff=Backoff(initial_s=1.0, maximum_s=4.0),
        clock=lambda: now[0],
    )
    messages = []
    for step_s in [0.0, 0.5, 0.5, 1.0, 1.0, 2.0, 4.0, 4.0]:
        now[0] += step_s
        with pytest.raises(ModbusDeviceError) as err:
            await device.read_all()
        assert err.value.reason is Failure.UNREACHABLE
        messages.append(str(err.value).removeprefix(f"Modbus TCP 127.0.0.1:{port}: "))
    assert messages == [
        "cannot connect",
        "cannot connect; next attempt in 0.5 s",
        "cannot connect",  # 1 s after the first failure
        "cannot connect; next attempt in 1.0 s",
        "cannot connect",  # 2 s after the second
        "cannot connect; next attempt in 2.0 s",
        "cannot connect",  # 4 s after the third
        "cannot connect",  # 4 s after the fourth: the wait stays at the maximum
    ]


async def test_serial_port_that_cannot_be_opened() -> None:
    # Without pyserial pymodbus refuses to build the client; with it, the port does not exist.
    params = SerialParams(port="/dev/phoenyra-no-such-port", baudrate=19200)
    with pytest.raises(ModbusDeviceError) as err:
        await modbus.test_connection(params, MAP)
    assert err.value.reason is Failure.UNREACHABLE
    assert str(err.value).startswith("Modbus RTU /dev/phoenyra-no-such-port: cannot ")


class SilentServer:
    """A TCP server that accepts connections and requests and never answers."""

    def __init__(self) -> None:
        self.port = 0
        self.request_received = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def _swallow(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await reader.read(256):
            self.request_received.set()
        writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._swallow, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def silent() -> AsyncGenerator[SilentServer]:
    server = SilentServer()
    await server.start()
    yield server
    await server.stop()


async def test_no_response_is_a_timeout(silent: SilentServer) -> None:
    device = ModbusDevice(
        TcpParams(host="127.0.0.1", port=silent.port, timeout_s=0.2), MAP
    )
    started = time.monotonic()
    with pytest.raises(ModbusDeviceError) as err:
        await device.read_all()
    assert time.monotonic() - started < 1.0
    assert err.value.reason is Failure.TIMEOUT
    assert str(err.value) == (
        f"Modbus TCP 127.0.0.1:{silent.port}: reading holding registers 200-201 "
        "(setpoint) at unit 1: no valid response within 0.2 s"
    )
    await device.close()


async def test_cancelling_a_read_stays_a_cancellation(silent: SilentServer) -> None:
    device = ModbusDevice(
        TcpParams(host="127.0.0.1", port=silent.port, timeout_s=5.0), MAP
    )
    read = asyncio.create_task(device.read_all())
    # Cancel while the device waits for the answer (pymodbus 3.13 turns that into an I/O error).
    await asyncio.wait_for(silent.request_received.wait(), 2.0)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    await device.close()


async def _disconnected(device: ModbusDevice) -> bool:
    return not device.connected


async def test_exception_response_names_the_address(inverter: FakeInverter) -> None:
    missing = RegisterMap(
        soc=RegisterSpec(address=1000, register_type=RegisterType.INPUT)
    )
    device = ModbusDevice(TcpParams(host="127.0.0.1", port=inverter.port), missing)
    with pytest.raises(ModbusDeviceError) as err:
        await device.read_all()
    assert err.value.reason is Failure.DEVICE_EXCEPTION
    assert str(err.value) == (
        f"Modbus TCP 127.0.0.1:{inverter.port}: reading input register 1000 (soc) at unit 1: "
        "the device answered Modbus exception 2 (illegal data address)"
    )
    # The device is reachable; the connection stays up.
    assert device.connected
    await device.close()


async def test_float32_nan_is_a_clear_error(inverter: FakeInverter) -> None:
    await set_words(inverter.server, RegisterType.INPUT, 120, [0x7FC0, 0x0000])
    nan_map = RegisterMap(
        pv_power=RegisterSpec(
            address=120, register_type=RegisterType.INPUT, data_type=DataType.FLOAT32
        )
    )
    device = ModbusDevice(TcpParams(host="127.0.0.1", port=inverter.port), nan_map)
    with pytest.raises(ModbusDeviceError) as err:
        await device.read_all()
    assert err.value.reason is Failure.BAD_VALUE
    assert str(err.value) == (
        f"Modbus TCP 127.0.0.1:{inverter.port}: pv_power at input register 120: "
        "float32 ['0x7FC0', '0x0000'] is nan, not a number"
    )
    await device.close()


async def test_out_of_range_soc_is_a_clear_error(inverter: FakeInverter) -> None:
    await set_words(inverter.server, RegisterType.INPUT, 130, [0xFFFF])
    assert MAP.soc is not None
    device = ModbusDevice(
        TcpParams(host="127.0.0.1", port=inverter.port),
        RegisterMap(soc=RegisterSpec.from_dict({**MAP.soc.to_dict(), "address": 130})),
    )
    with pytest.raises(ModbusDeviceError) as err:
        await device.read_all()
    assert err.value.reason is Failure.BAD_VALUE
    assert str(err.value).endswith(
        "soc at input register 130: 6553.5 % is outside 0-100 %"
    )
    await device.close()


# --- Pure parts -------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(initial_s=1.0, maximum_s=10.0)
    assert [backoff.delay_s(n) for n in range(7)] == [0, 1, 2, 4, 8, 10, 10]
    assert Backoff().delay_s(10_000) == 300.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_s": 0}, {"initial_s": 2.0, "maximum_s": 1.0}, {"factor": 0.5}],
)
def test_backoff_rejects_impossible_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Backoff(**kwargs)


def test_tracker_reports_each_change_once() -> None:
    tracker = AvailabilityTracker()
    outcomes = [True, True, False, False, False, True, True, False, True]
    assert [tracker.update(ok) for ok in outcomes] == [
        None,
        None,
        Transition.LOST,
        None,
        None,
        Transition.RESTORED,
        None,
        Transition.LOST,
        Transition.RESTORED,
    ]
    assert tracker.available


def test_tracker_reports_a_failure_at_start() -> None:
    tracker = AvailabilityTracker()
    assert tracker.update(False) is Transition.LOST
    assert not tracker.available


@pytest.mark.parametrize(
    "params",
    [
        TcpParams(host="inverter.local", port=1502, timeout_s=2.5),
        SerialParams(port="/dev/ttyUSB0", baudrate=19200, parity="E", stopbits=2),
    ],
)
def test_params_dict_round_trip(params: TcpParams | SerialParams) -> None:
    assert params_from_dict(params.to_dict()) == params


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"transport": "udp", "host": "x"}, "transport"),
        ({"transport": "tcp"}, "host"),
        ({"transport": "tcp", "host": "x", "baudrate": 9600}, "baudrate"),
        ({"transport": "tcp", "host": "x", "port": 0}, "port"),
        ({"transport": "tcp", "host": " "}, "host"),
        ({"transport": "tcp", "host": "x", "timeout_s": 0}, "timeout_s"),
        ({"transport": "rtu", "port": "/dev/ttyS0", "parity": "X"}, "parity"),
        ({"transport": "rtu", "port": "/dev/ttyS0", "stopbits": 3}, "stopbits"),
        ({"transport": "rtu", "baudrate": 9600}, "port"),
    ],
)
def test_params_from_dict_names_the_bad_key(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field) as err:
        params_from_dict(data)
    assert getattr(err.value, "field", None) == field
