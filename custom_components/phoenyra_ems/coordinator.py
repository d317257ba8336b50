"""The EMS coordinator: plans the battery each optimization interval and drives it each control interval."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
import time
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import (
    entity_registry as er,
    issue_registry as ir,
    restore_state,
)
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
import numpy as np

from .const import (
    CONF_ALLOW_GRID_CHARGING,
    CONF_BATTERY_PRICE,
    CONF_CAPACITY_KWH,
    CONF_CHARGE_EFFICIENCY,
    CONF_CONTROL_SECONDS,
    CONF_CYCLE_LIFE,
    CONF_DEMAND_CHARGE,
    CONF_DISCHARGE_EFFICIENCY,
    CONF_ENGINE,
    CONF_EXPORT_MODE,
    CONF_FALLBACK,
    CONF_FEED_IN_CT_KWH,
    CONF_GRID_FEE_CT_KWH,
    CONF_MANUAL_STRATEGY,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_MAX_EXPORT_KW,
    CONF_MAX_IMPORT_KW,
    CONF_MIN_PRICE_SPREAD,
    CONF_MIN_PROFIT,
    CONF_MODE,
    CONF_OPTIMIZATION_MINUTES,
    CONF_PEAK_PERCENTILE,
    CONF_PEAK_REDUCTION,
    CONF_SELECTION_MODE,
    CONF_SMOOTHING_WINDOW,
    CONF_SOC_MAX,
    CONF_SOC_MIN,
    CONF_SWITCH_THRESHOLD,
    CONF_TARGET_LOAD_FACTOR,
    CONF_VAT_PCT,
    CONF_WRITE_DEADBAND_KW,
    CONF_WRITE_MIN_SECONDS,
    DEFAULT_EMS,
    DEFAULT_STRATEGIES,
    DOMAIN,
    ENGINE_HIGHS,
    EXPECTED_PROFIT_HOURS,
    EXPORT_SPOT,
    LOGGER,
    MODE_LIVE,
    SECTION_BATTERY,
    SECTION_EMS,
    SECTION_GRID,
    SECTION_STRATEGIES,
    SECTION_TARIFF,
    SELECTION_AUTO,
    SELECTION_MANUAL,
)
from .device import DeviceError, device_config, device_link
from .engine.control import Fallback, fresh_values, measurement, self_consumption_kw
from .engine.cvxpy_engine import cvxpy_available, solve_cvxpy
from .engine.forecast import departed, net_load_outcomes
from .engine.horizon import plan_end, prices_known_until
from .engine.model import (
    Battery,
    FloatArray,
    Grid,
    InvalidInputError,
    Measurement,
    PlanningProblem,
    Strategy,
    Tariff,
)
from .engine.optimizer import SolverError, WarmStarts, solve_highs
from .engine.prices import BoolArray, forecast_prices, known_until, resolution_minutes
from .engine.registers import safe_setpoint_kw, should_write
from .engine.runs import RunRecord
from .engine.simulator import DemoSite, SiteSeries, slot_start
from .engine.strategies import (
    Selection,
    Solver,
    StrategySettings,
    default_degradation_eur_kwh,
    plan_strategy,
    select,
)
from .forecasts import SiteForecaster, local_zone
from .price_source import price_source

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .storage import SiteMemory, SiteStore

type PhoenyraConfigEntry = ConfigEntry[PhoenyraData]

# Prices that failed to update are stale after this long; tomorrow's are due this long after
# the auction's publication (sources publish a little later than the exchange).
PRICES_FRESH_FOR = timedelta(hours=6)
PUBLICATION_GRACE = timedelta(hours=2)
STRATEGY_AUTO = "auto"
RUN_FAILED = "failed"
# Key of the state-of-charge sensor, whose last state the simulated battery resumes from.
SOC_KEY = "state_of_charge"
# Measurements older than this many control intervals are stale: the watchdog takes over.
STALE_AFTER_INTERVALS = 3


@dataclass(slots=True)
class PhoenyraData:
    """What a running entry holds."""

    ems: EmsCoordinator


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """The engine's view of a config entry."""

    battery: Battery
    grid: Grid
    tariff: Tariff


