"""Fixtures shared by the integration's tests."""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.phoenyra_ems.const import (
    CONF_MODE,
    CONF_SITE_NAME,
    DEFAULT_BATTERY,
    DEFAULT_GRID,
    DEFAULT_TARIFF,
    DOMAIN,
    MODE_DEMO,
    SECTION_BATTERY,
    SECTION_GRID,
    SECTION_TARIFF,
)

# Prophet (pandas under it) must not be imported for the first time inside a test: after a first
# import under Home Assistant's test clock, which replaces the datetime class, Prophet fails on real
# datetimes in every later test ("Cannot convert datetime.datetime to HAFakeDatetime"). Imported here,
# before any test.
with contextlib.suppress(ImportError):
    import prophet  # noqa: F401

# A real mosquitto broker and Home Assistant's real MQTT integration on it, for every test module.
from .mqtt_broker import mosquitto, mqtt_entry  # noqa: F401

if TYPE_CHECKING:
    from collections.abc import Generator

    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant

SITE_NAME = "Test site"


def site_input(name: str = SITE_NAME, **sections: dict[str, Any]) -> dict[str, Any]:
    """User input of the config flow's first step, with section values overridden by ``sections``."""
    return {
        CONF_SITE_NAME: name,
        CONF_MODE: MODE_DEMO,
        SECTION_BATTERY: {**DEFAULT_BATTERY, **sections.get(SECTION_BATTERY, {})},
        SECTION_GRID: {**DEFAULT_GRID, **sections.get(SECTION_GRID, {})},
        SECTION_TARIFF: {**DEFAULT_TARIFF, **sections.get(SECTION_TARIFF, {})},
    }


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None,
) -> Generator[None]:
    """Load the integration from custom_components in every test."""
    return


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """A demo site's config entry."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=SITE_NAME,
        unique_id="test_site",
        data=copy.deepcopy(site_input()),
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """Set up the demo site at a fixed moment (a Tuesday noon in Vienna)."""
    await hass.config.async_set_time_zone("Europe/Vienna")
    freezer.move_to("2026-05-12T10:00:00+00:00")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry
