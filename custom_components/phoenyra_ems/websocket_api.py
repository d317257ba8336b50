"""Websocket commands of Phoenyra EMS, for its panel and cards: the same reports as the actions, live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import websocket_api
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.dispatcher import (
    async_dispatcher_connect,
    async_dispatcher_send,
)
import voluptuous as vol

from .config_flow import (
    async_solar_forecast_choices,
    async_validate_options,
    async_validate_site,
    options_schema,
    site_schema,
)
from .const import (
    DOMAIN,
    SECTION_BATTERY,
    SECTION_EMS,
    SECTION_FORECASTS,
    SECTION_GRID,
    SECTION_STRATEGIES,
    SECTION_TARIFF,
)
from .coordinator import ems_options, strategy_options
from .forecasts import forecast_options
from .reports import (
    MAX_ANALYTICS_DAYS,
    MAX_HISTORY_HOURS,
    analytics_report,
    async_forecast_report,
    async_history_report,
    device_report,
    plan_report,
    state_report,
)
from .services import (
    ATTR_DAYS,
    ATTR_HOURS,
    ATTR_STRATEGY,
    check_range,
    check_strategy,
    site,
    site_entry,
)

# How Home Assistant turns a form's schema into the list its frontend renders: probatio (which stands
# in for voluptuous) from 2026, voluptuous_serialize before.
try:
    from probatio import to_field_list as serialize_schema
except ImportError:
    from voluptuous_serialize import convert as serialize_schema

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.components.websocket_api import ActiveConnection
    from homeassistant.config_entries import ConfigEntry

    from .coordinator import EmsCoordinator

ATTR_ENTRY_ID = "entry_id"
# Sent when a site unloads (formatted with its entry id): its subscriptions end.
SIGNAL_SITE_UNLOADED = f"{DOMAIN}_site_unloaded_{{}}"
ATTR_ALTERNATIVES = "alternatives"
_ENTRY: dict[str | vol.Marker, Any] = {vol.Required(ATTR_ENTRY_ID): str}


@callback
def async_setup_websocket(hass: HomeAssistant) -> None:
    """Register the commands (once, for all sites)."""
    for command in (
        ws_sites,
        ws_state,
        ws_plan,
        ws_forecast,
        ws_history,
        ws_analytics,
        ws_subscribe,
        ws_set_strategy,
        ws_optimize_now,
        ws_settings,
        ws_settings_update,
    ):
        websocket_api.async_register_command(hass, command)


@callback
def async_site_unloaded(hass: HomeAssistant, entry_id: str) -> None:
    """End the subscriptions of a site that unloaded."""
    async_dispatcher_send(hass, SIGNAL_SITE_UNLOADED.format(entry_id))


def _answer(
    connection: ActiveConnection, msg_id: int, build: Callable[[], Any]
) -> None:
    """Send what ``build`` returns, or the translated error it raises."""
    try:
        result = build()
    except HomeAssistantError as err:
        connection.send_error(msg_id, "invalid_request", str(err))
        return
    connection.send_result(msg_id, result)


@websocket_api.websocket_command({vol.Required("type"): f"{DOMAIN}/sites"})
@callback
def ws_sites(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """List the loaded sites."""
    connection.send_result(
        msg["id"],
        [
            {"entry_id": entry.entry_id, "title": entry.title}
            for entry in hass.config_entries.async_loaded_entries(DOMAIN)
        ],
    )


@websocket_api.websocket_command({vol.Required("type"): f"{DOMAIN}/state", **_ENTRY})
@callback
def ws_state(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Answer with the site's state."""
    _answer(connection, msg["id"], lambda: state_report(site(hass, msg[ATTR_ENTRY_ID])))