def site_config(data: Mapping[str, Any]) -> SiteConfig:
    """Convert an entry's data to engine types (raises InvalidInputError on impossible values)."""
    battery = data[SECTION_BATTERY]
    grid = data[SECTION_GRID]
    tariff = data[SECTION_TARIFF]
    return SiteConfig(
        battery=Battery(
            capacity_kwh=battery[CONF_CAPACITY_KWH],
            max_charge_kw=battery[CONF_MAX_CHARGE_KW],
            max_discharge_kw=battery[CONF_MAX_DISCHARGE_KW],
            charge_efficiency=battery[CONF_CHARGE_EFFICIENCY],
            discharge_efficiency=battery[CONF_DISCHARGE_EFFICIENCY],
            soc_min_pct=battery[CONF_SOC_MIN],
            soc_max_pct=battery[CONF_SOC_MAX],
        ),
        grid=Grid(
            max_import_kw=grid[CONF_MAX_IMPORT_KW],
            max_export_kw=grid[CONF_MAX_EXPORT_KW],
        ),
        tariff=Tariff(
            vat_pct=tariff[CONF_VAT_PCT],
            grid_fee_eur_kwh=tariff[CONF_GRID_FEE_CT_KWH] / 100,
            export_at_spot=tariff[CONF_EXPORT_MODE] == EXPORT_SPOT,
            feed_in_eur_kwh=tariff[CONF_FEED_IN_CT_KWH] / 100,
        ),
    )


def ems_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the entry's EMS options, with defaults for what was never set."""
    return {**DEFAULT_EMS, **options.get(SECTION_EMS, {})}


def strategy_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the entry's strategy options, with defaults for what was never set."""
    return {**DEFAULT_STRATEGIES, **options.get(SECTION_STRATEGIES, {})}


def _last_soc_pct(hass: HomeAssistant, entry: PhoenyraConfigEntry) -> float | None:
    """Return the state of charge the site's sensor showed before the last restart, if any."""
    entity_id = er.async_get(hass).async_get_entity_id(
        Platform.SENSOR, DOMAIN, f"{entry.unique_id}_{SOC_KEY}"
    )
    stored = restore_state.async_get(hass).last_states.get(entity_id or "")
    if stored is None:
        return None
    try:
        soc = float(stored.state.state)
    except ValueError:
        return None
    return soc if 0 <= soc <= 100 else None


def kpi_max_gap(options: Mapping[str, Any]) -> timedelta:
    """Longest time between two measurements that the KPIs still book (a longer one is a gap).

    Three control intervals, as the watchdog allows, but at least a minute: a busy event loop
    delays ticks without anything going missing.
    """
    seconds = ems_options(options)[CONF_CONTROL_SECONDS]
    return max(timedelta(seconds=3 * seconds), timedelta(minutes=1))


def strategy_settings(options: Mapping[str, Any]) -> StrategySettings:
    """Return what the strategies need from the entry's options."""
    strategies = strategy_options(options)
    return StrategySettings(
        degradation_eur_kwh=default_degradation_eur_kwh(
            strategies[CONF_BATTERY_PRICE], strategies[CONF_CYCLE_LIFE]
        ),
        demand_charge_eur_kw=strategies[CONF_DEMAND_CHARGE],
        peak_threshold_percentile=strategies[CONF_PEAK_PERCENTILE],
        peak_target_reduction=strategies[CONF_PEAK_REDUCTION] / 100,
        target_load_factor=strategies[CONF_TARGET_LOAD_FACTOR],
        allow_grid_charging=strategies[CONF_ALLOW_GRID_CHARGING],
        min_price_spread_eur_kwh=strategies[CONF_MIN_PRICE_SPREAD] / 1000,
        min_profit_eur=strategies[CONF_MIN_PROFIT],
        switch_threshold=strategies[CONF_SWITCH_THRESHOLD],
    )


def strategy_choice(options: Mapping[str, Any]) -> str:
    """Return the strategy the options ask for: ``auto`` or one strategy."""
    strategies = strategy_options(options)
    if strategies[CONF_SELECTION_MODE] == SELECTION_AUTO:
        return STRATEGY_AUTO
    return str(strategies[CONF_MANUAL_STRATEGY])


