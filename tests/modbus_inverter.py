"""A battery inverter for Modbus tests: a real pymodbus TCP server on 127.0.0.1 running a simulated battery.

``FakeInverter`` serves DEFAULT_REGISTER_MAP's layout (SoC and the four powers in input registers,
the setpoint in a holding register); its battery runs at the setpoint it holds, so the SoC moves
with what is written. Used by the Modbus device's tests (tests/sources/test_modbus.py) and by the
integration's live-mode tests (tests/test_live_modbus.py).

The server is pymodbus's own, on the running event loop; tests that use it need real sockets
(pytest-socket's ``socket_enabled`` fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import TYPE_CHECKING, Any

from pymodbus.server import ModbusTcpServer

from custom_components.phoenyra_ems.engine.model import Battery
from custom_components.phoenyra_ems.engine.registers import (
    DEFAULT_REGISTER_MAP,
    RegisterType,
    decode,
    encode,
)
from custom_components.phoenyra_ems.engine.simulator import BatterySimulator

if TYPE_CHECKING:
    from collections.abc import Callable

BATTERY = Battery(
    capacity_kwh=10.0,
    max_charge_kw=4.0,
    max_discharge_kw=5.0,
    soc_min_pct=10.0,
    soc_max_pct=90.0,
)
LOAD_KW = 2.0
PV_KW = 3.0
TICK_S = 0.05
# Each 50 ms tick runs the battery for a simulated minute, so the SoC visibly moves in a second.
SIMULATED_S_PER_TICK = 60.0
# The fake inverter's registers: holding and input registers 0..299.
WORDS = 300
HOLDING_WRITE_CODES = {6, 16}
MAP = DEFAULT_REGISTER_MAP
assert MAP.setpoint is not None
SETPOINT = MAP.setpoint


# --- The server side, which differs between the pymodbus versions Home Assistant pins ----------
# pymodbus 3.8 keeps a device's registers in a ModbusSlaveContext; 3.13 in a SimDevice (its
# deprecated ModbusDeviceContext swaps holding and input registers, so it is not used). Everything
# version-specific of the fake inverter is in the functions below.

try:
    from pymodbus.simulator import DataType as SimType, SimData, SimDevice
except ImportError:  # pymodbus 3.8
    SimDevice = None


def device_model(on_write: Callable[[int, list[int]], None]) -> Any:
    """Holding and input registers 0..WORDS-1, all 0.

    ``on_write(address, words)`` sees every write of holding registers and may change the words
    in place before they are stored, as an inverter that clamps a setpoint does.
    """
    if SimDevice is not None:

        async def action(
            func_code: int,
            _start: int,
            address: int,
            _count: int,
            _registers: list[int],
            set_values: list[int] | None,
        ) -> None:
            if set_values and func_code in HOLDING_WRITE_CODES:
                on_write(address, set_values)

        def registers() -> list[Any]:
            return [SimData(0, count=WORDS, values=0, datatype=SimType.REGISTERS)]

        def bits() -> list[Any]:
            return [SimData(0, count=16, values=False, datatype=SimType.BITS)]

        return SimDevice(
            id=0, simdata=(bits(), bits(), registers(), registers()), action=action
        )

    from pymodbus.datastore import (
        ModbusSequentialDataBlock,
        ModbusServerContext,
        ModbusSlaveContext,
    )

    class Context(ModbusSlaveContext):  # type: ignore[misc]
        def setValues(self, fc_as_hex: int, address: int, values: Any) -> None:  # noqa: N802 (pymodbus's name)
            if fc_as_hex in HOLDING_WRITE_CODES:
                values = list(values)
                on_write(address, values)
            super().setValues(fc_as_hex, address, values)

    # A block starting at 1 serves protocol address 0 (pymodbus 3.8 counts data from 1).
    return ModbusServerContext(
        Context(
            hr=ModbusSequentialDataBlock(1, [0] * WORDS),
            ir=ModbusSequentialDataBlock(1, [0] * WORDS),
        ),
        single=True,
    )


def _function_code(register_type: RegisterType) -> int:
    return 3 if register_type is RegisterType.HOLDING else 4


async def get_words(
    server: ModbusTcpServer, register_type: RegisterType, address: int, count: int
) -> list[int]:
    """Return the words the server holds (read on the server side, not over Modbus)."""
    code = _function_code(register_type)
    if SimDevice is not None:
        return list(await server.async_getValues(0, code, address, count))
    return list(await server.context[0].async_getValues(code, address, count))


async def set_words(
    server: ModbusTcpServer, register_type: RegisterType, address: int, words: list[int]
) -> None:
    """Store words in the server's registers (on the server side, not over Modbus)."""
    code = _function_code(register_type)
    if SimDevice is not None:
        await server.async_setValues(0, code, address, words)
    else:
        await server.context[0].async_setValues(code, address, words)


