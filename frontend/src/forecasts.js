// The Forecasts tab: the prices, load and PV the current plan was made for.

import { LitElement, html, css, nothing } from "lit";
import "./chart.js";
import { themeColors } from "./chart.js";
import { forecastPriceChart, forecastSeriesChart } from "./charts-config.js";
import { translator } from "./i18n.js";
import { lookKey } from "./live.js";
import { cardStyles } from "./styles.js";

class PhoenyraEmsForecasts extends LitElement {
  static properties = {
    hass: { attribute: false },
    forecast: { attribute: false },
  };

  constructor() {
    super();
    this._memo = {};
  }

  _configs(t) {
    const key = lookKey(this.hass);
    if (this._memo.forecast !== this.forecast || this._memo.key !== key) {
      const colors = themeColors(this);
      this._memo = {
        forecast: this.forecast,
        key,
        prices: forecastPriceChart(this.hass, t, colors, this.forecast),
        load: forecastSeriesChart(this.hass, colors, this.forecast, "load_kw", t("load"), colors.load),
        pv: forecastSeriesChart(this.hass, colors, this.forecast, "pv_kw", t("pv"), colors.solar),
      };
    }
    return this._memo;
  }

  render() {
    const t = translator(this.hass);
    if (!this.forecast) return html`<div class="card empty">${t("loading")}</div>`;
    if (!this.forecast.slots?.length) return html`<div class="card empty">${t("no_data")}</div>`;
    const { prices, load, pv } = this._configs(t);
    return html`
      <div class="grid">
        <div class="card wide">
          <h2>${t("price_forecast")}</h2>
          <phoenyra-ems-chart data-chart="forecast_prices" .height=${260} .config=${prices}></phoenyra-ems-chart>
          ${prices?.forecastSlots ? html`<div class="muted note" data-note="price-forecast">${t("forecast_note")}</div>` : nothing}
        </div>
        <div class="card">
          <h2>${t("load_forecast")}</h2>
          <phoenyra-ems-chart data-chart="forecast_load" .height=${220} .config=${load}></phoenyra-ems-chart>
        </div>
        <div class="card">
          <h2>${t("pv_forecast")}</h2>
          <phoenyra-ems-chart data-chart="forecast_pv" .height=${220} .config=${pv}></phoenyra-ems-chart>
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
      .note {
        font-size: 0.85em;
        margin-top: 6px;
      }
    `,
  ];
}

if (!customElements.get("phoenyra-ems-forecasts")) {
  customElements.define("phoenyra-ems-forecasts", PhoenyraEmsForecasts);
}