@websocket_api.websocket_command({vol.Required("type"): f"{DOMAIN}/plan", **_ENTRY})
@callback
def ws_plan(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Answer with the site's plan."""
    _answer(connection, msg["id"], lambda: plan_report(site(hass, msg[ATTR_ENTRY_ID])))


@websocket_api.websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/forecast",
        **_ENTRY,
        vol.Optional(ATTR_ALTERNATIVES, default=False): bool,
    }
)
@websocket_api.async_response
async def ws_forecast(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Answer with the forecasts of the site's plan; with ``alternatives``, every other one too."""
    try:
        coordinator = site(hass, msg[ATTR_ENTRY_ID])
    except HomeAssistantError as err:
        connection.send_error(msg["id"], "invalid_request", str(err))
        return
    connection.send_result(
        msg["id"],
        await async_forecast_report(coordinator, alternatives=msg[ATTR_ALTERNATIVES]),
    )


@websocket_api.websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/history",
        **_ENTRY,
        vol.Optional(ATTR_HOURS, default=24): int,
    }
)
@websocket_api.async_response
async def ws_history(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Answer with the site's recent sensor history and runs."""
    try:
        coordinator = site(hass, msg[ATTR_ENTRY_ID])
        check_range(ATTR_HOURS, msg[ATTR_HOURS], MAX_HISTORY_HOURS)
    except HomeAssistantError as err:
        connection.send_error(msg["id"], "invalid_request", str(err))
        return
    connection.send_result(
        msg["id"], await async_history_report(hass, coordinator, msg[ATTR_HOURS])
    )


def _analytics(hass: HomeAssistant, entry_id: str, days: int) -> dict[str, Any]:
    coordinator = site(hass, entry_id)
    check_range(ATTR_DAYS, days, MAX_ANALYTICS_DAYS)
    return analytics_report(coordinator, days)


@websocket_api.websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/analytics",
        **_ENTRY,
        vol.Optional(ATTR_DAYS, default=30): int,
    }
)
@callback
def ws_analytics(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Answer with the site's daily figures over the last days."""
    _answer(
        connection,
        msg["id"],
        lambda: _analytics(hass, msg[ATTR_ENTRY_ID], msg[ATTR_DAYS]),
    )


@websocket_api.websocket_command(
    {vol.Required("type"): f"{DOMAIN}/subscribe", **_ENTRY}
)
@callback
def ws_subscribe(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Send the site's state on every update, and its plan whenever a new one is made.

    When the site unloads (a restart with new settings, or its removal) the subscription ends with
    an event ``{"ended": "site_unloaded"}``: the panel subscribes again once the site is back.
    """
    try:
        coordinator: EmsCoordinator = site(hass, msg[ATTR_ENTRY_ID])
    except HomeAssistantError as err:
        connection.send_error(msg["id"], "invalid_request", str(err))
        return
    sent_plan: list[object] = [None]

    @callback
    def forward() -> None:
        event: dict[str, Any] = {"state": state_report(coordinator)}
        # The plan is a few hundred slots: sent only when it changed, not every control tick.
        current = (coordinator.data, coordinator.last_update_success)
        if current != sent_plan[0]:
            sent_plan[0] = current
            event["plan"] = plan_report(coordinator)
        connection.send_message(websocket_api.event_message(msg["id"], event))

    stops = [coordinator.async_add_listener(forward)]

    @callback
    def unsubscribe() -> None:
        # Once: when the site ended it, and again when the client unsubscribes.
        while stops:
            stops.pop()()

    @callback
    def ended() -> None:
        unsubscribe()
        # The subscription stays registered (inert) so that the client's unsubscribe succeeds.
        connection.send_message(
            websocket_api.event_message(msg["id"], {"ended": "site_unloaded"})
        )

    stops.append(
        async_dispatcher_connect(
            hass, SIGNAL_SITE_UNLOADED.format(msg[ATTR_ENTRY_ID]), ended
        )
    )

    connection.subscriptions[msg["id"]] = unsubscribe
    connection.send_result(msg["id"])
    forward()


@websocket_api.websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/set_strategy",
        **_ENTRY,
        vol.Required(ATTR_STRATEGY): str,
    }
)
@websocket_api.require_admin
@websocket_api.async_response
async def ws_set_strategy(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Follow a strategy, or automatic selection."""
    try:
        coordinator = site(hass, msg[ATTR_ENTRY_ID])
        choice = check_strategy(msg[ATTR_STRATEGY])
    except HomeAssistantError as err:
        connection.send_error(msg["id"], "invalid_request", str(err))
        return
    await coordinator.async_set_strategy(choice)
    connection.send_result(msg["id"])


@websocket_api.websocket_command(
    {vol.Required("type"): f"{DOMAIN}/optimize_now", **_ENTRY}
)
@websocket_api.require_admin
@websocket_api.async_response
async def ws_optimize_now(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Plan now."""
    try:
        coordinator = site(hass, msg[ATTR_ENTRY_ID])
    except HomeAssistantError as err:
        connection.send_error(msg["id"], "invalid_request", str(err))
        return
    await coordinator.async_refresh()
    connection.send_result(msg["id"])


# The site's own data (battery, grid connection, tariff: what Reconfigure changes) is edited in the same
# form as its options; these sections go to the entry's data, the others to its options.
SITE_SECTIONS = (SECTION_BATTERY, SECTION_GRID, SECTION_TARIFF)


async def _settings_schema(hass: HomeAssistant, entry: ConfigEntry) -> vol.Schema:
    """Return the settings form: the site's data sections, then the options flow's."""
    options = options_schema(entry.options, await async_solar_forecast_choices(hass))
    return vol.Schema({**site_schema(entry.data), **options.schema})


def _current_settings(entry: ConfigEntry) -> dict[str, Any]:
    """Every setting of a site by section, defaults filled in."""
    options = entry.options
    return {
        **{section: dict(entry.data[section]) for section in SITE_SECTIONS},
        SECTION_EMS: ems_options(options),
        SECTION_STRATEGIES: strategy_options(options),
        SECTION_FORECASTS: forecast_options(options),
    }


@websocket_api.websocket_command({vol.Required("type"): f"{DOMAIN}/settings", **_ENTRY})
@websocket_api.async_response
async def ws_settings(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Answer with the site's settings, the form that edits them, and whether this user may."""
    try:
        # A site that is not running (restarting after a save, or failing) keeps its settings.
        entry = site_entry(hass, msg[ATTR_ENTRY_ID])
    except HomeAssistantError as err:
        connection.send_error(msg["id"], "invalid_request", str(err))
        return
    schema = await _settings_schema(hass, entry)
    connection.send_result(
        msg["id"],
        {
            "editable": connection.user.is_admin,
            "schema": serialize_schema(schema, custom_serializer=cv.custom_serializer),
            "options": _current_settings(entry),
            # Shown, not edited here: the flows that change it test the connection first.
            "device": device_report(entry),
        },
    )


@websocket_api.websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/settings/update",
        **_ENTRY,
        vol.Required("options"): dict,
    }
)
@websocket_api.require_admin
@websocket_api.async_response
async def ws_settings_update(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Store new settings after the config and options flows' own checks; the site restarts."""
    try:
        # A site that is not running (restarting after a save, or failing) keeps its settings.
        entry = site_entry(hass, msg[ATTR_ENTRY_ID])
    except HomeAssistantError as err:
        connection.send_error(msg["id"], "invalid_request", str(err))
        return
    try:
        settings = (await _settings_schema(hass, entry))(msg["options"])
    except vol.Invalid as err:
        # The field is the last part of the path (section, key).
        field = str(err.path[-1]) if err.path else "base"
        connection.send_result(
            msg["id"], {"saved": False, "errors": {field: "invalid_value"}}
        )
        return
    data = {
        **entry.data,
        **{section: settings.pop(section) for section in SITE_SECTIONS},
    }
    errors = {
        **await async_validate_site(hass, data),
        **await async_validate_options(hass, settings),
    }
    if errors:
        connection.send_result(msg["id"], {"saved": False, "errors": errors})
        return
    data_changed = data != dict(entry.data)
    hass.config_entries.async_update_entry(entry, data=data, options=settings)
    if data_changed:
        # Option changes restart the site through its update listener; new data needs a reload.
        hass.config_entries.async_schedule_reload(entry.entry_id)
    connection.send_result(msg["id"], {"saved": True})
