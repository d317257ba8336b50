"""Links to the site's battery: where measurements come from and where the setpoint goes.

One link per site: the simulated demo battery, Home Assistant entities, MQTT topics (through Home
Assistant's MQTT integration) or a Modbus device (its own coordinator on pymodbus). Every link
reports the last good value of each signal with the time the device reported it; the coordinator
decides what is fresh enough to act on and what to command (engine.control).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
import json
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfPower,
)
from homeassistant.core import callback
from homeassistant.exceptions import ConfigEntryNotReady, HomeAssistantError
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import PowerConverter

from .const import (
    CONF_CONNECTION,
    CONF_INVERT_BATTERY_POWER,
    CONF_INVERT_GRID_POWER,
    CONF_INVERT_SETPOINT,
    CONF_POWER_UNIT,
    CONF_REGISTER_MAP,
    CONF_SETPOINT_ENTITY,
    CONF_SETPOINT_TARGET,
    CONF_SETPOINT_TOPIC,
    CONF_TRANSPORT,
    DEFAULT_DEVICE,
    DOMAIN,
    ENTITY_SUFFIX,
    JSON_PATH_SUFFIX,
    LOGGER,
    SECTION_DEVICE,
    TARGET_MODBUS,
    TARGET_MQTT,
    TARGET_NUMBER,
    TOPIC_SUFFIX,
    TRANSPORT_ENTITIES,
    TRANSPORT_MQTT,
)
from .engine.control import Reading, parse_payload
from .engine.model import InvalidInputError
from .engine.registers import SIGNALS, RegisterMap
from .sources.modbus import Backoff, ModbusDevice, ModbusDeviceError, params_from_dict

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime, timedelta

    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import CALLBACK_TYPE, HomeAssistant, State

    from .engine.model import Battery, Measurement
    from .engine.simulator import DemoSite

# Signals whose sign some devices count the other way round, with the option that flips them.
_INVERTIBLE = {
    "battery_power": CONF_INVERT_BATTERY_POWER,
    "grid_power": CONF_INVERT_GRID_POWER,
}


# Longest wait between reconnection attempts to an unreachable Modbus device.
RECONNECT_MAX_S = 60.0


class DeviceError(HomeAssistantError):
    """Reading or writing the device failed; the message says where and why."""


def device_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return a live site's device settings, with defaults for what was never set."""
    return {**DEFAULT_DEVICE, **data.get(SECTION_DEVICE, {})}


def _signed(config: Mapping[str, Any], signal: str, value: float) -> float:
    option = _INVERTIBLE.get(signal)
    return -value if option is not None and config.get(option) else value


def mqtt_value(
    config: Mapping[str, Any], signal: str, payload: str | bytes | bytearray
) -> float:
    """Return the value of ``signal`` in an MQTT payload, in the engine's unit and sign.

    Powers arrive in the unit the device sends, the state of charge in percent. Raises
    InvalidInputError when the payload holds no number (at the signal's JSON path).
    """
    value = parse_payload(payload, config.get(signal + JSON_PATH_SUFFIX) or None)
    if signal != "soc":
        value = PowerConverter.convert(
            value, config[CONF_POWER_UNIT], UnitOfPower.KILO_WATT
        )
    return _signed(config, signal, value)


class DeviceLink(ABC):
    """The site's battery as the control loop sees it."""

    def __init__(self) -> None:
        """Start without readings."""
        self._readings: dict[str, Reading] = {}
        # Why a signal has no current value, by signal (shown by the watchdog).
        self.problems: dict[str, str] = {}

    @property
    @abstractmethod
    def name(self) -> str:
        """Where the values come from, for messages."""

    @property
    def available(self) -> bool:
        """Whether the device answers at all (entities of its values are unavailable otherwise)."""
        return True

    @property
    def can_write(self) -> bool:
        """Whether the link has a setpoint to write (False: advisory mode)."""
        return True

    # Links without a connection of their own have nothing to open or close.
    async def async_start(self) -> None:  # noqa: B027
        """Connect; raise ConfigEntryNotReady when the device cannot be reached yet."""

    async def async_stop(self) -> None:  # noqa: B027
        """Disconnect."""

    def readings(self, now: datetime) -> dict[str, Reading]:
        """Return the last good value of each signal, with when the device reported it."""
        return dict(self._readings)

    @abstractmethod
    async def async_write(self, kw: float, soc_pct: float, battery: Battery) -> float:
        """Command battery power ``kw`` (positive discharges, already within limits).

        Returns the power the device was given, in the same convention: ``kw`` unless the device's
        own range or resolution changed it.
        """

    def _problem(self, signal: str, problem: str | None) -> None:
        """Remember (or forget) why ``signal`` has no new value; log each new problem once."""
        previous = self.problems.get(signal)
        if problem is None:
            if previous is not None:
                LOGGER.info("%s: %s is back", self.name, signal)
                del self.problems[signal]
            return
        if previous != problem:
            LOGGER.warning("%s: %s: %s", self.name, signal, problem)
        self.problems[signal] = problem