# --- The fake inverter ------------------------------------------------------------------------


class FakeInverter:
    """A pymodbus TCP server on 127.0.0.1 with DEFAULT_REGISTER_MAP's layout, running a battery.

    Every tick it runs the battery simulator at the setpoint held in the setpoint register and
    publishes SoC and powers; load and PV are ``load_kw`` and ``pv_kw`` (changeable while it
    runs). A tick comes every TICK_S seconds and runs the battery for ``simulated_s_per_tick``
    seconds. ``setpoint_limit_kw`` makes it store its own limit instead of a larger written
    setpoint, as real inverters do. ``writes`` lists every setpoint written over Modbus (kW).
    """

    def __init__(
        self,
        soc_pct: float,
        setpoint_limit_kw: float | None = None,
        *,
        load_kw: float = LOAD_KW,
        pv_kw: float = PV_KW,
        simulated_s_per_tick: float = SIMULATED_S_PER_TICK,
        port: int = 0,
    ) -> None:
        self.battery = BatterySimulator(BATTERY, soc_pct)
        self.setpoint_limit_kw = setpoint_limit_kw
        self.load_kw = load_kw
        self.pv_kw = pv_kw
        self.simulated_s_per_tick = simulated_s_per_tick
        self.writes: list[float] = []
        # 0: any free port on the first start; later starts reuse the port of the first.
        self.port = port
        self._model = device_model(self._on_write)
        self._server: ModbusTcpServer | None = None
        self._ticker: asyncio.Task[None] | None = None

    def _on_write(self, address: int, words: list[int]) -> None:
        if address != SETPOINT.address or len(words) != 2:
            return
        kw = decode(SETPOINT, words)
        self.writes.append(kw)
        if self.setpoint_limit_kw is not None and abs(kw) > self.setpoint_limit_kw:
            words[:] = encode(SETPOINT, self.setpoint_limit_kw * (1 if kw > 0 else -1))

    @property
    def server(self) -> ModbusTcpServer:
        assert self._server is not None
        return self._server

    @property
    def running(self) -> bool:
        """Whether the server listens."""
        return self._server is not None

    async def start(self) -> None:
        """Listen (on the port of the previous start, if any) and start the battery."""
        self._server = ModbusTcpServer(self._model, address=("127.0.0.1", self.port))
        await self._server.serve_forever(background=True)
        assert self._server.transport is not None, "the server could not listen"
        self.port = self._server.transport.sockets[0].getsockname()[1]
        await self.tick(0.0)
        self._ticker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the battery and the server; connected clients lose their connection."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def setpoint_kw(self) -> float:
        """The setpoint the setpoint register holds now."""
        words = await get_words(self.server, RegisterType.HOLDING, SETPOINT.address, 2)
        return decode(SETPOINT, words)

    async def publish(self, name: str, value: float) -> None:
        """Store ``value`` in the register of map entry ``name``."""
        spec = MAP.specs()[name]
        await set_words(
            self.server, spec.register_type, spec.address, encode(spec, value)
        )

    async def tick(self, seconds: float) -> None:
        """Run the battery for ``seconds`` at the held setpoint and publish the site's values."""
        battery_kw = self.battery.step(await self.setpoint_kw(), seconds)
        await self.publish("soc", self.battery.soc_pct)
        await self.publish("battery_power", battery_kw)
        await self.publish("grid_power", self.load_kw - self.pv_kw - battery_kw)
        await self.publish("pv_power", self.pv_kw)
        await self.publish("load_power", self.load_kw)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            await self.tick(self.simulated_s_per_tick)


def free_port() -> int:
    """A port nothing listens on (the OS just handed it out)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(check: Callable[[], Any], timeout_s: float = 3.0) -> None:
    """Wait until the async ``check()`` returns something true, polling every 20 ms."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
