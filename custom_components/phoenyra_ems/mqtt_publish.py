"""Publishes a site's state and plan over MQTT (retained), for other systems to follow."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from .const import LOGGER
from .reports import plan_report, state_report

if TYPE_CHECKING:
    from .coordinator import EmsCoordinator


class MqttPublisher:
    """Publishes ``<base>/state`` after each control interval and ``<base>/plan`` after each plan."""

    def __init__(
        self, hass: HomeAssistant, coordinator: EmsCoordinator, base_topic: str
    ) -> None:
        """Publish ``coordinator``'s reports under ``base_topic``."""
        self.hass = hass
        self.coordinator = coordinator
        self.base_topic = base_topic.rstrip("/")
        self._published_plan: object = None
        self._error: str | None = None

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Follow the coordinator's updates; returns what stops it."""
        unsubscribes = [
            self.coordinator.async_add_listener(self._async_updated),
            mqtt.async_subscribe_connection_status(self.hass, self._async_connected),
        ]

        @callback
        def stop() -> None:
            for unsubscribe in unsubscribes:
                unsubscribe()

        return stop

    @callback
    def _async_connected(self, connected: bool) -> None:
        # A restarted broker may have lost the retained plan: the next update publishes it again.
        if connected:
            self._published_plan = None

    @callback
    def _async_updated(self) -> None:
        self.hass.async_create_background_task(
            self.async_publish(), f"{self.base_topic} MQTT publish"
        )

    async def async_publish(self) -> None:
        """Publish the state, and the plan when it is new; MQTT being down is logged once."""
        coordinator = self.coordinator
        messages = {"state": state_report(coordinator)}
        if coordinator.data is not self._published_plan:
            messages["plan"] = plan_report(coordinator)
        try:
            for name, report in messages.items():
                await mqtt.async_publish(
                    self.hass,
                    f"{self.base_topic}/{name}",
                    json.dumps(report),
                    qos=0,
                    retain=True,
                )
        except HomeAssistantError as err:
            if self._error is None:
                LOGGER.warning("Cannot publish to %s: %s", self.base_topic, err)
            self._error = str(err)
            return
        if self._error is not None:
            LOGGER.info("Publishes to %s again", self.base_topic)
            self._error = None
        self._published_plan = coordinator.data
