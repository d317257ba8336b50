"""Forms and checks of a live site's device: the config flow's steps per transport.

Each transport has a form (schema, filled with stored or typed values) and a check that tries the
real thing before anything is saved: entities are read, MQTT topics are listened to, the Modbus
register map is read once. The checks return field errors and what they read.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.components.number import DOMAIN as NUMBER_DOMAIN
from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
import voluptuous as vol

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
    CONF_WRITE_DEADBAND_KW,
    CONF_WRITE_MIN_SECONDS,
    DEFAULT_DEVICE,
    ENTITY_SUFFIX,
    JSON_PATH_SUFFIX,
    TARGET_MODBUS,
    TARGET_MQTT,
    TARGET_NONE,
    TARGET_NUMBER,
    TOPIC_SUFFIX,
    TRANSPORT_ENTITIES,
    TRANSPORT_MODBUS,
    TRANSPORT_MQTT,
)
from .device import entity_value, mqtt_value
from .engine.control import POWER_SIGNALS
from .engine.model import InvalidInputError
from .engine.registers import (
    DEFAULT_REGISTER_MAP,
    SETPOINT,
    SIGNALS,
    DataType,
    Endian,
    RegisterMap,
    RegisterType,
)
from .sources.modbus import ModbusDeviceError, params_from_dict, test_connection

if TYPE_CHECKING:
    from collections.abc import Mapping

# How long the MQTT check listens for the topics' first messages (retained ones arrive at once).
MQTT_TEST_SECONDS = 10.0
# Units of each signal as the forms show them.
_UNITS = {"soc": "%"}
CONF_PROTOCOL = "protocol"
CONF_HOST = "host"
CONF_PORT = "port"
CONF_SERIAL_PORT = "serial_port"
CONF_BAUDRATE = "baudrate"
CONF_PARITY = "parity"
CONF_STOPBITS = "stopbits"
CONF_BYTESIZE = "bytesize"
CONF_TIMEOUT = "timeout_s"
CONF_UNIT_ID = "unit_id"
CONF_WORD_ORDER = "word_order"
CONF_BYTE_ORDER = "byte_order"
CONF_ADDRESS = "address"
CONF_REGISTER_TYPE = "register_type"
CONF_DATA_TYPE = "data_type"
CONF_SCALE = "scale"
PROTOCOL_TCP = "tcp"
PROTOCOL_RTU = "rtu"


def number_selector(
    minimum: float, maximum: float, step: float, unit: str | None = None
) -> NumberSelector:
    """Return a number box from ``minimum`` to ``maximum`` in ``step``s, with its unit."""
    config = NumberSelectorConfig(
        min=minimum, max=maximum, step=step, mode=NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def choice_selector(options: list[str], key: str) -> SelectSelector:
    """Return a dropdown of ``options``, labelled by the selector translations of ``key``."""
    return SelectSelector(
        SelectSelectorConfig(
            options=options, translation_key=key, mode=SelectSelectorMode.DROPDOWN
        )
    )


def _optional(key: str, values: Mapping[str, Any]) -> vol.Optional:
    """Return an optional field that shows its stored value without forcing it as default."""
    return vol.Optional(key, description={"suggested_value": values.get(key)})


def format_values(values: Mapping[str, float]) -> str:
    """Show what a check read, one signal per line, for the form's description."""
    return "\n".join(
        f"- {name}: {value:.3f} {_UNITS.get(name, 'kW')}"
        for name, value in values.items()
    )


# The device step: transport, setpoint target and the write policy.


