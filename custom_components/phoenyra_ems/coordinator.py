"""The EMS coordinator: plans the battery each optimization interval and drives it each control interval."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, restore_state
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
    CONF_FEED_IN_CT_KWH,
    CONF_GRID_FEE_CT_KWH,
    CONF_MANUAL_STRATEGY,
    CONF_MAX_CHARGE_KW,
    CONF_MAX_DISCHARGE_KW,
    CONF_MAX_EXPORT_KW,
    CONF_MAX_IMPORT_KW,
    CONF_MIN_PRICE_SPREAD,
    CONF_MIN_PROFIT,
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
    DEFAULT_EMS,
    DEFAULT_STRATEGIES,
    DOMAIN,
    ENGINE_HIGHS,
    EXPECTED_PROFIT_HOURS,
    EXPORT_SPOT,
    LOGGER,
    SECTION_BATTERY,
    SECTION_EMS,
    SECTION_GRID,
    SECTION_STRATEGIES,
    SECTION_TARIFF,
    SELECTION_AUTO,
    SELECTION_MANUAL,
)
from .engine.cvxpy_engine import cvxpy_available, solve_cvxpy
from .engine.horizon import prices_known_until
from .engine.model import (
    Battery,
    Grid,
    InvalidInputError,
    Measurement,
    PlanningProblem,
    Strategy,
    Tariff,
)
from .engine.optimizer import SolverError, solve_highs
from .engine.prices import BoolArray, forecast_prices, known_until, resolution_minutes
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

# The plan covers at least this much; when published prices reach less far it uses forecasts to
# FORECAST_HORIZON.
MIN_HORIZON = timedelta(hours=24)
# Prices that failed to update are stale after this long; tomorrow's are due this long after
# the auction's publication (sources publish a little later than the exchange).
PRICES_FRESH_FOR = timedelta(hours=6)
PUBLICATION_GRACE = timedelta(hours=2)
FORECAST_HORIZON = timedelta(hours=48)
STRATEGY_AUTO = "auto"
RUN_FAILED = "failed"
# Key of the state-of-charge sensor, whose last state the simulated battery resumes from.
SOC_KEY = "state_of_charge"


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
        self.demo = DemoSite(
            series, self.site.battery, soc_pct=50.0 if last_soc is None else last_soc
        )
        self.control_interval = timedelta(seconds=ems[CONF_CONTROL_SECONDS])
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
        # Which of the plan's prices are forecast (True) rather than published.
        self.price_is_forecast: BoolArray = np.zeros(0, dtype=np.bool_)
        self.strategy_choice = strategy_choice(entry.options)
        self._options_at_setup = dict(entry.options)
        self.enabled = True
        self.setpoint_kw = 0.0
        self.measurement: Measurement = self.demo.step(dt_util.now(), 0.0)
        self._unsub_control: CALLBACK_TYPE | None = None

    @property
    def active_strategy(self) -> Strategy:
        """Return the strategy of the current plan."""
        return self.data.plan.strategy

    @property
    def solver(self) -> Solver:
        """Return the engine's solve function: cvxpy where chosen (or automatic) and installed."""
        if self.engine != ENGINE_HIGHS and cvxpy_available():
            return solve_cvxpy
        return solve_highs

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
        a published price, at least 24 hours; when tomorrow is not published yet it reaches 48
        hours with forecast prices.
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
        end = known_end
        if end - start < MIN_HORIZON:
            end = start + FORECAST_HORIZON
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
                pv_kw=pv.values,
                soc_pct=self.measurement.soc_pct,
                battery=self.site.battery,
                grid=self.site.grid,
                tariff=self.site.tariff,
            )
            self.problem, self.price_is_forecast = problem, price_is_forecast
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

    @callback
    def async_start_control(self) -> None:
        """Start the control loop (stopped with the entry); the KPIs count from now."""
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

    def current_setpoint_kw(self, now: datetime) -> float:
        """Battery power the plan asks for now; idle when disabled or without a valid plan."""
        if not self.enabled or not self.last_update_success:
            return 0.0
        plan = self.data.plan
        index = plan.slot_index(now)
        if index is None:
            return 0.0
        return plan.setpoint_kw(
            index, self.measurement.load_kw - self.measurement.pv_kw
        )

    @callback
    def _async_control_tick(self, _now: datetime | None = None) -> None:
        now = dt_util.now()
        self.setpoint_kw = self.current_setpoint_kw(now)
        self.measurement = self.demo.step(now, self.setpoint_kw)
        self._book(self.measurement)
        self.async_update_listeners()

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
        self._async_control_tick()