def _without_choice(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options minus the strategy choice, which applies without a reload."""
    strategies = {
        key: value
        for key, value in strategy_options(options).items()
        if key not in (CONF_SELECTION_MODE, CONF_MANUAL_STRATEGY)
    }
    return {**options, SECTION_STRATEGIES: strategies}


class EmsCoordinator(DataUpdateCoordinator[Selection]):
    """Plans the site's battery (data = the chosen plan and why) and runs the control loop."""

    config_entry: PhoenyraConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PhoenyraConfigEntry,
        series: SiteSeries,
        store: SiteStore,
        memory: SiteMemory,
    ) -> None:
        """Set up the coordinator for a site.

        ``series`` holds the demo site's data, ``memory`` what the site remembers (KPIs, runs,
        the month's peak), kept in ``store``.
        """
        ems = ems_options(entry.options)
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=timedelta(minutes=ems[CONF_OPTIMIZATION_MINUTES]),
        )
        self.site = site_config(entry.data)
        self.series = series
        last_soc = _last_soc_pct(hass, entry)
        soc_pct = 50.0 if last_soc is None else last_soc
        self.control_interval = timedelta(seconds=ems[CONF_CONTROL_SECONDS])
        self.live = entry.data[CONF_MODE] == MODE_LIVE
        self.link = device_link(
            hass,
            entry,
            self.control_interval,
            DemoSite(series, self.site.battery, soc_pct=soc_pct),
            self.live,
        )
        device = device_config(entry.data)
        # The simulated battery has no flash memory to spare.
        self.write_deadband_kw = device[CONF_WRITE_DEADBAND_KW] if self.live else 0.0
        self.write_min_s = device[CONF_WRITE_MIN_SECONDS] if self.live else 0.0
        self.fallback = Fallback(ems[CONF_FALLBACK])
        self.engine = ems[CONF_ENGINE]
        self.strategy_settings = strategy_settings(entry.options)
        self.smoothing_window_h: float = strategy_options(entry.options)[
            CONF_SMOOTHING_WINDOW
        ]
        self.store = store
        self.memory = memory
        self.prices = price_source(hass, entry, series)
        self.forecaster = SiteForecaster(hass, entry, series)
        # Where the last plan's load and PV forecasts came from.
        self.forecast_sources: dict[str, str] = {}
        # The inputs of the last planning run: the forecasts the plan was made for.
        self.problem: PlanningProblem | None = None
        # The PV of the recent days the last plan weighed (the PV forecast with each day's departure),
        # for the Forecasts tab: the plan itself knows only their net loads.
        self.pv_outcomes_kw: tuple[FloatArray, ...] = ()
        # Which of the plan's prices are forecast (True) rather than published.
        self.price_is_forecast: BoolArray = np.zeros(0, dtype=np.bool_)
        self.strategy_choice = strategy_choice(entry.options)
        self._options_at_setup = dict(entry.options)
        self.enabled = True
        # Dry run: the EMS decides as usual and writes nothing.
        self.dry_run = False
        # The battery power decided last (what was written, or would have been in a dry run).
        self.setpoint_kw = 0.0
        # What the device was given last (its own range may be narrower than the battery's), and
        # the setpoint sent then, which the write policy's deadband compares with the next.
        self.written_kw: float | None = None
        self._commanded_kw: float | None = None
        self._written_at: float | None = None
        self.write_error: str | None = None
        # Why the watchdog holds the battery in its fallback (None: it follows the plan).
        self.watchdog_reason: str | None = None
        # Why the last decision was a fallback (None: the plan); a write failure is not a decision.
        self._decision_reason: str | None = None
        now = dt_util.now()
        # Until the device reports, the plan starts from the last known state of charge.
        self.measurement = Measurement(
            time=now,
            soc_pct=soc_pct,
            battery_kw=0.0,
            grid_kw=0.0,
            pv_kw=0.0,
            load_kw=0.0,
        )
        self.measurement_error: str | None = "not measured yet"
        self._measure(now)
        self._unsub_control: CALLBACK_TYPE | None = None
        self._control_lock = asyncio.Lock()
        self._warm_starts = WarmStarts()

    @property
    def active_strategy(self) -> Strategy:
        """Return the strategy of the current plan."""
        return self.data.plan.strategy

    @property
    def solver(self) -> Solver:
        """Return the engine's solve function: cvxpy where chosen (or automatic) and installed."""
        if self.engine != ENGINE_HIGHS and cvxpy_available():
            return solve_cvxpy
        # Each re-plan starts from the previous plan's optimal basis (a few times faster).
        return partial(solve_highs, warm_starts=self._warm_starts)

    @property
    def current_price_eur_kwh(self) -> float:
        """Retail import price now (spot + grid fee, with VAT)."""
        return self.prices_now()[0]

    def spot_now(self) -> float | None:
        """Spot price now (EUR/kWh): published, or the plan's forecast where none is."""
        when = self.measurement.time
        spot = self.prices.spot_at(when)
        if spot is None and self.problem is not None:
            problem = self.problem
            index = int(
                (when - problem.start) / timedelta(minutes=problem.slot_minutes)
            )
            if 0 <= index < problem.slots:
                spot = float(problem.spot_eur_kwh[index])
        return spot

    def prices_now(self) -> tuple[float, float]:
        """Retail import price and export remuneration now, EUR/kWh (NaN when unknown)."""
        spot = self.spot_now()
        spot_now = np.array([np.nan if spot is None else spot])
        tariff = self.site.tariff
        return (
            float(tariff.import_price(spot_now)[0]),
            float(tariff.export_price(spot_now)[0]),
        )

    def stale_inputs(self, now: datetime) -> dict[str, str]:
        """Return the inputs of the plan that are older than they should be, with why (empty: all fresh)."""
        stale: dict[str, str] = {}
        prices = self.prices
        if prices.error is not None and (
            prices.last_success is None or now - prices.last_success > PRICES_FRESH_FOR
        ):
            stale["prices"] = prices.error
        local = dt_util.as_local(now)
        published_end = prices_known_until(local - PUBLICATION_GRACE)
        known_end = known_until(prices.points, dt_util.as_utc(now))
        if known_end is None or known_end < published_end:
            stale.setdefault(
                "prices", f"published prices missing until {published_end.isoformat()}"
            )
        stale.update(self.forecaster.errors)
        if self.last_update_success is False and self.last_exception is not None:
            stale["plan"] = str(self.last_exception)
        return stale

    @property
    def usable_window_kwh(self) -> float:
        """Energy between the battery's SoC limits: one equivalent full cycle discharges this."""
        battery = self.site.battery
        return battery.energy_max_kwh - battery.energy_min_kwh

    def expected_profit_eur(self, hours: float) -> float:
        """Return the current plan's saving against no battery over the next ``hours``."""
        return round(self.data.plan.expected_profit_eur(hours), 4)

    async def _async_setup(self) -> None:
        """Load the kept prices and fetch fresh ones (before the first plan)."""
        await self.prices.async_start(self._async_new_prices)
        self.config_entry.async_on_unload(self.prices.async_stop)

    @callback
    def _async_new_prices(self) -> None:
        """Plan again when new prices arrive (tomorrow's, published at noon)."""
        self.hass.async_create_task(self.async_request_refresh())

    def _horizon(self, now: datetime) -> tuple[datetime, int, int]:
        """Return the plan's first slot (UTC), slot length in minutes and number of slots.

        The slot length follows the prices (15 or 60 minutes). The horizon covers every slot with
        a published price and at least PLAN_HORIZON, forecast prices beyond the published ones.
        """
        slot_minutes = resolution_minutes(self.prices.points)
        start = dt_util.as_utc(slot_start(dt_util.as_local(now), slot_minutes))
        known_end = known_until(self.prices.points, start)
        if known_end is None:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="no_prices",
                translation_placeholders={
                    "source": self.prices.name,
                    "error": self.prices.error or "-",
                },
            )
        end = plan_end(start, known_end)
        return start, slot_minutes, int((end - start) / timedelta(minutes=slot_minutes))

    async def _async_update_data(self) -> Selection:
        now = dt_util.now()
        await self.prices.async_refresh(now)
        start, slot_minutes, slots = self._horizon(now)
        # The highest import measured this month is the floor of the demand charge.
        settings = replace(
            self.strategy_settings,
            peak_reached_kw=self.memory.peak_import_kw,
            # The option is in hours; plans are in slots.
            smoothing_window_slots=max(
                1, round(self.smoothing_window_h * 60 / slot_minutes)
            ),
        )
        try:
            load = await self.forecaster.async_load(start, slots, slot_minutes)
            if self.strategy_choice in (STRATEGY_AUTO, Strategy.PEAK_SHAVING):
                held = await self.forecaster.async_held_peak(start, self.site.battery)
                settings = replace(settings, peak_held_kw=held or 0.0)
            pv = await self.forecaster.async_pv(start, slots, slot_minutes)
            self.forecast_sources = {"load": load.source, "pv": pv.source}
            # CPU work (a profile over weeks of prices): off the event loop.
            spot, price_is_forecast = await self.hass.async_add_executor_job(
                partial(
                    forecast_prices,
                    self.prices.points,
                    start,
                    slots,
                    slot_minutes,
                    tz=local_zone(),
                )
            )
            problem = PlanningProblem(
                start=dt_util.as_local(start),
                slot_minutes=slot_minutes,
                spot_eur_kwh=spot,
                load_kw=load.values,
                load_high_kw=load.high,
                pv_kw=pv.values,
                net_load_outcomes_kw=net_load_outcomes(
                    load.values, pv.values, load.departures, pv.departures
                ),
                soc_pct=self.measurement.soc_pct,
                battery=self.site.battery,
                grid=self.site.grid,
                tariff=self.site.tariff,
            )
            self.problem, self.price_is_forecast = problem, price_is_forecast
            # Kept with the problem they belong to (the report lays them onto its slots).
            self.pv_outcomes_kw = departed(pv.values, pv.departures)
            if self.strategy_choice == STRATEGY_AUTO:
                active = self.data.plan.strategy if self.data is not None else None
                job = partial(select, problem, settings, active, self.solver)
            else:
                job = partial(
                    plan_strategy,
                    problem,
                    settings,
                    Strategy(self.strategy_choice),
                    self.solver,
                )
            selection = await self.hass.async_add_executor_job(job)
        except (InvalidInputError, SolverError) as err:
            # PriceDataError is an InvalidInputError: the prices are named in the message.
            self._record_run(now, None, str(err))
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="optimization_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        plan = selection.plan
        self._record_run(now, selection, selection.reason)
        LOGGER.debug(
            "Planned %s slots with %s in %.1f ms: %s",
            plan.slots,
            plan.engine,
            plan.solve_ms,
            selection.reason,
        )
        return selection

    def _record_run(
        self, now: datetime, selection: Selection | None, reason: str
    ) -> None:
        plan = selection.plan if selection is not None else None
        self.memory.runs.add(
            RunRecord(
                time=now,
                strategy=plan.strategy.value if plan else None,
                reason=reason,
                expected_profit_eur=round(
                    plan.expected_profit_eur(EXPECTED_PROFIT_HOURS), 4
                )
                if plan
                else None,
                status=plan.status if plan else RUN_FAILED,
                engine=plan.engine if plan else None,
                solve_ms=round(plan.solve_ms, 2) if plan else None,
                horizon_slots=plan.slots if plan else 0,
            )
        )
        self.store.schedule_save(self.memory)

    @property
    def measurement_fresh(self) -> bool:
        """Whether the site's measurement is recent enough to act on."""
        return self.measurement_error is None

    @property
    def max_measurement_age(self) -> timedelta:
        """Measurements older than this are stale."""
        return STALE_AFTER_INTERVALS * self.control_interval

    def _measure(self, now: datetime) -> None:
        """Take the site's measurement from the link's fresh readings, or say why there is none."""
        values = fresh_values(self.link.readings(now), now, self.max_measurement_age)
        try:
            self.measurement = measurement(now, values)
        except InvalidInputError as err:
            problems = "; ".join(self.link.problems.values())
            self.measurement_error = f"{err}" + (f" ({problems})" if problems else "")
        else:
            self.measurement_error = None

    async def async_start_link(self) -> None:
        """Connect to the device and take a first measurement (before the first plan)."""
        await self.link.async_start()
        self._measure(dt_util.now())

    @callback
    def async_start_control(self) -> None:
        """Start the control loop (stopped with the entry); the KPIs count from now."""
        if self.measurement_fresh:
            self._book(self.measurement)
        self._unsub_control = async_track_time_interval(
            self.hass,
            self._async_control_tick,
            self.control_interval,
            name=f"{DOMAIN} control",
        )
        self.config_entry.async_on_unload(self._async_stop_control)

    @callback
    def _async_stop_control(self) -> None:
        if self._unsub_control is not None:
            self._unsub_control()
            self._unsub_control = None

    async def async_shutdown_control(self) -> None:
        """Leave the battery idle and disconnect (the entry unloads)."""
        self._async_stop_control()
        async with self._control_lock:
            if not self.dry_run:
                await self._async_write(0.0, force=True)
        await self.link.async_stop()
        ir.async_delete_issue(self.hass, DOMAIN, self._watchdog_issue_id)

    def planned_setpoint_kw(self, now: datetime) -> float | None:
        """Battery power the plan asks for now; None without a valid plan covering now."""
        if not self.last_update_success or self.data is None:
            return None
        plan = self.data.plan
        index = plan.slot_index(now)
        if index is None:
            return None
        return plan.setpoint_kw(
            index, self.measurement.load_kw - self.measurement.pv_kw
        )

    def _decide(self, now: datetime) -> tuple[float, str | None, Fallback]:
        """Return the battery power to command now and, in a fallback, why and which one.

        Off: idle. Stale measurements: idle (no rule is safe without them). No valid plan: the
        configured fallback. Everything is limited to the battery's power and SoC window.
        """
        if not self.enabled:
            return 0.0, None, Fallback.IDLE
        if not self.measurement_fresh:
            return 0.0, f"measurements: {self.measurement_error}", Fallback.IDLE
        measured = self.measurement
        planned = self.planned_setpoint_kw(now)
        reason = None
        if planned is None:
            error = self.last_exception if not self.last_update_success else None
            reason = f"plan: {error or 'no plan for now'}"
            planned = (
                self_consumption_kw(measured)
                if self.fallback is Fallback.SELF_CONSUMPTION
                else 0.0
            )
        kw = safe_setpoint_kw(planned, measured.soc_pct, self.site.battery)
        return kw, reason, self.fallback

    async def _async_control_tick(self, _now: datetime | None = None) -> None:
        if self._control_lock.locked():
            # A slow device is still busy with the previous tick; never queue commands up.
            return
        async with self._control_lock:
            now = dt_util.now()
            was_fresh = self.measurement_fresh
            self._measure(now)
            self.setpoint_kw, reason, fallback = self._decide(now)
            if not self.dry_run:
                # Idle, and the change into or out of a fallback, go out at once.
                await self._async_write(
                    self.setpoint_kw,
                    force=self.setpoint_kw == 0.0 or reason != self._decision_reason,
                )
            self._decision_reason = reason
            if self.measurement_fresh:
                self._book(self.measurement)
            if self.write_error is not None and reason is None:
                reason = f"setpoint: {self.write_error}"
            self._watch(reason, fallback)
            self.async_update_listeners()
        if self.measurement_fresh and not was_fresh and self.live:
            # The plan so far started from a guessed state of charge.
            await self.async_request_refresh()

    async def _async_write(self, kw: float, *, force: bool) -> None:
        """Send ``kw`` to the device when it moved enough since the last write (flash wear).

        ``force`` skips the write policy: safety commands (idle, a fallback) go out at once.
        """
        if not self.link.can_write:
            return
        clock = time.monotonic()
        moved = self._commanded_kw is None or kw != self._commanded_kw
        if not (force and moved):
            if self.write_error is not None and self._written_at is not None:
                # After a failed attempt the next one waits the minimum interval as well.
                if clock - self._written_at < self.write_min_s:
                    return
            elif not should_write(
                kw,
                self._commanded_kw,
                self._written_at,
                clock,
                self.write_deadband_kw,
                self.write_min_s,
            ):
                return
        try:
            written = await self.link.async_write(
                kw, self.measurement.soc_pct, self.site.battery
            )
        except DeviceError as err:
            if self.write_error is None:
                LOGGER.warning("%s: cannot write the setpoint: %s", self.name, err)
            self.write_error = str(err)
            # What the device holds now is unknown: the next attempt writes, deadband or not.
            self.written_kw = self._commanded_kw = None
            self._written_at = clock
            return
        if self.write_error is not None:
            LOGGER.info("%s: writes the setpoint again", self.name)
        self.write_error = None
        self.written_kw, self._commanded_kw, self._written_at = written, kw, clock

    @property
    def _watchdog_issue_id(self) -> str:
        return f"watchdog_{self.config_entry.entry_id}"

    def _watch(self, reason: str | None, fallback: Fallback) -> None:
        """Raise or withdraw the watchdog's repair issue when the fallback starts or ends."""
        if reason == self.watchdog_reason:
            return
        if reason is None:
            LOGGER.info("%s follows its plan again", self.name)
            ir.async_delete_issue(self.hass, DOMAIN, self._watchdog_issue_id)
        else:
            LOGGER.warning(
                "%s holds the battery in its fallback: %s", self.name, reason
            )
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._watchdog_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="watchdog",
                translation_placeholders={
                    "site": self.config_entry.title,
                    "reason": reason,
                    "fallback": fallback.value,
                },
            )
        self.watchdog_reason = reason

    def _book(self, measurement: Measurement) -> None:
        """Add a measurement to the KPIs and the month's peak import."""
        memory = self.memory
        local = dt_util.as_local(measurement.time)
        if memory.peak_month != (local.year, local.month):
            memory.peak_month = (local.year, local.month)
            memory.peak_import_kw = 0.0
        memory.peak_import_kw = max(memory.peak_import_kw, measurement.grid_kw)
        import_price, export_price = self.prices_now()
        memory.kpi.update(
            measurement,
            local.date(),
            import_price,
            export_price,
            self.active_strategy.value
            if self.data is not None and self.last_update_success
            else None,
        )
        self.store.schedule_save(memory)

    async def async_set_strategy(self, choice: str) -> None:
        """Follow ``choice`` (a strategy or auto): stored in the entry's options, applied by its listener."""
        strategies = strategy_options(self.config_entry.options)
        if choice == STRATEGY_AUTO:
            strategies[CONF_SELECTION_MODE] = SELECTION_AUTO
        else:
            strategies[CONF_SELECTION_MODE] = SELECTION_MANUAL
            strategies[CONF_MANUAL_STRATEGY] = Strategy(choice).value
        self.hass.config_entries.async_update_entry(
            self.config_entry,
            options={**self.config_entry.options, SECTION_STRATEGIES: strategies},
        )

    async def async_options_updated(self, options: Mapping[str, Any]) -> bool:
        """Apply new options; returns False when they need the entry reloaded instead.

        The strategy choice applies at once with a re-plan; everything else rebuilds the site.
        """
        if _without_choice(options) != self._tuning:
            return False
        choice = strategy_choice(options)
        if choice != self.strategy_choice:
            self.strategy_choice = choice
            self.async_update_listeners()
            await self.async_request_refresh()
        return True

    @property
    def _tuning(self) -> dict[str, Any]:
        return _without_choice(self._options_at_setup)

    async def async_set_enabled(self, enabled: bool) -> None:
        """Switch the EMS on or off; off holds the battery idle."""
        self.enabled = enabled
        await self._async_control_tick()

    async def async_set_dry_run(self, dry_run: bool) -> None:
        """Start or end a dry run; the battery is left idle when it starts, then nothing is written."""
        if dry_run and not self.dry_run:
            async with self._control_lock:
                await self._async_write(0.0, force=True)
        self.dry_run = dry_run
        await self._async_control_tick()