def device_schema(values: Mapping[str, Any]) -> vol.Schema:
    """Where measurements come from and where the setpoint goes."""
    device = {**DEFAULT_DEVICE, CONF_TRANSPORT: TRANSPORT_ENTITIES, **values}
    return vol.Schema(
        {
            vol.Required(
                CONF_TRANSPORT, default=device[CONF_TRANSPORT]
            ): choice_selector(
                [TRANSPORT_ENTITIES, TRANSPORT_MQTT, TRANSPORT_MODBUS], CONF_TRANSPORT
            ),
            vol.Required(
                CONF_SETPOINT_TARGET, default=device[CONF_SETPOINT_TARGET]
            ): choice_selector(
                [TARGET_NONE, TARGET_NUMBER, TARGET_MQTT, TARGET_MODBUS],
                CONF_SETPOINT_TARGET,
            ),
            _optional(CONF_SETPOINT_ENTITY, device): EntitySelector(
                EntitySelectorConfig(domain=NUMBER_DOMAIN)
            ),
            vol.Required(
                CONF_INVERT_SETPOINT, default=device[CONF_INVERT_SETPOINT]
            ): BooleanSelector(),
            vol.Required(
                CONF_WRITE_DEADBAND_KW, default=device[CONF_WRITE_DEADBAND_KW]
            ): number_selector(0, 100, 0.01, "kW"),
            vol.Required(
                CONF_WRITE_MIN_SECONDS, default=device[CONF_WRITE_MIN_SECONDS]
            ): number_selector(0, 3600, 1, "s"),
        }
    )


