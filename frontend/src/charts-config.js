// The Chart.js configurations of the panel and cards, built from the integration's reports.

import { alpha, baseOptions, timeAxis, valueAxis } from "./chart.js";
import { formatDay, formatNumber } from "./format.js";
import { strategyName } from "./i18n.js";

function slotTimes(slots, slotMinutes) {
  const times = slots.map((slot) => Date.parse(slot.start));
  const end = times.length ? times[times.length - 1] + (slotMinutes || 15) * 60000 : undefined;
  return { times, end };
}

/** Points of a stepped line: each slot's value holds until the next slot starts; one more at the end. */
function steps(times, end, values) {
  const points = times.map((x, k) => ({ x, y: values[k] }));
  if (points.length) points.push({ x: end, y: values[values.length - 1] });
  return points;
}

function tooltipNumber(hass, unit, decimals) {
  return (item) => `${item.dataset.label}: ${formatNumber(hass, item.parsed.y, decimals)} ${unit}`;
}

/** Battery power (bars), PV and load (lines) per slot of the plan. */
export function planChart(hass, t, colors, plan, forecast) {
  const slots = plan?.slots || [];
  if (!slots.length) return undefined;
  const { times, end } = slotTimes(slots, plan.slot_minutes);
  const byStart = new Map((forecast?.slots || []).map((slot) => [Date.parse(slot.start), slot]));
  const pv = times.map((x) => byStart.get(x)?.pv_kw ?? null);
  const load = times.map((x) => byStart.get(x)?.load_kw ?? null);
  const battery = slots.map((slot) => slot.battery_kw);
  const options = baseOptions(colors);
  options.plugins.phoenyraNow = { color: colors.text };
  options.plugins.tooltip.callbacks = { label: tooltipNumber(hass, "kW", 2) };
  options.scales = {
    x: timeAxis(hass, colors, times[0], end),
    y: valueAxis(colors, "kW"),
  };
  return {
    type: "bar",
    data: {
      datasets: [
        {
          type: "line",
          label: t("pv"),
          data: steps(times, end, pv),
          stepped: "after",
          borderColor: colors.solar,
          backgroundColor: alpha(colors.solar, 0.15),
          fill: "origin",
          borderWidth: 1.5,
          pointRadius: 0,
          order: 1,
        },
        {
          type: "line",
          label: t("load"),
          data: steps(times, end, load),
          stepped: "after",
          borderColor: colors.load,
          backgroundColor: colors.load,
          borderWidth: 1.5,
          pointRadius: 0,
          order: 0,
        },
        {
          type: "bar",
          label: t("battery"),
          data: times.map((x, k) => ({ x: x + ((plan.slot_minutes || 15) * 60000) / 2, y: battery[k] })),
          backgroundColor: battery.map((v) => (v >= 0 ? colors.batteryOut : colors.batteryIn)),
          borderWidth: 0,
          barPercentage: 1,
          categoryPercentage: 0.85,
          order: 2,
        },
      ],
    },
    options,
  };
}

/** Import and export price per slot with the planned state of charge on a second axis. */
export function priceChart(hass, t, colors, plan) {
  const slots = plan?.slots || [];
  if (!slots.length) return undefined;
  const { times, end } = slotTimes(slots, plan.slot_minutes);
  const options = baseOptions(colors);
  options.plugins.phoenyraNow = { color: colors.text };
  options.plugins.tooltip.callbacks = {
    label: (item) =>
      item.dataset.yAxisID === "soc"
        ? `${item.dataset.label}: ${formatNumber(hass, item.parsed.y, 1)} %`
        : `${item.dataset.label}: ${formatNumber(hass, item.parsed.y, 4)} EUR/kWh`,
  };
  options.scales = {
    x: timeAxis(hass, colors, times[0], end),
    y: valueAxis(colors, "EUR/kWh"),
    soc: valueAxis(colors, "%", "right", { min: 0, max: 100 }),
  };
  // Planned SoC at the end of each slot: the SoC line starts with the plan's initial SoC.
  const soc = [{ x: times[0], y: plan.initial_soc_pct ?? slots[0].soc_pct }];
  slots.forEach((slot, k) => soc.push({ x: k + 1 < times.length ? times[k + 1] : end, y: slot.soc_pct }));
  return {
    type: "line",
    data: {
      datasets: [
        {
          label: t("import_price"),
          data: steps(times, end, slots.map((s) => s.import_price_eur_kwh)),
          stepped: "after",
          borderColor: colors.gridIn,
          backgroundColor: colors.gridIn,
          borderWidth: 1.5,
          pointRadius: 0,
          yAxisID: "y",
        },
        {
          label: t("export_price"),
          data: steps(times, end, slots.map((s) => s.export_price_eur_kwh)),
          stepped: "after",
          borderColor: colors.gridOut,
          backgroundColor: colors.gridOut,
          borderWidth: 1.5,
          pointRadius: 0,
          yAxisID: "y",
        },
        {
          label: t("planned_soc"),
          data: soc,
          borderColor: colors.batteryOut,
          backgroundColor: alpha(colors.batteryOut, 0.15),
          fill: "origin",
          borderWidth: 2,
          pointRadius: 0,
          tension: 0,
          yAxisID: "soc",
        },
      ],
    },
    options,
  };
}

