"""A real MQTT broker for integration tests: Debian's mosquitto, and Home Assistant's real MQTT integration on it.

``mosquitto`` starts a broker of its own for the test (127.0.0.1, a free port, anonymous, no persistence) and
can stop and start it again on the same port, to inject a broker restart. ``mqtt_entry`` sets up Home
Assistant's own ``mqtt`` integration (its paho client, no mock) against that broker and waits until it is
connected. Both are exported by tests/conftest.py.

./scripts/test installs mosquitto (apt-get) where it is missing, on the machine and in the forky chroot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import os
import shutil
import socket
import subprocess
import time
from typing import TYPE_CHECKING

from homeassistant.components import mqtt
from homeassistant.components.mqtt import client as mqtt_client
from homeassistant.components.mqtt.const import (
    CONF_BROKER,
    CONFIG_ENTRY_MINOR_VERSION,
    CONFIG_ENTRY_VERSION,
    DEFAULT_PROTOCOL,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PORT, CONF_PROTOCOL
from homeassistant.core import callback
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator
    from pathlib import Path

    from homeassistant.core import HomeAssistant

HOST = "127.0.0.1"
# How long the broker may take to accept connections, to exit, and Home Assistant's client to connect.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CONNECT_TIMEOUT = 10.0
# Two of Home Assistant's MQTT timings, shortened for the tests (the client, its reconnect loop and the
# broker stay real). The client retries a lost connection every RECONNECT_INTERVAL_SECONDS (10 s in both
# tracks' versions; the first retry comes at once, while a restarting broker is still down). After every
# (re)connect it renews its subscriptions and sends its birth message only once discovery has been quiet for
# DISCOVERY_COOLDOWN (5 s); should the broker go away before that, the birth message fails in a background
# task ("The client is not currently connected"), which the test harness reports as an error.
RECONNECT_INTERVAL = 0.2
DISCOVERY_COOLDOWN = 0.1
# The task in which Home Assistant's client renews its subscriptions and sends its birth message after a
# (re)connect (the same name in 2025.4 and 2026.10).
BIRTH_TASK_NAME = "mqtt re-subscribe and birth"

INSTALL_HINT = (
    "mosquitto (the MQTT broker the MQTT tests start) is not installed: run the tests with ./scripts/test, "
    "which installs it, or install it yourself with `apt-get install mosquitto` (on the latest track inside "
    "the chroot: `scripts/chroot apt-get install -y mosquitto`)"
)

# An MQTT 3.1.1 CONNECT (clean session, keepalive 60 s, empty client id), the CONNACK that accepts it, and
# DISCONNECT: the readiness probe speaks MQTT, so a broker counts as up when it answers as one.
_CONNECT = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"
_CONNACK_ACCEPTED = b"\x20\x02\x00\x00"
_DISCONNECT = b"\xe0\x00"


def mosquitto_binary() -> str | None:
    """The mosquitto executable: on PATH, or where Debian puts it (/usr/sbin is not on every PATH)."""
    path = (
        os.environ.get("PATH", os.defpath)
        + os.pathsep
        + "/usr/sbin"
        + os.pathsep
        + "/usr/local/sbin"
    )
    return shutil.which("mosquitto", path=path)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class MosquittoBroker:
    """A mosquitto process on ``host``:``port``; ``stop()`` and ``start()`` restart it on the same port."""

    binary: str
    directory: Path
    host: str = HOST
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def config_file(self) -> Path:
        """The generated mosquitto.conf."""
        return self.directory / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        """The broker's log (stdout and stderr of every start)."""
        return self.directory / "mosquitto.log"

    @property
    def running(self) -> bool:
        """Whether the process runs (it may not accept connections yet)."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The end of the broker's log, for failure messages."""
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _write_config(self) -> None:
        self.config_file.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type all\n"
        )

    def _spawn(self) -> None:
        if self.running:
            raise RuntimeError(f"mosquitto already runs on {self.host}:{self.port}")
        self._write_config()
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def _startup_failed(self, why: str) -> RuntimeError:
        return RuntimeError(
            f"mosquitto on {self.host}:{self.port} {why}; its log ({self.log_file}):\n{self.log_tail()}"
        )

    def _probe_blocking(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                sock.sendall(_CONNECT)
                answer = sock.recv(4)
                sock.sendall(_DISCONNECT)
        except OSError:
            return False
        return answer == _CONNACK_ACCEPTED

    async def _probe(self) -> bool:
        try:
            async with asyncio.timeout(1.0):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    writer.write(_CONNECT)
                    answer = await reader.readexactly(4)
                    writer.write(_DISCONNECT)
                    await writer.drain()
                finally:
                    writer.close()
                    await writer.wait_closed()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return False
        return answer == _CONNACK_ACCEPTED

    def start_blocking(self) -> None:
        """Start the broker and wait until it accepts MQTT connections."""
        self._spawn()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._probe_blocking():
            if not self.running:
                raise self._startup_failed("exited at start")
            if time.monotonic() > deadline:
                raise self._startup_failed(
                    f"accepted no connection within {START_TIMEOUT} s"
                )
            time.sleep(0.02)

    def stop_blocking(self) -> None:
        """Terminate the broker (SIGTERM, SIGKILL after STOP_TIMEOUT) and wait until it has exited."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    async def start(self) -> None:
        """Start the broker again (same port) without blocking the event loop while it comes up."""
        self._spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while not await self._probe():
            if not self.running:
                raise self._startup_failed("exited at start")
            if loop.time() > deadline:
                raise self._startup_failed(
                    f"accepted no connection within {START_TIMEOUT} s"
                )
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Terminate the broker and wait, without blocking the event loop, until it has exited."""
        if self.process is None:
            return
        process = self.process
        if process.poll() is None:
            process.terminate()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + STOP_TIMEOUT
            while process.poll() is None:
                if loop.time() > deadline:
                    process.kill()
                    process.wait()
                    break
                await asyncio.sleep(0.02)
        self.process = None


@pytest.fixture
def mosquitto(socket_enabled: None, tmp_path: Path) -> Generator[MosquittoBroker]:
    """A real mosquitto broker on 127.0.0.1 and a free port, running for the test, terminated after it."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    broker = MosquittoBroker(binary, directory)
    # The port was free a moment ago; when something took it meanwhile, start on another.
    for attempt in range(3):
        try:
            broker.start_blocking()
            break
        except RuntimeError:
            broker.stop_blocking()
            if attempt == 2:
                raise
            broker.port = free_port()
    try:
        yield broker
    finally:
        broker.stop_blocking()


async def wait_for_mqtt_connection(
    hass: HomeAssistant, connected: bool = True, within: float = CONNECT_TIMEOUT
) -> None:
    """Wait (at most ``within`` seconds) until Home Assistant's MQTT client is connected, or disconnected."""
    reached = asyncio.Event()

    @callback
    def _status(state: bool) -> None:
        if state is connected:
            reached.set()

    unsubscribe = mqtt.async_subscribe_connection_status(hass, _status)
    try:
        if mqtt.is_connected(hass) is not connected:
            async with asyncio.timeout(within):
                await reached.wait()
    finally:
        unsubscribe()


async def wait_for_mqtt_ready(
    hass: HomeAssistant, within: float = CONNECT_TIMEOUT
) -> None:
    """Wait (at most ``within`` seconds) until the client is connected and done with what follows a (re)connect.

    That is: its subscriptions renewed at the broker (acknowledged) and its birth message sent. Until then a
    broker that goes away again makes the client fail in a background task.
    """
    async with asyncio.timeout(within):
        await wait_for_mqtt_connection(hass, within=within)
        # The client starts the task in the same callback in which it becomes connected.
        if tasks := {
            task for task in asyncio.all_tasks() if task.get_name() == BIRTH_TASK_NAME
        }:
            # asyncio.wait: a timeout cancels this wait, never the client's task.
            await asyncio.wait(tasks)


@pytest.fixture
async def mqtt_entry(
    hass: HomeAssistant,
    mosquitto: MosquittoBroker,
    monkeypatch: pytest.MonkeyPatch,
    mock_hass_config: None,
) -> AsyncGenerator[MockConfigEntry]:
    """Home Assistant's real MQTT integration, connected to the ``mosquitto`` broker; unloaded after the test.

    Yields once the client is connected, its subscriptions are in place and its birth message is sent
    (``wait_for_mqtt_ready``; after a broker restart, tests wait for the same). MQTT reads configuration.yaml
    at setup, which the test harness's ``mock_hass_config`` provides (empty).
    """
    monkeypatch.setattr(mqtt_client, "RECONNECT_INTERVAL_SECONDS", RECONNECT_INTERVAL)
    monkeypatch.setattr(mqtt_client, "DISCOVERY_COOLDOWN", DISCOVERY_COOLDOWN)
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title=f"{mosquitto.host}:{mosquitto.port}",
        # What the config flow of each track's Home Assistant creates (protocol 3.1.1 in 2025.4, 5 later).
        data={
            CONF_BROKER: mosquitto.host,
            CONF_PORT: mosquitto.port,
            CONF_PROTOCOL: DEFAULT_PROTOCOL,
        },
        version=CONFIG_ENTRY_VERSION,
        minor_version=CONFIG_ENTRY_MINOR_VERSION,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert await mqtt.async_wait_for_mqtt_client(hass)
    try:
        await wait_for_mqtt_ready(hass)
    except TimeoutError:
        pytest.fail(
            f"Home Assistant's MQTT client did not connect to {mosquitto.host}:{mosquitto.port} within "
            f"{CONNECT_TIMEOUT} s; broker log:\n{mosquitto.log_tail()}"
        )
    yield entry
    if entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