def validate_device(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> dict[str, str]:
    """Field errors of the device step: a setpoint target the transport can reach."""
    target = user_input[CONF_SETPOINT_TARGET]
    transport = user_input[CONF_TRANSPORT]
    if target == TARGET_NUMBER:
        entity_id = user_input.get(CONF_SETPOINT_ENTITY)
        if not entity_id:
            return {CONF_SETPOINT_ENTITY: "setpoint_entity_required"}
        if hass.states.get(entity_id) is None:
            return {CONF_SETPOINT_ENTITY: "entity_missing"}
    if target == TARGET_MQTT and transport != TRANSPORT_MQTT:
        return {CONF_SETPOINT_TARGET: "target_needs_mqtt"}
    if target == TARGET_MODBUS and transport != TRANSPORT_MODBUS:
        return {CONF_SETPOINT_TARGET: "target_needs_modbus"}
    return {}


def _power_signs(values: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    device = {**DEFAULT_DEVICE, **values}
    return {
        vol.Required(
            CONF_INVERT_BATTERY_POWER, default=device[CONF_INVERT_BATTERY_POWER]
        ): BooleanSelector(),
        vol.Required(
            CONF_INVERT_GRID_POWER, default=device[CONF_INVERT_GRID_POWER]
        ): BooleanSelector(),
    }


def _require_three_powers(configured: set[str]) -> dict[str, str]:
    """Require three of the four powers: the energy balance gives one missing power, not two."""
    if len(configured & set(POWER_SIGNALS)) < len(POWER_SIGNALS) - 1:
        return {"base": "three_powers_required"}
    return {}


# Entities.


def entities_schema(values: Mapping[str, Any]) -> vol.Schema:
    """One sensor per measured signal; the state of charge is required."""
    fields: dict[vol.Marker, Any] = {}
    for signal in SIGNALS:
        key = signal + ENTITY_SUFFIX
        marker = (
            vol.Required(key, description={"suggested_value": values.get(key)})
            if signal == "soc"
            else _optional(key, values)
        )
        fields[marker] = EntitySelector(EntitySelectorConfig(domain=SENSOR_DOMAIN))
    return vol.Schema({**fields, **_power_signs(values)})


def validate_entities(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, float], str]:
    """Read each chosen entity now: field errors, the values read and what went wrong."""
    errors: dict[str, str] = {}
    values: dict[str, float] = {}
    problems: list[str] = []
    for signal in SIGNALS:
        entity_id = user_input.get(signal + ENTITY_SUFFIX)
        if not entity_id:
            continue
        try:
            values[signal] = entity_value(signal, entity_id, hass.states.get(entity_id))
        except InvalidInputError as err:
            errors[signal + ENTITY_SUFFIX] = "entity_unreadable"
            problems.append(str(err))
    return (
        errors or _require_three_powers(set(values)),
        values,
        "; ".join(problems),
    )


# MQTT.


def mqtt_schema(values: Mapping[str, Any], with_setpoint: bool) -> vol.Schema:
    """Return the MQTT form: topic and JSON path per signal, unit of powers, setpoint topic."""
    device = {**DEFAULT_DEVICE, **values}
    fields: dict[vol.Marker, Any] = {}
    for signal in SIGNALS:
        topic = signal + TOPIC_SUFFIX
        fields[
            vol.Required(topic, description={"suggested_value": values.get(topic)})
            if signal == "soc"
            else _optional(topic, values)
        ] = TextSelector()
        fields[_optional(signal + JSON_PATH_SUFFIX, values)] = TextSelector()
    fields[vol.Required(CONF_POWER_UNIT, default=device[CONF_POWER_UNIT])] = (
        choice_selector(["W", "kW"], CONF_POWER_UNIT)
    )
    if with_setpoint:
        fields[
            vol.Required(
                CONF_SETPOINT_TOPIC,
                description={"suggested_value": values.get(CONF_SETPOINT_TOPIC)},
            )
        ] = TextSelector()
    return vol.Schema({**fields, **_power_signs(values)})


async def async_test_mqtt(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, float], str]:
    """Listen to the topics for their first messages: field errors, values read, problems.

    The state of charge must arrive and parse; other topics that stay silent are reported, not
    refused (a device may publish them only on change).
    """
    errors: dict[str, str] = {}
    topics = {
        signal: user_input[signal + TOPIC_SUFFIX]
        for signal in SIGNALS
        if user_input.get(signal + TOPIC_SUFFIX)
    }
    for signal, topic in topics.items():
        try:
            mqtt.valid_subscribe_topic(topic)
        except vol.Invalid:
            errors[signal + TOPIC_SUFFIX] = "invalid_topic"
    if setpoint_topic := user_input.get(CONF_SETPOINT_TOPIC):
        try:
            mqtt.valid_publish_topic(setpoint_topic)
        except vol.Invalid:
            errors[CONF_SETPOINT_TOPIC] = "invalid_topic"
    if errors:
        return errors, {}, ""
    if errors := _require_three_powers(set(topics)):
        return errors, {}, ""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        return {"base": "mqtt_unavailable"}, {}, ""
    values: dict[str, float] = {}
    problems: dict[str, str] = {}
    arrived = asyncio.Event()

    # Shown as the EMS will read them: powers in kW, signs as the options say.
    config = {**DEFAULT_DEVICE, **user_input}

    def receiver(signal: str) -> Any:
        @callback
        def received(message: mqtt.ReceiveMessage) -> None:
            try:
                values[signal] = mqtt_value(config, signal, message.payload)
            except InvalidInputError as err:
                problems[signal] = f"{message.topic}: {err}"
            else:
                problems.pop(signal, None)
            if set(values) | set(problems) >= set(topics):
                arrived.set()

        return received

    unsubscribe = [
        await mqtt.async_subscribe(hass, topic, receiver(signal))
        for signal, topic in topics.items()
    ]
    try:
        async with asyncio.timeout(MQTT_TEST_SECONDS):
            await arrived.wait()
    except TimeoutError:
        pass
    finally:
        for unsub in unsubscribe:
            unsub()
    if "soc" not in values:
        # Decided before the silent topics join the problems.
        errors["soc" + TOPIC_SUFFIX] = (
            "topic_unreadable" if "soc" in problems else "topic_silent"
        )
    for signal, topic in topics.items():
        if signal not in values and signal not in problems:
            problems[signal] = f"{topic}: no message within {MQTT_TEST_SECONDS:g} s"
    return errors, values, "; ".join(problems.values())


# Modbus.


