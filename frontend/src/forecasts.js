// The Forecasts tab: the prices, load and PV the current plan was made for, and every other load and PV
// forecast the site has, for comparison (asked for only while this tab is shown).

import { LitElement, html, css, nothing } from "lit";
import { errorMessage, fetchForecast } from "./api.js";
import "./chart.js";
import { themeColors } from "./chart.js";
import { alternativeLabel, forecastPriceChart, forecastSeriesChart } from "./charts-config.js";
import { translator } from "./i18n.js";
import { lookKey } from "./live.js";
import { cardStyles } from "./styles.js";

class PhoenyraEmsForecasts extends LitElement {
  static properties = {
    hass: { attribute: false },
    entryId: { attribute: false },
    forecast: { attribute: false },
    _alternatives: { state: true },
    _alternativesError: { state: true },
  };

  constructor() {
    super();
    this._memo = {};
    this._asked = undefined;
  }

  willUpdate(changed) {
    if ((changed.has("forecast") || changed.has("entryId")) && this.hass && this.entryId && this.forecast?.start) {
      this._askAlternatives(this.entryId, this.forecast);
    }
  }

  /** Asks for the alternatives of the plan shown (once per plan). */
  async _askAlternatives(entryId, forecast) {
    const key = `${entryId}|${forecast.start}|${forecast.slots?.length}`;
    if (this._asked === key) return;
    this._asked = key;
    if (this._alternatives?.key !== key) this._alternatives = undefined;
    try {
      const full = await fetchForecast(this.hass, entryId, true);
      if (this._asked !== key) return;
      // A newer plan may have come meanwhile: its forecast will ask again.
      if (full.start === forecast.start && full.slots?.length === forecast.slots?.length) {
        this._alternatives = { key, ...(full.alternatives || {}) };
        this._alternativesError = undefined;
      }
    } catch (err) {
      if (this._asked === key) {
        this._asked = undefined;
        this._alternativesError = errorMessage(err);
      }
    }
  }

  /** The alternatives of the forecast shown, when they have arrived. */
  _current() {
    const forecast = this.forecast;
    const alternatives = this._alternatives;
    if (!forecast || !alternatives) return undefined;
    return alternatives.key === `${this.entryId}|${forecast.start}|${forecast.slots?.length}` ? alternatives : undefined;
  }

  _configs(t) {
    const key = lookKey(this.hass);
    const alternatives = this._current();
    if (this._memo.forecast !== this.forecast || this._memo.key !== key || this._memo.alternatives !== alternatives) {
      const colors = themeColors(this);
      const palette = [colors.gridIn, colors.batteryOut, colors.gridOut, colors.warning, colors.secondary];
      this._memo = {
        forecast: this.forecast,
        key,
        alternatives,
        prices: forecastPriceChart(this.hass, t, colors, this.forecast),
        load: forecastSeriesChart(
          this.hass,
          t,
          colors,
          this.forecast,
          "load_kw",
          t("load"),
          colors.load,
          alternatives?.load,
          palette,
          [{ key: "load_high_kw", label: t("cautious_load"), color: colors.warning }],
        ),
        pv: forecastSeriesChart(
          this.hass,
          t,
          colors,
          this.forecast,
          "pv_kw",
          t("pv"),
          colors.solar,
          alternatives?.pv,
          palette,
          [
            { key: "pv_high_kw", label: t("pv_sunniest"), color: colors.gridOut },
            { key: "pv_low_kw", label: t("pv_dullest"), color: colors.secondary },
          ],
        ),
      };
    }
    return this._memo;
  }

  /** Notes under a load or PV chart: how to read it, and which forecasts failed and why. */
  _notes(t, kind, config) {
    const failed = (this._current()?.[kind] || []).filter((a) => a.error);
    return html`
      ${config?.series > 1 ? html`<div class="muted note" data-note="${kind}-alternatives">${t("alternatives_note")}</div>` : nothing}
      ${failed.map(
        (a) => html`<div class="muted note" data-note="${kind}-failed">
          ${t("alternative_failed", { name: alternativeLabel(t, a), error: a.error })}
        </div>`,
      )}
    `;
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
        <div class="card" data-series=${load?.series || 0}>
          <h2>${t("load_forecast")}</h2>
          <phoenyra-ems-chart data-chart="forecast_load" .height=${240} .config=${load}></phoenyra-ems-chart>
          ${this._notes(t, "load", load)}
        </div>
        <div class="card" data-series=${pv?.series || 0}>
          <h2>${t("pv_forecast")}</h2>
          <phoenyra-ems-chart data-chart="forecast_pv" .height=${240} .config=${pv}></phoenyra-ems-chart>
          ${this._notes(t, "pv", pv)}
        </div>
        ${this._alternativesError
          ? html`<div class="card wide muted note" data-note="alternatives-error">
              ${t("alternatives_unavailable", { error: this._alternativesError })}
            </div>`
          : nothing}
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
