"""The real-broker fixtures: Home Assistant's own MQTT client against a mosquitto the test starts and restarts."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import callback

from .mqtt_broker import wait_for_mqtt_connection, wait_for_mqtt_ready

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from .mqtt_broker import MosquittoBroker

MESSAGE_TIMEOUT = 5.0
RECONNECT_TIMEOUT = 15.0


class Inbox:
    """Messages an HA subscription received, to be awaited with a bounded timeout."""

    def __init__(self) -> None:
        self.messages: list[mqtt.ReceiveMessage] = []
        self._arrived = asyncio.Event()

    @callback
    def receive(self, msg: mqtt.ReceiveMessage) -> None:
        self.messages.append(msg)
        self._arrived.set()

    async def next(self, within: float = MESSAGE_TIMEOUT) -> mqtt.ReceiveMessage:
        async with asyncio.timeout(within):
            while not self.messages:
                self._arrived.clear()
                await self._arrived.wait()
        return self.messages.pop(0)


async def round_trip(
    hass: HomeAssistant, topic: str, inbox: Inbox, within: float
) -> float:
    """Publish to ``topic`` until the subscription behind ``inbox`` receives it; returns the seconds taken.

    Publishing again covers the moment after a reconnect, before Home Assistant has renewed its
    subscriptions at the broker (a message sent then reaches nobody).
    """
    start = time.monotonic()
    async with asyncio.timeout(within):
        attempt = 0
        while True:
            attempt += 1
            payload = f"ping {attempt}"
            await mqtt.async_publish(hass, topic, payload, qos=1)
            try:
                msg = await inbox.next(within=0.25)
            except TimeoutError:
                continue
            if msg.payload == payload:
                return time.monotonic() - start


async def test_retained_message_reaches_a_later_subscriber(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry, mosquitto: MosquittoBroker
) -> None:
    assert mqtt_entry.state is ConfigEntryState.LOADED
    assert mqtt.is_connected(hass)

    await mqtt.async_publish(hass, "phoenyra_test/retained", "42", qos=1, retain=True)
    # Subscribed only after the publish: the message can only come back as the broker's retained one.
    inbox = Inbox()
    unsubscribe = await mqtt.async_subscribe(
        hass, "phoenyra_test/retained", inbox.receive, qos=1
    )
    msg = await inbox.next()
    unsubscribe()

    assert (msg.topic, msg.payload, msg.retain) == (
        "phoenyra_test/retained",
        "42",
        True,
    )
    assert mosquitto.running and mosquitto.starts == 1


async def test_client_reconnects_after_a_broker_restart(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry, mosquitto: MosquittoBroker
) -> None:
    inbox = Inbox()
    unsubscribe = await mqtt.async_subscribe(hass, "phoenyra_test/echo", inbox.receive)
    await round_trip(hass, "phoenyra_test/echo", inbox, MESSAGE_TIMEOUT)
    first_pid = mosquitto.process.pid if mosquitto.process else None

    await mosquitto.stop()
    await wait_for_mqtt_connection(hass, connected=False)
    assert not mosquitto.running

    await mosquitto.start()
    started = time.monotonic()
    # Home Assistant's client notices the broker by itself: nothing here asks it to reconnect.
    await wait_for_mqtt_connection(hass, within=RECONNECT_TIMEOUT)
    reconnected_s = time.monotonic() - started
    await wait_for_mqtt_ready(hass)
    # The restarted broker knows no subscriptions (no persistence): the client renews them.
    await round_trip(hass, "phoenyra_test/echo", inbox, RECONNECT_TIMEOUT)
    unsubscribe()

    assert mosquitto.starts == 2
    assert mosquitto.process is not None and mosquitto.process.pid != first_pid
    assert reconnected_s < RECONNECT_TIMEOUT