class DemoLink(DeviceLink):
    """The simulated battery of demo mode, replaying real load and PV."""

    def __init__(self, demo: DemoSite) -> None:
        """Drive ``demo``."""
        super().__init__()
        self.demo = demo
        self._setpoint_kw = 0.0

    @property
    def name(self) -> str:
        """The simulator."""
        return "simulated battery"

    def readings(self, now: datetime) -> dict[str, Reading]:
        """Run the battery at the last setpoint until ``now`` and measure the site."""
        measured = self.demo.step(now, self._setpoint_kw)
        return {
            signal: Reading(value, now)
            for signal, value in measured_values(measured).items()
        }

    async def async_write(self, kw: float, soc_pct: float, battery: Battery) -> float:
        """Hold ``kw`` from now on."""
        self._setpoint_kw = kw
        return kw


class _SetpointWriter:
    """Sends the setpoint to a Home Assistant number entity or an MQTT topic."""

    def __init__(self, hass: HomeAssistant, config: Mapping[str, Any]) -> None:
        self.hass = hass
        self.target = config[CONF_SETPOINT_TARGET]
        self.entity_id: str | None = config.get(CONF_SETPOINT_ENTITY)
        self.topic: str | None = config.get(CONF_SETPOINT_TOPIC)
        # Some inverters count charging as positive: the setpoint is sent negated.
        self.sign = -1.0 if config[CONF_INVERT_SETPOINT] else 1.0

    async def async_write(self, kw: float) -> float:
        """Send ``kw`` and return what the target was given (within a number's own range)."""
        value_kw = self.sign * kw + 0.0
        if self.target == TARGET_NUMBER:
            return self.sign * await self._async_set_number(value_kw) + 0.0
        if self.target == TARGET_MQTT:
            payload = {
                "power_kw": round(value_kw, 4),
                "power_w": round(value_kw * 1000),
                "mode": "idle" if kw == 0 else "discharge" if kw > 0 else "charge",
            }
            if not self._mqtt_connected():
                # Published now, paho would queue the command and send it, stale, on reconnect.
                raise DeviceError(
                    f"MQTT {self.topic}: cannot publish the setpoint: not connected"
                )
            try:
                await mqtt.async_publish(
                    self.hass, str(self.topic), json.dumps(payload), qos=1
                )
            except HomeAssistantError as err:
                raise DeviceError(
                    f"MQTT {self.topic}: cannot publish the setpoint: {err}"
                ) from err
        return kw

    def _mqtt_connected(self) -> bool:
        try:
            return mqtt.is_connected(self.hass)
        except KeyError:
            # MQTT is not set up.
            return False

    async def _async_set_number(self, kw: float) -> float:
        """Set the number entity to ``kw`` within its own range; return the kW it was set to."""
        state = self.hass.states.get(str(self.entity_id))
        if state is None or state.state == STATE_UNAVAILABLE:
            raise DeviceError(f"{self.entity_id} is not available")
        unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) or UnitOfPower.KILO_WATT
        if unit not in PowerConverter.VALID_UNITS:
            raise DeviceError(f"{self.entity_id} is in {unit}, not a unit of power")
        value = PowerConverter.convert(kw, UnitOfPower.KILO_WATT, unit)
        # The entity's own range is a limit of the device as well.
        low = state.attributes.get("min")
        high = state.attributes.get("max")
        if isinstance(low, int | float):
            value = max(value, low)
        if isinstance(high, int | float):
            value = min(value, high)
        try:
            await self.hass.services.async_call(
                "number",
                "set_value",
                {"entity_id": self.entity_id, "value": value},
                blocking=True,
            )
        except (HomeAssistantError, ValueError) as err:
            raise DeviceError(f"{self.entity_id}: {err}") from err
        return float(PowerConverter.convert(value, unit, UnitOfPower.KILO_WATT))


