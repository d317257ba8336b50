// The Analytics tab: totals over a period, daily profit, strategy shares, recent optimizations.

import { LitElement, html, css, nothing } from "lit";
import "./chart.js";
import { themeColors } from "./chart.js";
import { errorMessage, fetchAnalytics } from "./api.js";
import { dailyProfitChart, strategyChart } from "./charts-config.js";
import { formatDateTime, formatNumber } from "./format.js";
import { strategyName, translator } from "./i18n.js";
import { lookKey } from "./live.js";
import { cardStyles } from "./styles.js";

const PERIODS = [7, 30, 90, 365];

class PhoenyraEmsAnalytics extends LitElement {
  static properties = {
    hass: { attribute: false },
    entryId: { attribute: false },
    _days: { state: true },
    _data: { state: true },
    _error: { state: true },
  };

  constructor() {
    super();
    this._days = 30;
    this._loadedFor = undefined;
    this._memo = {};
  }

  willUpdate(changed) {
    if ((changed.has("entryId") || changed.has("_days") || changed.has("hass")) && this.hass && this.entryId) {
      const key = `${this.entryId}|${this._days}`;
      if (key !== this._loadedFor) {
        this._loadedFor = key;
        this._load(key);
      }
    }
  }

  /** Loads the figures again (the panel calls this when the tab is shown). */
  refresh() {
    this._loadedFor = undefined;
    this.requestUpdate();
  }

  async _load(key) {
    try {
      const data = await fetchAnalytics(this.hass, this.entryId, this._days);
      if (key === this._loadedFor) {
        this._data = data;
        this._error = undefined;
      }
    } catch (err) {
      if (key === this._loadedFor) this._error = errorMessage(err);
    }
  }

  _configs(t) {
    const key = lookKey(this.hass);
    if (this._memo.data !== this._data || this._memo.key !== key) {
      const colors = themeColors(this);
      this._memo = {
        data: this._data,
        key,
        daily: dailyProfitChart(this.hass, t, colors, this._data),
        strategies: strategyChart(this.hass, t, colors, this._data),
      };
    }
    return this._memo;
  }

  render() {
    const t = translator(this.hass);
    const d = this._data;
    const n = (value, decimals) => formatNumber(this.hass, value, decimals);
    const header = html`
      <div class="period">
        <label for="days">${t("period")}</label>
        <select id="days" data-control="days" .value=${String(this._days)} @change=${(ev) => (this._days = Number(ev.target.value))}>
          ${PERIODS.map((days) => html`<option value=${days} ?selected=${days === this._days}>${t("days_n", { n: days })}</option>`)}
        </select>
        ${d ? html`<span class="muted">${t(d.days_with_data === 1 ? "days_with_data_1" : "days_with_data", { n: d.days_with_data })}</span>` : nothing}
      </div>
    `;
    if (this._error) return html`${header}<div class="card error">${this._error}</div>`;
    if (!d) return html`${header}<div class="card empty">${t("loading")}</div>`;
    const { daily, strategies } = this._configs(t);
    const runs = d.recent_optimizations || [];
    return html`
      ${header}
      <div class="grid">
        <div class="card kpis wide">
          <div class="kpi">
            <span class="label">${t("total_profit")}</span>
            <span class="value" data-kpi="total_profit">${n(d.total_profit_eur, 2)}<span class="unit">EUR</span></span>
          </div>
          <div class="kpi">
            <span class="label">${t("avg_daily_profit")}</span>
            <span class="value" data-kpi="avg_profit">${n(d.average_daily_profit_eur, 2)}<span class="unit">EUR</span></span>
          </div>
          <div class="kpi">
            <span class="label">${t("cycles")}</span>
            <span class="value" data-kpi="cycles">${n(d.cycles, 2)}</span>
          </div>
          <div class="kpi">
            <span class="label">${t("avg_soc")}</span>
            <span class="value" data-kpi="avg_soc">${n(d.average_soc_pct, 1)}<span class="unit">%</span></span>
          </div>
        </div>
        <div class="card">
          <h2>${t("daily_profit")}</h2>
          ${daily
            ? html`<phoenyra-ems-chart data-chart="daily_profit" .height=${240} .config=${daily}></phoenyra-ems-chart>`
            : html`<div class="empty">${t("no_data")}</div>`}
        </div>
        <div class="card">
          <h2>${t("strategy_distribution")}</h2>
          ${strategies
            ? html`<phoenyra-ems-chart data-chart="strategies" .height=${240} .config=${strategies}></phoenyra-ems-chart>`
            : html`<div class="empty">${t("no_data")}</div>`}
        </div>
        <div class="card wide">
          <h2>${t("recent_optimizations")}</h2>
          ${runs.length
            ? html`<div class="table-wrap">
                <table data-table="runs">
                  <thead>
                    <tr>
                      <th>${t("time")}</th>
                      <th>${t("strategy")}</th>
                      <th class="num">${t("expected_profit")}</th>
                      <th>${t("status")}</th>
                      <th>${t("engine")}</th>
                      <th class="num">${t("solve_time")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${runs.map(
                      (run) => html`<tr title=${run.reason || ""}>
                        <td>${formatDateTime(this.hass, run.time)}</td>
                        <td>${strategyName(t, run.strategy)}</td>
                        <td class="num">${run.expected_profit_eur === null ? "–" : `${n(run.expected_profit_eur, 2)} EUR`}</td>
                        <td class=${run.status === "failed" ? "error" : ""}>${run.status}</td>
                        <td>${run.engine || "–"}</td>
                        <td class="num">${run.solve_ms === null ? "–" : `${n(run.solve_ms, 1)} ms`}</td>
                      </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
            : html`<div class="empty">${t("no_data")}</div>`}
        </div>
      </div>
    `;
  }

  static styles = [
    cardStyles,
    css`
      :host {
        display: block;
      }
      .period {
        display: flex;
        align-items: center;
        flex-wrap: wrap;
        gap: 8px 12px;
        margin-bottom: 12px;
      }
      .grid {
        display: grid;
        grid-template-columns: repeat(2, minmax(0, 1fr));
        gap: 16px;
      }
      .wide {
        grid-column: 1 / -1;
      }
      @media (max-width: 870px) {
        .grid {
          grid-template-columns: minmax(0, 1fr);
        }
      }
      .table-wrap {
        overflow-x: auto;
      }
      table {
        width: 100%;
        border-collapse: collapse;
        font-size: 0.9em;
      }
      th,
      td {
        text-align: left;
        padding: 6px 8px;
        border-bottom: 1px solid var(--divider-color, #e0e0e0);
        white-space: nowrap;
      }
      th {
        color: var(--secondary-text-color);
        font-weight: 500;
      }
      .num {
        text-align: right;
      }
    `,
  ];
}

if (!customElements.get("phoenyra-ems-analytics")) {
  customElements.define("phoenyra-ems-analytics", PhoenyraEmsAnalytics);
}