/** Import, export and spot price per slot of the forecast; forecast prices drawn lighter. */
export function forecastPriceChart(hass, t, colors, forecast) {
  const slots = forecast?.slots || [];
  if (!slots.length) return undefined;
  const { times, end } = slotTimes(slots, forecast.slot_minutes);
  const half = ((forecast.slot_minutes || 15) * 60000) / 2;
  const isForecast = slots.map((slot) => slot.price_is_forecast === true);
  const options = baseOptions(colors);
  options.plugins.phoenyraNow = { color: colors.text };
  options.plugins.tooltip.callbacks = {
    label: (item) => {
      const marker = item.dataset.type === "bar" && isForecast[item.dataIndex] ? ` (${t("forecast_marker")})` : "";
      return `${item.dataset.label}: ${formatNumber(hass, item.parsed.y, 4)} EUR/kWh${marker}`;
    },
  };
  options.scales = {
    x: timeAxis(hass, colors, times[0], end),
    y: valueAxis(colors, "EUR/kWh"),
  };
  return {
    type: "bar",
    data: {
      datasets: [
        {
          type: "bar",
          label: t("import_price"),
          data: times.map((x, k) => ({ x: x + half, y: slots[k].import_price_eur_kwh })),
          backgroundColor: isForecast.map((f) => alpha(colors.gridIn, f ? 0.35 : 0.85)),
          borderWidth: 0,
          barPercentage: 1,
          categoryPercentage: 0.85,
          order: 2,
        },
        {
          type: "line",
          label: t("export_price"),
          data: steps(times, end, slots.map((s) => s.export_price_eur_kwh)),
          stepped: "after",
          borderColor: colors.gridOut,
          backgroundColor: colors.gridOut,
          borderWidth: 1.5,
          borderDash: [],
          segment: {
            borderDash: (ctx) => (isForecast[ctx.p0DataIndex] ? [5, 4] : undefined),
          },
          pointRadius: 0,
          order: 1,
        },
        {
          type: "line",
          label: t("spot_price"),
          data: steps(times, end, slots.map((s) => s.spot_eur_kwh)),
          stepped: "after",
          borderColor: colors.text,
          backgroundColor: colors.text,
          borderWidth: 1,
          borderDash: [2, 3],
          pointRadius: 0,
          order: 0,
        },
      ],
    },
    options,
    forecastSlots: isForecast.filter(Boolean).length,
  };
}

/** The name of a forecasting method with what it ran on, in the user's language. */
export function alternativeLabel(t, alternative) {
  const name = t(`method_${alternative.method}`);
  if (name === `method_${alternative.method}`) return alternative.label;
  const detail = alternative.detail;
  if (!detail) return name;
  const source = t(`source_${detail.replace(/ /g, "_")}`);
  return `${name} (${source.startsWith("source_") ? detail : source})`;
}

/**
 * The load or PV forecast per slot (``key``: load_kw or pv_kw). With ``alternatives`` (every forecast the
 * site has, the plan's own marked ``used``) the plan's is drawn filled and the others as dashed lines.
 * ``extras`` (each a key, label and colour) are series the plan also weighs, dotted where the slots carry
 * them: the cautious load, the sunniest and dullest recent days' PV. ``series`` counts the forecasts compared, not them.
 */