class _HomeAssistantLink(DeviceLink):
    """A link through Home Assistant: one source per signal, the setpoint to a number or topic."""

    def __init__(
        self, hass: HomeAssistant, config: Mapping[str, Any], suffix: str
    ) -> None:
        """Take each signal's source from ``config``'s "<signal><suffix>" key."""
        super().__init__()
        self.hass = hass
        self.config = config
        self.sources: dict[str, str] = {
            signal: config[signal + suffix]
            for signal in SIGNALS
            if config.get(signal + suffix)
        }
        self.writer = _SetpointWriter(hass, config)

    @property
    def can_write(self) -> bool:
        """Whether a setpoint target is configured."""
        return self.writer.target in (TARGET_NUMBER, TARGET_MQTT)

    async def async_write(self, kw: float, soc_pct: float, battery: Battery) -> float:
        """Set the number entity or publish to the topic."""
        return await self.writer.async_write(kw)


class EntityLink(_HomeAssistantLink):
    """Measurements from Home Assistant entities (e.g. an inverter integration's sensors)."""

    def __init__(self, hass: HomeAssistant, config: Mapping[str, Any]) -> None:
        """Read the entities ``config`` names; write the setpoint where it says."""
        super().__init__(hass, config, ENTITY_SUFFIX)

    @property
    def name(self) -> str:
        """Home Assistant entities."""
        return "entities"

    def readings(self, now: datetime) -> dict[str, Reading]:
        """Read each entity's state now; a bad state keeps the last good value, which ages."""
        for signal, entity_id in self.sources.items():
            state = self.hass.states.get(entity_id)
            try:
                value = entity_value(signal, entity_id, state)
            except InvalidInputError as err:
                self._problem(signal, str(err))
                continue
            assert state is not None
            self._problem(signal, None)
            self._readings[signal] = Reading(
                _signed(self.config, signal, value),
                getattr(state, "last_reported", state.last_updated),
            )
        return dict(self._readings)


def entity_value(signal: str, entity_id: str, state: State | None) -> float:
    """Return an entity's value of ``signal`` in the engine's unit (percent or kW).

    Raises InvalidInputError naming the entity when it is missing, unavailable, not a number or
    not in a unit the signal can have.
    """
    if state is None:
        raise InvalidInputError(entity_id, "does not exist")
    if state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        raise InvalidInputError(entity_id, f"is {state.state}")
    try:
        value = float(state.state)
    except ValueError as err:
        raise InvalidInputError(entity_id, f"{state.state!r} is not a number") from err
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if signal == "soc":
        if unit not in (PERCENTAGE, None):
            raise InvalidInputError(entity_id, f"is in {unit}, not in %")
        return value
    if unit not in PowerConverter.VALID_UNITS:
        raise InvalidInputError(entity_id, f"is in {unit}, not a unit of power")
    return PowerConverter.convert(value, unit, UnitOfPower.KILO_WATT)


class MqttLink(_HomeAssistantLink):
    """Measurements from MQTT topics, through Home Assistant's MQTT integration."""

    def __init__(self, hass: HomeAssistant, config: Mapping[str, Any]) -> None:
        """Subscribe to the topics ``config`` names (on start)."""
        super().__init__(hass, config, TOPIC_SUFFIX)
        self._unsubscribe: list[CALLBACK_TYPE] = []

    @property
    def name(self) -> str:
        """MQTT."""
        return "MQTT"

    async def async_start(self) -> None:
        """Subscribe to every measurement topic; not ready while MQTT is not set up."""
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN, translation_key="mqtt_unavailable"
            )
        for signal, topic in self.sources.items():
            self._unsubscribe.append(
                await mqtt.async_subscribe(
                    self.hass, topic, self._receiver(signal), qos=1
                )
            )

    async def async_stop(self) -> None:
        """Unsubscribe."""
        while self._unsubscribe:
            self._unsubscribe.pop()()

    def _receiver(self, signal: str) -> Callable[[mqtt.ReceiveMessage], None]:
        @callback
        def received(message: mqtt.ReceiveMessage) -> None:
            try:
                value = mqtt_value(self.config, signal, message.payload)
            except InvalidInputError as err:
                self._problem(signal, f"{message.topic}: {err}")
                return
            self._problem(signal, None)
            if message.retain and signal in self._readings:
                # The broker replays a retained value on every (re)subscription: it says nothing
                # about whether the device still reports, so it does not renew the reading.
                return
            self._readings[signal] = Reading(value, dt_util.now())

        return received


