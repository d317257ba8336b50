"""Actions of Phoenyra EMS: ask a site for its state, plan, forecast, history and analytics; command it."""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING, Any

from homeassistant.auth.permissions.const import POLICY_CONTROL
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

from .const import DOMAIN
from .coordinator import STRATEGY_AUTO
from .engine.model import Strategy
from .reports import (
    MAX_ANALYTICS_DAYS,
    MAX_HISTORY_HOURS,
    analytics_report,
    async_history_report,
    forecast_report,
    plan_report,
    state_report,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from .coordinator import EmsCoordinator, PhoenyraConfigEntry

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_STRATEGY = "strategy"
ATTR_HOURS = "hours"
ATTR_DAYS = "days"
STRATEGY_CHOICES = [STRATEGY_AUTO, *(strategy.value for strategy in Strategy)]

SERVICE_GET_STATE = "get_state"
SERVICE_GET_PLAN = "get_plan"
SERVICE_GET_FORECAST = "get_forecast"
SERVICE_GET_HISTORY = "get_history"
SERVICE_GET_ANALYTICS = "get_analytics"
SERVICE_SET_STRATEGY = "set_strategy"
SERVICE_OPTIMIZE_NOW = "optimize_now"

_ENTRY: dict[vol.Marker, Any] = {vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string}
# Ranges are checked in the handlers, so the user gets a translated message naming the limit.
SCHEMAS: dict[str, vol.Schema] = {
    SERVICE_GET_STATE: vol.Schema(_ENTRY),
    SERVICE_GET_PLAN: vol.Schema(_ENTRY),
    SERVICE_GET_FORECAST: vol.Schema(_ENTRY),
    SERVICE_GET_HISTORY: vol.Schema(
        {**_ENTRY, vol.Optional(ATTR_HOURS, default=24): vol.Coerce(int)}
    ),
    SERVICE_GET_ANALYTICS: vol.Schema(
        {**_ENTRY, vol.Optional(ATTR_DAYS, default=30): vol.Coerce(int)}
    ),
    SERVICE_SET_STRATEGY: vol.Schema(
        {**_ENTRY, vol.Required(ATTR_STRATEGY): cv.string}
    ),
    SERVICE_OPTIMIZE_NOW: vol.Schema(_ENTRY),
}


def site_entry(hass: HomeAssistant, entry_id: str) -> PhoenyraConfigEntry:
    """Return a site's config entry, loaded or not, or raise a translated error naming it."""
    entry: PhoenyraConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_entry",
            translation_placeholders={"entry_id": entry_id},
        )
    return entry


def site(hass: HomeAssistant, entry_id: str) -> EmsCoordinator:
    """Return the EMS of a loaded site, or raise a translated error naming the entry."""
    entry = site_entry(hass, entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"site": entry.title},
        )
    return entry.runtime_data.ems


def check_range(name: str, value: int, maximum: int) -> None:
    """Raise a translated error unless 1 <= ``value`` <= ``maximum``."""
    if not 1 <= value <= maximum:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="out_of_range",
            translation_placeholders={
                "name": name,
                "value": str(value),
                "maximum": str(maximum),
            },
        )


def check_strategy(choice: str) -> str:
    """Return ``choice`` if it is auto or a strategy, else raise a translated error."""
    if choice not in STRATEGY_CHOICES:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_strategy",
            translation_placeholders={
                "strategy": choice,
                "choices": ", ".join(STRATEGY_CHOICES),
            },
        )
    return choice


type _Handler = Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]]


def _admin_only(hass: HomeAssistant, handler: _Handler) -> _Handler:
    """Let only administrators (and automations, which run without a user) call ``handler``."""

    @wraps(handler)
    async def checked(call: ServiceCall) -> ServiceResponse:
        if call.context.user_id is not None:
            user = await hass.auth.async_get_user(call.context.user_id)
            if user is None or not user.is_admin:
                raise Unauthorized(context=call.context, permission=POLICY_CONTROL)
        return await handler(call)

    return checked


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, for all sites)."""

    async def get_state(call: ServiceCall) -> ServiceResponse:
        return state_report(site(hass, call.data[ATTR_CONFIG_ENTRY_ID]))

    async def get_plan(call: ServiceCall) -> ServiceResponse:
        return plan_report(site(hass, call.data[ATTR_CONFIG_ENTRY_ID]))

    async def get_forecast(call: ServiceCall) -> ServiceResponse:
        return forecast_report(site(hass, call.data[ATTR_CONFIG_ENTRY_ID]))

    async def get_history(call: ServiceCall) -> ServiceResponse:
        coordinator = site(hass, call.data[ATTR_CONFIG_ENTRY_ID])
        hours: int = call.data[ATTR_HOURS]
        check_range(ATTR_HOURS, hours, MAX_HISTORY_HOURS)
        return await async_history_report(hass, coordinator, hours)

    async def get_analytics(call: ServiceCall) -> ServiceResponse:
        coordinator = site(hass, call.data[ATTR_CONFIG_ENTRY_ID])
        days: int = call.data[ATTR_DAYS]
        check_range(ATTR_DAYS, days, MAX_ANALYTICS_DAYS)
        return analytics_report(coordinator, days)

    async def set_strategy(call: ServiceCall) -> ServiceResponse:
        coordinator = site(hass, call.data[ATTR_CONFIG_ENTRY_ID])
        await coordinator.async_set_strategy(check_strategy(call.data[ATTR_STRATEGY]))
        return None

    async def optimize_now(call: ServiceCall) -> ServiceResponse:
        await site(hass, call.data[ATTR_CONFIG_ENTRY_ID]).async_refresh()
        return None

    queries: dict[str, _Handler] = {
        SERVICE_GET_STATE: get_state,
        SERVICE_GET_PLAN: get_plan,
        SERVICE_GET_FORECAST: get_forecast,
        SERVICE_GET_HISTORY: get_history,
        SERVICE_GET_ANALYTICS: get_analytics,
    }
    commands: dict[str, _Handler] = {
        SERVICE_SET_STRATEGY: set_strategy,
        SERVICE_OPTIMIZE_NOW: optimize_now,
    }
    for name, handler in queries.items():
        hass.services.async_register(
            DOMAIN,
            name,
            handler,
            schema=SCHEMAS[name],
            supports_response=SupportsResponse.ONLY,
        )
    for name, handler in commands.items():
        hass.services.async_register(
            DOMAIN, name, _admin_only(hass, handler), schema=SCHEMAS[name]
        )
