"""KPIs: integration of measurements, gaps, day changes, storage round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from custom_components.phoenyra_ems.engine.kpi import (
    DAYS_KEPT,
    EnergyTotals,
    KpiTracker,
)
from custom_components.phoenyra_ems.engine.model import Measurement
from custom_components.phoenyra_ems.engine.runs import RUNS_KEPT, RunLog, RunRecord

T0 = datetime(2026, 5, 12, 10, 0, tzinfo=UTC)
DAY = date(2026, 5, 12)
GAP = timedelta(minutes=1)


def measure(
    time: datetime,
    *,
    battery_kw: float = 0.0,
    load_kw: float = 1.0,
    pv_kw: float = 0.0,
    soc_pct: float = 50.0,
) -> Measurement:
    """A measurement whose grid power keeps the site's balance."""
    return Measurement(
        time=time,
        soc_pct=soc_pct,
        battery_kw=battery_kw,
        grid_kw=load_kw - pv_kw - battery_kw,
        pv_kw=pv_kw,
        load_kw=load_kw,
    )


def run_for(
    tracker: KpiTracker, hours: float, step_s: float = 5, **powers: float
) -> None:
    start = tracker.last_time or T0
    for k in range(1, round(hours * 3600 / step_s) + 1):
        t = start + timedelta(seconds=k * step_s)
        tracker.update(measure(t, **powers), DAY, 0.30, 0.05, "arbitrage")


def test_discharging_to_cover_the_load_earns_the_import_price() -> None:
    tracker = KpiTracker(GAP)
    tracker.update(measure(T0), DAY, 0.30, 0.05, None)
    # One hour: a 2 kW load covered by 2 kW from the battery.
    run_for(tracker, 1.0, battery_kw=2.0, load_kw=2.0)
    total = tracker.total
    assert total.hours == pytest.approx(1.0)
    assert total.discharged_kwh == pytest.approx(2.0)
    assert total.import_kwh == pytest.approx(0.0)
    assert total.profit_eur == pytest.approx(2.0 * 0.30)
    assert total.autarky == pytest.approx(1.0)
    assert total.cycles(8.0) == pytest.approx(0.25)
    assert total.strategy_hours == {"arbitrage": pytest.approx(1.0)}
    assert tracker.today.profit_eur == pytest.approx(total.profit_eur)


def test_charging_from_pv_instead_of_exporting_loses_the_export_price() -> None:
    tracker = KpiTracker(GAP)
    tracker.update(measure(T0), DAY, 0.30, 0.05, None)
    # 3 kW PV, 1 kW load, 2 kW into the battery: nothing is exported.
    run_for(tracker, 0.5, battery_kw=-2.0, load_kw=1.0, pv_kw=3.0, soc_pct=40.0)
    total = tracker.total
    assert total.charged_kwh == pytest.approx(1.0)
    assert total.export_kwh == pytest.approx(0.0)
    assert total.self_consumption_ratio == pytest.approx(1.0)
    # Without a battery 1 kWh would have been exported at 0.05 EUR/kWh.
    assert total.profit_eur == pytest.approx(-0.05)
    assert total.average_soc_pct == pytest.approx(40.0)


def test_a_gap_is_not_booked_and_a_clock_step_back_is_ignored() -> None:
    tracker = KpiTracker(GAP)
    tracker.update(measure(T0), DAY, 0.30, 0.05, None)
    # Home Assistant was stopped for two hours.
    later = T0 + timedelta(hours=2)
    tracker.update(measure(later, battery_kw=3.0, load_kw=3.0), DAY, 0.3, 0.05, None)
    assert tracker.total.hours == 0
    # Booking resumes from there.
    tracker.update(
        measure(later + timedelta(seconds=30), battery_kw=3.0, load_kw=3.0),
        DAY,
        0.3,
        0.05,
        None,
    )
    assert tracker.total.discharged_kwh == pytest.approx(3.0 * 30 / 3600)
    booked = tracker.total.hours
    tracker.update(measure(later), DAY, 0.3, 0.05, None)
    assert tracker.total.hours == booked
    assert tracker.last_time == later + timedelta(seconds=30)