def modbus_schema(values: Mapping[str, Any]) -> vol.Schema:
    """How the device is reached: TCP host and port, or a serial port; unit id and byte orders."""
    connection = values.get(CONF_CONNECTION, {})
    any_spec: Mapping[str, Any] = next(
        iter(values.get(CONF_REGISTER_MAP, {}).values()), {}
    )
    defaults = {
        CONF_PROTOCOL: connection.get(CONF_TRANSPORT, PROTOCOL_TCP),
        CONF_HOST: connection.get(CONF_HOST)
        if connection.get(CONF_TRANSPORT) == PROTOCOL_TCP
        else None,
        CONF_PORT: connection.get(CONF_PORT, 502)
        if connection.get(CONF_TRANSPORT, PROTOCOL_TCP) == PROTOCOL_TCP
        else 502,
        CONF_SERIAL_PORT: connection.get(CONF_PORT)
        if connection.get(CONF_TRANSPORT) == PROTOCOL_RTU
        else None,
        CONF_BAUDRATE: connection.get(CONF_BAUDRATE, 9600),
        CONF_PARITY: connection.get(CONF_PARITY, "N"),
        CONF_STOPBITS: connection.get(CONF_STOPBITS, 1),
        CONF_BYTESIZE: connection.get(CONF_BYTESIZE, 8),
        CONF_TIMEOUT: connection.get(CONF_TIMEOUT, 3.0),
        CONF_UNIT_ID: any_spec.get(CONF_UNIT_ID, 1),
        CONF_WORD_ORDER: any_spec.get(CONF_WORD_ORDER, Endian.BIG.value),
        CONF_BYTE_ORDER: any_spec.get(CONF_BYTE_ORDER, Endian.BIG.value),
        **values,
    }

    def default(key: str) -> vol.Required:
        return vol.Required(key, default=defaults[key])

    endians = [endian.value for endian in Endian]
    return vol.Schema(
        {
            default(CONF_PROTOCOL): choice_selector(
                [PROTOCOL_TCP, PROTOCOL_RTU], CONF_PROTOCOL
            ),
            _optional(CONF_HOST, defaults): TextSelector(),
            default(CONF_PORT): number_selector(1, 65535, 1),
            _optional(CONF_SERIAL_PORT, defaults): TextSelector(),
            default(CONF_BAUDRATE): number_selector(300, 1000000, 1, "Bd"),
            default(CONF_PARITY): choice_selector(["N", "E", "O"], CONF_PARITY),
            default(CONF_STOPBITS): number_selector(1, 2, 1),
            default(CONF_BYTESIZE): number_selector(5, 8, 1),
            default(CONF_TIMEOUT): number_selector(0.1, 60, 0.1, "s"),
            default(CONF_UNIT_ID): number_selector(0, 255, 1),
            default(CONF_WORD_ORDER): choice_selector(endians, CONF_WORD_ORDER),
            default(CONF_BYTE_ORDER): choice_selector(endians, CONF_BYTE_ORDER),
        }
    )


