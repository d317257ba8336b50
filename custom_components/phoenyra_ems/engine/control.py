"""The control loop's decisions: which measurements are usable, what to command, when to fall back.

Pure functions over plain numbers, so the safety rules are tested without a device. The device
layer reads and writes; the coordinator applies these rules each control interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
import json
import math
from typing import TYPE_CHECKING, Any

from .model import InvalidInputError, Measurement
from .registers import SIGNALS

if TYPE_CHECKING:
    from datetime import datetime, timedelta

# The power signals of a site, in the order of the energy balance
# grid = load - pv - battery (engine sign conventions).
POWER_SIGNALS = ("battery_power", "grid_power", "pv_power", "load_power")


class Fallback(StrEnum):
    """What the battery does while the EMS cannot follow its plan."""

    # Hold the battery at zero power.
    IDLE = "idle"
    # Cover the site's own consumption from the battery and store its surplus, by rule.
    SELF_CONSUMPTION = "self_consumption"


@dataclass(frozen=True, slots=True)
class Reading:
    """The last good value of one signal and when the device reported it."""

    value: float
    time: datetime


def parse_payload(
    payload: str | bytes | bytearray, json_path: str | None = None
) -> float:
    """Return the number in an MQTT payload: the payload itself, or the value at a JSON path.

    ``json_path`` is a dotted path into a JSON document (``battery.soc``, ``values.0``); list
    items are addressed by their index. Raises InvalidInputError saying what is wrong.
    """
    text = (
        payload if isinstance(payload, str) else bytes(payload).decode(errors="replace")
    )
    if not json_path:
        value: Any = text.strip()
    else:
        try:
            value = json.loads(text)
        except ValueError as err:
            raise InvalidInputError("payload", f"is not JSON: {text[:60]!r}") from err
        for part in json_path.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                raise InvalidInputError(
                    "payload", f"has no {json_path!r}: {text[:60]!r}"
                )
    if isinstance(value, bool):
        raise InvalidInputError("payload", f"{value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise InvalidInputError("payload", f"{value!r} is not a number") from err
    if not math.isfinite(number):
        raise InvalidInputError("payload", f"{value!r} is not a number")
    return number


def fresh_values(
    readings: Mapping[str, Reading], now: datetime, max_age: timedelta
) -> dict[str, float]:
    """Return the values reported within ``max_age`` before ``now`` (later ones count as well)."""
    return {
        signal: reading.value
        for signal, reading in readings.items()
        if now - reading.time <= max_age
    }


def measurement(now: datetime, values: Mapping[str, float]) -> Measurement:
    """Build the site's measurement from its signals; one missing power follows from the balance.

    Needs the state of charge and three of the four powers. Raises InvalidInputError naming what
    is missing; the SoC must lie within 0-100 %.
    """
    missing = [signal for signal in SIGNALS if signal not in values]
    if "soc" in missing:
        raise InvalidInputError("soc", "no recent value")
    powers = [signal for signal in missing if signal in POWER_SIGNALS]
    if len(powers) > 1:
        raise InvalidInputError(", ".join(powers), "no recent values")
    soc = values["soc"]
    if not (math.isfinite(soc) and 0 <= soc <= 100):
        raise InvalidInputError("soc", f"{soc:g} % is outside 0-100 %")
    for signal in POWER_SIGNALS:
        if signal in values and not math.isfinite(values[signal]):
            raise InvalidInputError(signal, "is not a number")
    # grid = load - pv - battery, solved for the one that is missing.
    known = {signal: values[signal] for signal in POWER_SIGNALS if signal in values}
    balance = known.get("load_power", 0.0) - known.get("pv_power", 0.0)
    balance -= known.get("battery_power", 0.0) + known.get("grid_power", 0.0)
    # The missing power closes the balance; load is the only term on the other side.
    sides = {
        "battery_power": 1.0,
        "grid_power": 1.0,
        "pv_power": 1.0,
        "load_power": -1.0,
    }
    for signal in powers:
        known[signal] = sides[signal] * balance
    return Measurement(
        time=now,
        soc_pct=soc,
        battery_kw=known["battery_power"],
        grid_kw=known["grid_power"],
        pv_kw=known["pv_power"],
        load_kw=known["load_power"],
    )


def self_consumption_kw(measured: Measurement) -> float:
    """Battery power that brings the grid exchange to zero: the site's net load without the battery.

    Positive (discharge) while the site consumes more than its PV delivers, negative (charge) from
    a surplus. Uses the grid meter and the battery's own power, so it works without a load or PV
    measurement.
    """
    return measured.grid_kw + measured.battery_kw
