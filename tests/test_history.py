"""get_history: the site's sensors from the recorder's statistics, and its runs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.phoenyra_ems.const import DOMAIN

from .test_init import SOC, advance, value

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.components.recorder import Recorder
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry


@pytest.fixture
async def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """Prepare the recorder's database before Home Assistant starts."""


@pytest.fixture
async def recorded_site(
    recorder_mock: Recorder, init_integration: MockConfigEntry
) -> MockConfigEntry:
    """The demo site with the recorder running."""
    return init_integration


async def test_history_holds_the_recorded_sensors_and_runs(
    hass: HomeAssistant,
    recorded_site: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    # Twenty minutes of control ticks, then the recorder's 5-minute statistics of them.
    await advance(hass, freezer, 1200)
    await async_wait_recording_done(hass)
    for minute in (0, 5, 10, 15):
        do_adhoc_statistics(
            hass, start=datetime.fromisoformat(f"2026-05-12T10:{minute:02d}:00+00:00")
        )
    await async_wait_recording_done(hass)

    response: dict[str, Any] = await hass.services.async_call(
        DOMAIN,
        "get_history",
        {"config_entry_id": recorded_site.entry_id, "hours": 1},
        blocking=True,
        return_response=True,
    )
    assert response["period"] == "5minute"
    assert response["entities"]["state_of_charge"] == SOC
    soc = response["sensors"]["state_of_charge"]
    assert len(soc) == 4
    # Recorded means of a battery that started at 50 % and moves at most 5 kW (4.2 % in 5 minutes).
    assert soc[0]["mean"] == pytest.approx(50.0, abs=4.2)
    assert all(10 <= row["mean"] <= 90 for row in soc)
    assert soc[-1]["mean"] == pytest.approx(value(hass, SOC), abs=4.2)
    assert len(response["sensors"]["battery_power"]) == 4
    # The setup run and one after each full 15 minutes.
    assert [run["status"] for run in response["optimizations"]] == ["optimal"] * 2