def modbus_connection(
    user_input: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the stored connection settings of the Modbus step, and its field errors."""
    if user_input[CONF_PROTOCOL] == PROTOCOL_TCP:
        connection: dict[str, Any] = {
            CONF_TRANSPORT: PROTOCOL_TCP,
            CONF_HOST: (user_input.get(CONF_HOST) or "").strip(),
            CONF_PORT: int(user_input[CONF_PORT]),
            CONF_TIMEOUT: float(user_input[CONF_TIMEOUT]),
        }
        required = CONF_HOST
    else:
        connection = {
            CONF_TRANSPORT: PROTOCOL_RTU,
            CONF_PORT: (user_input.get(CONF_SERIAL_PORT) or "").strip(),
            CONF_BAUDRATE: int(user_input[CONF_BAUDRATE]),
            CONF_PARITY: user_input[CONF_PARITY],
            CONF_STOPBITS: int(user_input[CONF_STOPBITS]),
            CONF_BYTESIZE: int(user_input[CONF_BYTESIZE]),
            CONF_TIMEOUT: float(user_input[CONF_TIMEOUT]),
        }
        required = CONF_SERIAL_PORT
    try:
        params_from_dict(connection)
    except InvalidInputError as err:
        # The serial port is stored as "port", and shown as its own field.
        field = (
            required
            if err.field == CONF_PORT and required == CONF_SERIAL_PORT
            else err.field
        )
        return connection, {field: "invalid_connection"}
    return connection, {}


def registers_schema(values: Mapping[str, Any]) -> vol.Schema:
    """One section per map entry: address (empty: not read), register type, data type, scale."""
    stored = values.get(CONF_REGISTER_MAP) or DEFAULT_REGISTER_MAP.to_dict()
    fields: dict[vol.Marker, Any] = {}
    for name in (*SIGNALS, SETPOINT):
        spec = stored.get(name, {})
        register_types = (
            [RegisterType.HOLDING.value]
            if name == SETPOINT
            else [kind.value for kind in RegisterType]
        )
        fields[vol.Required(name)] = section(
            vol.Schema(
                {
                    _optional(CONF_ADDRESS, spec): number_selector(0, 65535, 1),
                    vol.Required(
                        CONF_REGISTER_TYPE,
                        default=spec.get(CONF_REGISTER_TYPE, register_types[0]),
                    ): choice_selector(register_types, CONF_REGISTER_TYPE),
                    vol.Required(
                        CONF_DATA_TYPE,
                        default=spec.get(CONF_DATA_TYPE, DataType.INT16.value),
                    ): choice_selector(
                        [kind.value for kind in DataType], CONF_DATA_TYPE
                    ),
                    vol.Required(
                        CONF_SCALE, default=spec.get(CONF_SCALE, 1.0)
                    ): vol.Coerce(float),
                }
            ),
            {"collapsed": name not in stored},
        )
    return vol.Schema(fields)


def register_map(
    user_input: Mapping[str, Any], modbus: Mapping[str, Any], writes_setpoint: bool
) -> tuple[dict[str, Any], dict[str, str], str]:
    """Return the register map of the registers step, its field errors and what is wrong.

    Unit id and word and byte order come from the Modbus step and apply to every entry; the
    setpoint register is required when the setpoint is written over Modbus.
    """
    entries: dict[str, Any] = {}
    for name in (*SIGNALS, SETPOINT):
        spec = user_input[name]
        if spec.get(CONF_ADDRESS) is None:
            continue
        entries[name] = {
            CONF_ADDRESS: int(spec[CONF_ADDRESS]),
            CONF_REGISTER_TYPE: spec[CONF_REGISTER_TYPE],
            CONF_DATA_TYPE: spec[CONF_DATA_TYPE],
            CONF_SCALE: float(spec[CONF_SCALE]),
            CONF_UNIT_ID: int(modbus[CONF_UNIT_ID]),
            CONF_WORD_ORDER: modbus[CONF_WORD_ORDER],
            CONF_BYTE_ORDER: modbus[CONF_BYTE_ORDER],
        }
    if "soc" not in entries:
        return entries, {"soc": "register_required"}, ""
    if writes_setpoint and SETPOINT not in entries:
        return entries, {SETPOINT: "register_required"}, ""
    if errors := _require_three_powers(set(entries)):
        return entries, errors, ""
    try:
        RegisterMap.from_dict(entries)
    except InvalidInputError as err:
        return entries, {err.field.split(".")[0]: "invalid_register"}, str(err)
    return entries, {}, ""


async def async_test_modbus(
    connection: Mapping[str, Any], entries: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, float], str]:
    """Read the whole register map once: errors, the values read and what went wrong."""
    try:
        values = await test_connection(
            params_from_dict(connection), RegisterMap.from_dict(entries)
        )
    except ModbusDeviceError as err:
        return {"base": f"modbus_{err.reason.value}"}, {}, str(err)
    return {}, values, ""