def test_a_new_day_closes_today_into_a_record() -> None:
    tracker = KpiTracker(GAP)
    tracker.update(measure(T0), DAY, 0.30, 0.05, None)
    run_for(tracker, 0.25, battery_kw=1.0, load_kw=1.0)
    next_day = DAY + timedelta(days=1)
    t = tracker.last_time + timedelta(seconds=5)
    tracker.update(measure(t, battery_kw=1.0, load_kw=1.0), next_day, 0.3, 0.05, None)
    assert [record.day for record in tracker.days] == [DAY]
    assert tracker.days[0].totals.discharged_kwh == pytest.approx(0.25)
    # The first tick of the new day belongs to it.
    assert tracker.today.discharged_kwh == pytest.approx(5 / 3600)
    assert tracker.total.discharged_kwh == pytest.approx(0.25 + 5 / 3600)
    assert [r.day for r in tracker.records(DAY)] == [DAY, next_day]
    assert [r.day for r in tracker.records(next_day)] == [next_day]


def test_daily_records_are_bounded() -> None:
    tracker = KpiTracker(GAP)
    t = T0
    for k in range(DAYS_KEPT + 5):
        day = DAY + timedelta(days=k)
        tracker.update(measure(t), day, 0.3, 0.05, None)
        t += timedelta(seconds=5)
        tracker.update(measure(t), day, 0.3, 0.05, None)
        t += timedelta(days=1)
    assert len(tracker.days) == DAYS_KEPT
    assert tracker.days[-1].day == DAY + timedelta(days=DAYS_KEPT + 3)


def test_tracker_round_trips_through_plain_data() -> None:
    tracker = KpiTracker(GAP)
    tracker.update(measure(T0), DAY, 0.30, 0.05, None)
    run_for(tracker, 0.1, battery_kw=-1.0, load_kw=0.5, pv_kw=2.0)
    tracker.update(
        measure(tracker.last_time + timedelta(seconds=5)),
        DAY + timedelta(days=1),
        0.3,
        0.05,
        None,
    )
    restored = KpiTracker.from_dict(tracker.as_dict(), GAP)
    assert restored.as_dict() == tracker.as_dict()


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"total": {"cost_eur": "a lot"}},
        {"total": {"cost_eur": float("nan")}},
        {"total": {"strategy_hours": [1]}},
        {"days": {}},
        {"days": [{"totals": {}}]},
        {"day": "yesterday"},
    ],
)
def test_damaged_data_is_refused(data: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        KpiTracker.from_dict(data, GAP)


def test_empty_totals_have_no_ratios() -> None:
    totals = EnergyTotals()
    assert totals.average_soc_pct is None
    assert totals.self_consumption_ratio is None
    assert totals.autarky is None


def run(time: datetime, strategy: str | None = "arbitrage") -> RunRecord:
    return RunRecord(
        time=time,
        strategy=strategy,
        reason="why",
        expected_profit_eur=1.5 if strategy else None,
        status="optimal" if strategy else "failed",
        engine="highs" if strategy else None,
        solve_ms=4.2 if strategy else None,
        horizon_slots=96 if strategy else 0,
    )


def test_run_log_is_bounded_by_age_and_number_and_round_trips() -> None:
    log = RunLog()
    for k in range(RUNS_KEPT + 10):
        log.add(run(T0 + timedelta(minutes=k)))
    assert len(log.runs) == RUNS_KEPT
    log.add(run(T0 + timedelta(days=8), strategy=None))
    # Everything older than a week went.
    assert len(log.runs) == 1
    assert log.runs[0].status == "failed"
    assert RunLog.from_list(log.as_list()).as_list() == log.as_list()
    assert log.since(T0 + timedelta(days=9)) == []


@pytest.mark.parametrize(
    "data",
    [{}, [{"time": "now"}], [{"time": T0.isoformat()}], [[1, 2]]],
)
def test_damaged_runs_are_refused(data: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        RunLog.from_list(data)


def test_time_without_a_price_counts_energy_but_no_money() -> None:
    tracker = KpiTracker(GAP)
    tracker.update(measure(T0), DAY, float("nan"), float("nan"), None)
    for k in range(1, 13):
        tracker.update(
            measure(T0 + timedelta(seconds=5 * k), battery_kw=2.0, load_kw=2.0),
            DAY,
            float("nan"),
            float("nan"),
            None,
        )
    assert tracker.total.discharged_kwh == pytest.approx(2.0 * 60 / 3600)
    assert tracker.total.profit_eur == 0
    assert tracker.total.unpriced_hours == pytest.approx(60 / 3600)
