"""Diagnostics of a Phoenyra EMS site: configuration (secrets and location redacted), state, plan, runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import (
    CONF_API_KEY,
    CONF_HOST,
    CONF_LATITUDE,
    CONF_LONGITUDE,
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_USERNAME,
)

from .engine.cvxpy_engine import cvxpy_available
from .reports import plan_report, state_report

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import PhoenyraConfigEntry

TO_REDACT = {
    CONF_API_KEY,
    CONF_HOST,
    CONF_LATITUDE,
    CONF_LONGITUDE,
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_USERNAME,
}
RUNS_SHOWN = 10


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PhoenyraConfigEntry
) -> dict[str, Any]:
    """Return what helps to understand a site's behaviour, without secrets or its location."""
    ems = entry.runtime_data.ems
    plan = plan_report(ems)
    kpi = ems.memory.kpi
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "engine": {
            "chosen": ems.engine,
            "cvxpy_available": cvxpy_available(),
            "control_interval_s": ems.control_interval.total_seconds(),
            "optimization_interval_s": ems.update_interval.total_seconds()
            if ems.update_interval
            else None,
            "last_update_success": ems.last_update_success,
        },
        "device": {
            "link": ems.link.name,
            "available": ems.link.available,
            "problems": ems.link.problems,
            "measurement_error": ems.measurement_error,
            "written_kw": ems.written_kw,
            "write_error": ems.write_error,
            "fallback_reason": ems.watchdog_reason,
            "dry_run": ems.dry_run,
        },
        "state": state_report(ems),
        # The plan's summary and its first slots; the whole plan is one action away (get_plan).
        "plan": {**plan, "slots": plan["slots"][:8], "slot_count": len(plan["slots"])},
        "kpi": {
            "total": kpi.total.as_dict(),
            "today": kpi.today.as_dict(),
            "days_recorded": len(kpi.days),
        },
        "runs": [run.as_dict() for run in ems.memory.runs.runs[-RUNS_SHOWN:]],
    }
