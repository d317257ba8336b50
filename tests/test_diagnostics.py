"""Diagnostics: everything that explains a site, nothing secret.

The platform function is called directly: through the HTTP view, Home Assistant's system info
compiles dataclasses under the frozen test clock and fails (a test-only clash of freezegun and
mashumaro).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.diagnostics import REDACTED
import pytest
from syrupy.filters import props

from custom_components.phoenyra_ems.diagnostics import (
    async_get_config_entry_diagnostics,
)

from .test_init import advance

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry
    from syrupy.assertion import SnapshotAssertion


async def test_diagnostics(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    await advance(hass, freezer, 60)
    diagnostics = await async_get_config_entry_diagnostics(hass, init_integration)
    # Solve times, whether cvxpy is on this machine, and the solver's numbers (HiGHS versions
    # differ between tracks and may pick another of equally good plans) are left out.
    assert diagnostics == snapshot(
        exclude=props(
            "solve_time_ms",
            "solve_ms",
            "cvxpy_available",
            "engine",
            "slots",
            "kpi",
            "state",
            "strategy_costs_eur",
            "expected_profit_eur",
            "reason",
            "strategy",
        )
    )
    assert diagnostics["plan"]["slot_count"] == 192
    assert len(diagnostics["plan"]["slots"]) == 8
    assert diagnostics["kpi"]["total"]["hours"] == pytest.approx(60 / 3600)
    assert diagnostics["state"]["soc_pct"] == pytest.approx(
        init_integration.runtime_data.ems.measurement.soc_pct, abs=1e-3
    )


async def test_secrets_and_location_are_redacted(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
) -> None:
    hass.config_entries.async_update_entry(
        init_integration,
        data={
            **init_integration.data,
            "mqtt": {"username": "me", "password": "secret"},
            "modbus": {"host": "192.168.1.20"},
            "pv_array": {"latitude": 48.2, "longitude": 16.4},
        },
    )
    diagnostics = await async_get_config_entry_diagnostics(hass, init_integration)
    text = str(diagnostics)
    for secret in ("secret", "192.168.1.20", "48.2", "16.4", "'me'"):
        assert secret not in text
    assert diagnostics["entry"]["data"]["mqtt"]["password"] == REDACTED
    assert diagnostics["entry"]["title"] == "Test site"