export function forecastSeriesChart(hass, t, colors, forecast, key, label, color, alternatives, palette, extras) {
  const slots = forecast?.slots || [];
  if (!slots.length) return undefined;
  const { times, end } = slotTimes(slots, forecast.slot_minutes);
  const planned = slots.map((s) => s[key]);
  const emphasised = (name) => ({
    label: name,
    data: steps(times, end, planned),
    stepped: "after",
    borderColor: color,
    backgroundColor: alpha(color, 0.2),
    fill: "origin",
    borderWidth: 2.5,
    pointRadius: 0,
    order: 1,
  });
  const datasets = [];
  const shown = (alternatives || []).filter((a) => Array.isArray(a.kw) && a.kw.length === slots.length);
  if (shown.length <= 1) {
    const own = shown.find((a) => a.used);
    datasets.push(emphasised(own ? `${alternativeLabel(t, own)} · ${t("used_by_plan")}` : label));
  } else {
    let other = 0;
    for (const alternative of shown) {
      const name = alternativeLabel(t, alternative);
      if (alternative.used) {
        datasets.push(emphasised(`${name} · ${t("used_by_plan")}`));
        continue;
      }
      const lineColor = palette[other++ % palette.length];
      datasets.push({
        label: name,
        data: steps(times, end, alternative.kw),
        stepped: "after",
        borderColor: lineColor,
        backgroundColor: lineColor,
        borderDash: [6, 4],
        fill: false,
        borderWidth: 1.5,
        pointRadius: 0,
        order: 0,
      });
    }
  }
  const compared = datasets.length;
  // Dotted: what else the plan weighs (the cautious load, the recent days' PV).
  for (const extra of extras || []) {
    if (!slots.every((s) => Number.isFinite(s[extra.key]))) continue;
    datasets.push({
      label: extra.label,
      data: steps(
        times,
        end,
        slots.map((s) => s[extra.key]),
      ),
      stepped: "after",
      borderColor: extra.color,
      backgroundColor: extra.color,
      borderDash: [2, 3],
      fill: false,
      borderWidth: 1.5,
      pointRadius: 0,
      order: 0,
    });
  }
  const options = baseOptions(colors);
  options.plugins.phoenyraNow = { color: colors.text };
  options.plugins.legend.display = shown.length > 0 || datasets.length > compared;
  options.plugins.tooltip.callbacks = { label: tooltipNumber(hass, "kW", 2) };
  options.scales = {
    x: timeAxis(hass, colors, times[0], end),
    y: valueAxis(colors, "kW", "left", { beginAtZero: true }),
  };
  return { type: "line", data: { datasets }, options, series: compared };
}

/** Profit per day (bars: green for a gain, red for a loss). */
export function dailyProfitChart(hass, t, colors, analytics) {
  const daily = analytics?.daily || [];
  if (!daily.length) return undefined;
  const options = baseOptions(colors);
  options.plugins.legend.display = false;
  options.plugins.tooltip.callbacks = { label: tooltipNumber(hass, "EUR", 2) };
  options.scales = {
    x: {
      type: "category",
      ticks: { color: colors.secondary, maxRotation: 0, autoSkipPadding: 8 },
      grid: { display: false },
      border: { color: colors.divider },
    },
    y: valueAxis(colors, "EUR"),
  };
  return {
    type: "bar",
    data: {
      labels: daily.map((d) => formatDay(hass, d.day)),
      datasets: [
        {
          label: t("daily_profit"),
          data: daily.map((d) => d.profit_eur),
          backgroundColor: daily.map((d) => (d.profit_eur >= 0 ? colors.success : colors.error)),
          borderWidth: 0,
          maxBarThickness: 28,
        },
      ],
    },
    options,
  };
}

const STRATEGY_ORDER = ["arbitrage", "peak_shaving", "self_consumption", "load_balancing"];

/** Hours per strategy (doughnut). */
export function strategyChart(hass, t, colors, analytics) {
  const hours = analytics?.strategy_hours || {};
  const keys = Object.keys(hours)
    .filter((key) => hours[key] > 0)
    .sort((a, b) => {
      const ia = STRATEGY_ORDER.indexOf(a);
      const ib = STRATEGY_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
  if (!keys.length) return undefined;
  const palette = {
    arbitrage: colors.gridIn,
    peak_shaving: colors.error,
    self_consumption: colors.solar,
    load_balancing: colors.batteryOut,
  };
  const total = keys.reduce((sum, key) => sum + hours[key], 0);
  const options = baseOptions(colors);
  options.interaction = { mode: "nearest", intersect: true };
  options.plugins.legend.position = "right";
  options.plugins.tooltip.callbacks = {
    label: (item) =>
      `${item.label}: ${formatNumber(hass, item.parsed, 1)} ${t("hours")} (${formatNumber(hass, (100 * item.parsed) / total, 0)} %)`,
  };
  return {
    type: "doughnut",
    data: {
      labels: keys.map((key) => strategyName(t, key)),
      datasets: [
        {
          data: keys.map((key) => hours[key]),
          backgroundColor: keys.map((key) => palette[key] || colors.secondary),
          borderColor: colors.background,
          borderWidth: 2,
        },
      ],
    },
    options,
  };
}
