// Building blocks of the Live tab and the cards: KPI tiles, system status, plan charts.

import { LitElement, html, css, nothing } from "lit";
import "./chart.js";
import { themeColors } from "./chart.js";
import { planChart, priceChart } from "./charts-config.js";
import { formatNumber, formatTime } from "./format.js";
import { strategyName, translator } from "./i18n.js";
import { cardStyles } from "./styles.js";

/** A key that changes when what charts depend on changes: theme, language, number and time formats. */
export function lookKey(hass) {
  const locale = hass?.locale || {};
  return [
    hass?.themes?.darkMode,
    hass?.themes?.theme,
    hass?.selectedTheme?.theme,
    hass?.selectedTheme?.dark,
    locale.language,
    locale.number_format,
    locale.time_format,
    locale.time_zone,
  ].join("|");
}

function batteryText(t, kw) {
  if (kw === null || kw === undefined) return "";
  if (kw > 0.005) return t("discharging");
  if (kw < -0.005) return t("charging");
  return t("idle");
}

class PhoenyraEmsKpis extends LitElement {
  static properties = {
    hass: { attribute: false },
    state: { attribute: false },
  };

  updated() {
    const time = this.state?.time;
    if (time && this.getAttribute("data-state-time") !== time) this.setAttribute("data-state-time", time);
  }

  render() {
    const t = translator(this.hass);
    const s = this.state;
    if (!s) return html`<div class="empty">${t("loading")}</div>`;
    const soc = s.soc_pct;
    const choice = s.strategy_choice === "auto" ? t("auto_choice") : t("manual_choice");
    return html`
      <div class="kpis">
        <div class="kpi">
          <span class="label">${t("soc")}</span>
          <span class="value" data-kpi="soc">${formatNumber(this.hass, soc, 1)}<span class="unit">%</span></span>
          <div class="bar"><div style="width:${Math.max(0, Math.min(100, soc ?? 0))}%"></div></div>
        </div>
        <div class="kpi">
          <span class="label">${t("battery_power")}</span>
          <span class="value" data-kpi="battery">${formatNumber(this.hass, s.battery_kw, 2)}<span class="unit">kW</span></span>
          <span class="sub">${batteryText(t, s.battery_kw)}</span>
        </div>
        <div class="kpi">
          <span class="label">${t("active_strategy")}</span>
          <span class="value small" data-kpi="strategy">${s.active_strategy ? strategyName(t, s.active_strategy) : "–"}</span>
          <span class="sub">${s.enabled === false ? t("ems_disabled") : s.plan_valid ? choice : t("no_plan")}</span>
        </div>
        <div class="kpi">
          <span class="label">${t("expected_profit")}</span>
          <span class="value" data-kpi="profit">${formatNumber(this.hass, s.expected_profit_eur, 2)}<span class="unit">EUR</span></span>
          <span class="sub">${t("profit_today")}: ${formatNumber(this.hass, s.profit_today_eur, 2)} EUR</span>
        </div>
      </div>
    `;
  }

  static styles = [
    cardStyles,
    css`
      .value.small {
        font-size: 1.3em;
      }
    `,
  ];
}

class PhoenyraEmsStatus extends LitElement {
  static properties = {
    hass: { attribute: false },
    state: { attribute: false },
  };

  render() {
    const t = translator(this.hass);
    const s = this.state;
    if (!s) return nothing;
    const grid = s.grid_kw;
    const gridText = grid > 0.005 ? t("importing") : grid < -0.005 ? t("exporting") : "";
    return html`
      <div class="status">
        <div class="row">
          <span>${t("grid_power")}${gridText ? html` <span class="muted">(${gridText})</span>` : nothing}</span>
          <span data-status="grid">${formatNumber(this.hass, grid, 2)} kW</span>
        </div>
        <div class="row"><span>${t("pv_power")}</span><span data-status="pv">${formatNumber(this.hass, s.pv_kw, 2)} kW</span></div>
        <div class="row"><span>${t("load_power")}</span><span data-status="load">${formatNumber(this.hass, s.load_kw, 2)} kW</span></div>
        <div class="row">
          <span>${t("current_price")}</span>
          <span data-status="price">${formatNumber(this.hass, s.import_price_eur_kwh, 4)} EUR/kWh</span>
        </div>
      </div>
      <div class="muted updated">${t("updated")}: <span data-status="time">${formatTime(this.hass, s.time, true)}</span></div>
    `;
  }

  static styles = [
    cardStyles,
    css`
      .updated {
        margin-top: 8px;
        font-size: 0.85em;
      }
    `,
  ];
}

class PhoenyraEmsPlanCharts extends LitElement {
  static properties = {
    hass: { attribute: false },
    plan: { attribute: false },
    forecast: { attribute: false },
    height: { type: Number },
  };

  constructor() {
    super();
    this.height = 240;
    this._memo = {};
  }

  _configs() {
    const key = lookKey(this.hass);
    const memo = this._memo;
    if (memo.plan !== this.plan || memo.forecast !== this.forecast || memo.key !== key) {
      const t = translator(this.hass);
      const colors = themeColors(this);
      this._memo = {
        plan: this.plan,
        forecast: this.forecast,
        key,
        planConfig: planChart(this.hass, t, colors, this.plan, this.forecast),
        priceConfig: priceChart(this.hass, t, colors, this.plan),
      };
    }
    return this._memo;
  }

  render() {
    const t = translator(this.hass);
    if (!this.plan) return html`<div class="empty">${t("loading")}</div>`;
    if (!this.plan.valid) return html`<div class="empty">${t("no_plan")}</div>`;
    const { planConfig, priceConfig } = this._configs();
    return html`
      <div class="chart-title">${t("plan_chart")}</div>
      <phoenyra-ems-chart data-chart="plan" .height=${this.height} .config=${planConfig}></phoenyra-ems-chart>
      <div class="chart-title">${t("price_chart")}</div>
      <phoenyra-ems-chart data-chart="price" .height=${this.height} .config=${priceConfig}></phoenyra-ems-chart>
    `;
  }

  static styles = cardStyles;
}

for (const [name, element] of [
  ["phoenyra-ems-kpis", PhoenyraEmsKpis],
  ["phoenyra-ems-status", PhoenyraEmsStatus],
  ["phoenyra-ems-plan-charts", PhoenyraEmsPlanCharts],
]) {
  if (!customElements.get(name)) customElements.define(name, element);
}
