"""Modbus RTU: the serial client's framing and settings, against a real pymodbus server.

pyserial opens ``socket://host:port`` URLs like a serial port, so the device speaks RTU frames
(unit id, CRC) over a local TCP connection to a pymodbus server that frames RTU as well: the
serial client of ModbusDevice, pyserial and both framers are real; only the wire is a socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
import pytest

from custom_components.phoenyra_ems.engine.registers import RegisterType, encode
from custom_components.phoenyra_ems.sources.modbus import (
    Failure,
    ModbusDevice,
    ModbusDeviceError,
    SerialParams,
    params_from_dict,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

from tests.modbus_inverter import (
    BATTERY,
    MAP,
    SETPOINT,
    device_model,
    get_words,
    set_words,
)


@pytest.fixture
async def rtu_server(socket_enabled: None) -> AsyncGenerator[ModbusTcpServer]:
    """A pymodbus server answering RTU frames on a free local port."""
    server = ModbusTcpServer(
        device_model(lambda _address, _words: None),
        address=("127.0.0.1", 0),
        framer=FramerType.RTU,
    )
    await server.serve_forever(background=True)
    assert server.transport is not None
    yield server
    await server.shutdown()


def serial_url(server: ModbusTcpServer) -> str:
    assert server.transport is not None
    return f"socket://127.0.0.1:{server.transport.sockets[0].getsockname()[1]}"


async def test_rtu_device_reads_the_map_and_writes_the_setpoint(
    rtu_server: ModbusTcpServer,
) -> None:
    soc = MAP.soc
    grid = MAP.grid_power
    assert soc is not None and grid is not None
    await set_words(rtu_server, RegisterType.INPUT, soc.address, encode(soc, 64.2))
    await set_words(rtu_server, RegisterType.INPUT, grid.address, encode(grid, -1.25))
    params = params_from_dict(
        {
            "transport": "rtu",
            "port": serial_url(rtu_server),
            "baudrate": 19200,
            "parity": "E",
        }
    )
    assert isinstance(params, SerialParams)
    device = ModbusDevice(params, MAP)
    try:
        values = await device.read_all()
        assert values["soc"] == pytest.approx(64.2)
        assert values["grid_power"] == pytest.approx(-1.25)
        assert str(device).startswith("Modbus RTU socket://")

        held = await device.write_setpoint(-2.5, soc_pct=64.2, battery=BATTERY)
        assert held == -2.5
        words = await get_words(rtu_server, RegisterType.HOLDING, SETPOINT.address, 2)
        assert words == encode(SETPOINT, -2.5)
    finally:
        await device.close()


async def test_rtu_port_that_does_not_exist_is_unreachable(
    socket_enabled: None,
) -> None:
    device = ModbusDevice(
        SerialParams(port="/dev/ttyPHOENYRA-MISSING", timeout_s=0.5), MAP
    )
    with pytest.raises(ModbusDeviceError) as raised:
        await device.read_all()
    assert raised.value.reason is Failure.UNREACHABLE
    assert "/dev/ttyPHOENYRA-MISSING" in str(raised.value)
    await device.close()
