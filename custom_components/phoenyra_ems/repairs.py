"""Repair issues of Phoenyra EMS for misconfiguration the user has to fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.core import callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant


def _missing_id(entry: ConfigEntry, source: str) -> str:
    return f"missing_source_{entry.entry_id}_{source}"


@callback
def async_source_missing(
    hass: HomeAssistant, entry: ConfigEntry, source: str, role: str
) -> None:
    """Raise a repair issue: the site uses ``source`` (an entity or entry) as ``role``, and it is gone."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        _missing_id(entry, source),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="missing_source",
        translation_placeholders={"site": entry.title, "source": source, "role": role},
    )


@callback
def async_source_found(hass: HomeAssistant, entry: ConfigEntry, source: str) -> None:
    """Withdraw the repair issue of a source that is there again."""
    ir.async_delete_issue(hass, DOMAIN, _missing_id(entry, source))