class ModbusLink(DeviceLink):
    """A Modbus device, polled by its own coordinator each control interval."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        config: Mapping[str, Any],
        interval: timedelta,
    ) -> None:
        """Describe the device ``config`` names; nothing connects before start."""
        super().__init__()
        register_map = RegisterMap.from_dict(config[CONF_REGISTER_MAP])
        if config[CONF_INVERT_SETPOINT] and register_map.setpoint is not None:
            # The device counts charging as positive: its register holds the setpoint negated.
            spec = register_map.setpoint
            register_map = replace(
                register_map, setpoint=replace(spec, scale=-spec.scale)
            )
        self.device = ModbusDevice(
            params_from_dict(config[CONF_CONNECTION]),
            register_map,
            # A battery left in its fallback should be back under control within a minute.
            backoff=Backoff(maximum_s=RECONNECT_MAX_S),
        )
        self.coordinator: DataUpdateCoordinator[dict[str, float]] = (
            DataUpdateCoordinator(
                hass,
                LOGGER,
                config_entry=entry,
                name=str(self.device),
                update_interval=interval,
                update_method=self._async_read,
                always_update=False,
            )
        )
        self._writes: bool = config[CONF_SETPOINT_TARGET] == TARGET_MODBUS
        self._unsub_coordinator: CALLBACK_TYPE | None = None

    @property
    def name(self) -> str:
        """The device's address."""
        return str(self.device)

    @property
    def available(self) -> bool:
        """Whether the last poll reached the device."""
        return bool(self.coordinator.last_update_success)

    @property
    def can_write(self) -> bool:
        """Whether the register map's setpoint is written."""
        return self._writes

    async def async_start(self) -> None:
        """Read the device once (not ready while it does not answer), then poll it."""
        await self.coordinator.async_config_entry_first_refresh()
        # A listener keeps the coordinator polling; the control loop reads its readings.
        self._unsub_coordinator = self.coordinator.async_add_listener(lambda: None)

    async def async_stop(self) -> None:
        """Stop polling and disconnect."""
        if self._unsub_coordinator is not None:
            self._unsub_coordinator()
            self._unsub_coordinator = None
        await self.coordinator.async_shutdown()
        await self.device.close()

    async def _async_read(self) -> dict[str, float]:
        try:
            values = await self.device.read_all()
        except ModbusDeviceError as err:
            raise UpdateFailed(str(err)) from err
        now = dt_util.now()
        for signal, value in values.items():
            if signal in SIGNALS:
                self._readings[signal] = Reading(value, now)
        return values

    async def async_write(self, kw: float, soc_pct: float, battery: Battery) -> float:
        """Write the setpoint register and verify it by reading it back."""
        try:
            return await self.device.write_setpoint(
                kw, soc_pct=soc_pct, battery=battery
            )
        except ModbusDeviceError as err:
            raise DeviceError(str(err)) from err


def device_link(
    hass: HomeAssistant,
    entry: ConfigEntry,
    interval: timedelta,
    demo: DemoSite,
    live: bool,
) -> DeviceLink:
    """Return the link a site's entry describes (the demo battery outside live mode)."""
    if not live:
        return DemoLink(demo)
    config = device_config(entry.data)
    if config[CONF_TRANSPORT] == TRANSPORT_ENTITIES:
        return EntityLink(hass, config)
    if config[CONF_TRANSPORT] == TRANSPORT_MQTT:
        return MqttLink(hass, config)
    return ModbusLink(hass, entry, config, interval)


def measured_values(measured: Measurement) -> dict[str, float]:
    """Return the signals of a measurement by name, as links report them."""
    return {
        "soc": measured.soc_pct,
        "battery_power": measured.battery_kw,
        "grid_power": measured.grid_kw,
        "pv_power": measured.pv_kw,
        "load_power": measured.load_kw,
    }
