// Lovelace cards: the plan card (live charts) and the KPI card, with a small editor to pick the site.

import { LitElement, html, css, nothing } from "lit";
import { SiteFeed, errorMessage, fetchSites } from "./api.js";
import { translator } from "./i18n.js";
import { cardStyles } from "./styles.js";
import "./live.js";

/** The site a card shows: its configured entry_id, or the first site. */
async function resolveSite(hass, entryId) {
  const sites = await fetchSites(hass);
  if (entryId) return sites.find((site) => site.entry_id === entryId);
  return sites[0];
}

class PhoenyraEmsCardBase extends LitElement {
  static properties = {
    hass: { attribute: false },
    _config: { state: true },
    _site: { state: true },
    _error: { state: true },
  };

  constructor() {
    super();
    this._feed = new SiteFeed(() => this.requestUpdate());
    this._resolvedFor = undefined;
  }

  static getStubConfig() {
    return {};
  }

  static getConfigElement() {
    return document.createElement("phoenyra-ems-card-editor");
  }

  setConfig(config) {
    if (!config || typeof config !== "object") throw new Error("Invalid configuration");
    if (config.entry_id !== undefined && typeof config.entry_id !== "string") {
      throw new Error("entry_id must be the config entry id of a Phoenyra EMS site");
    }
    this._config = config;
  }

  connectedCallback() {
    super.connectedCallback();
    this._follow();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this._feed.disconnect();
  }

  updated(changed) {
    if (changed.has("hass") || changed.has("_config")) {
      const wanted = this._config?.entry_id || "";
      if (this.hass && this._resolvedFor !== wanted) {
        this._resolvedFor = wanted;
        this._feed.disconnect();
        this._feed.clear();
        this._site = undefined;
        resolveSite(this.hass, wanted)
          .then((site) => {
            if (this._resolvedFor !== wanted) return;
            this._site = site || null;
            this._error = undefined;
            this._follow();
          })
          .catch((err) => {
            this._error = errorMessage(err);
            this._resolvedFor = undefined;
          });
      }
    }
  }

  _follow() {
    if (this.isConnected && this.hass && this._site) this._feed.connect(this.hass, this._site.entry_id);
  }

  _frame(t, body) {
    const title = this._config?.title ?? (this._site ? `${this._site.title}` : t("title"));
    return html`<ha-card>
      <div class="card-content">
        ${title ? html`<h2>${title}</h2>` : nothing}
        ${this._error
          ? html`<div class="error">${this._error}</div>`
          : this._site === null
            ? html`<div class="empty">${t("no_sites")}</div>`
            : this._feed.error
              ? html`<div class="error">${this._feed.error}</div>`
              : html`${this._feed.restarting
                    ? html`<div class="muted" data-note="restarting">${t("site_restarting")}</div>`
                    : nothing}${body}`}
      </div>
    </ha-card>`;
  }

  static styles = [
    cardStyles,
    css`
      ha-card {
        height: 100%;
        overflow: hidden;
      }
      .card-content {
        padding: 16px;
      }
      h2 {
        margin: 0 0 12px;
        font-size: 1.2em;
        font-weight: 500;
      }
      .status-block {
        margin-top: 16px;
      }
    `,
  ];
}

class PhoenyraEmsPlanCard extends PhoenyraEmsCardBase {
  getCardSize() {
    return 8;
  }

  getGridOptions() {
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  render() {
    if (!this.hass || !this._config) return nothing;
    const t = translator(this.hass);
    return this._frame(
      t,
      html`<phoenyra-ems-plan-charts
        .hass=${this.hass}
        .plan=${this._feed.plan}
        .forecast=${this._feed.forecast}
        .height=${this._config.chart_height || 220}
      ></phoenyra-ems-plan-charts>`,
    );
  }
}

class PhoenyraEmsKpiCard extends PhoenyraEmsCardBase {
  getCardSize() {
    return this._config?.show_status === false ? 3 : 5;
  }

  getGridOptions() {
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  render() {
    if (!this.hass || !this._config) return nothing;
    const t = translator(this.hass);
    return this._frame(
      t,
      html`<phoenyra-ems-kpis .hass=${this.hass} .state=${this._feed.state}></phoenyra-ems-kpis>
        ${this._config.show_status === false
          ? nothing
          : html`<div class="status-block">
              <phoenyra-ems-status .hass=${this.hass} .state=${this._feed.state}></phoenyra-ems-status>
            </div>`}`,
    );
  }
}

class PhoenyraEmsCardEditor extends LitElement {
  static properties = {
    hass: { attribute: false },
    _config: { state: true },
    _sites: { state: true },
  };

  setConfig(config) {
    this._config = config;
  }

  updated(changed) {
    if (changed.has("hass") && this.hass && !this._sites) {
      this._sites = [];
      fetchSites(this.hass)
        .then((sites) => (this._sites = sites))
        .catch(() => undefined);
    }
  }

  _changed(key, value) {
    const config = { ...this._config };
    if (value === "" || value === undefined || value === true) {
      delete config[key];
    } else {
      config[key] = value;
    }
    this._config = config;
    this.dispatchEvent(new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }));
  }

  render() {
    if (!this.hass || !this._config) return nothing;
    const t = translator(this.hass);
    const isKpi = (this._config.type || "").includes("kpi");
    return html`
      <div class="editor">
        <label for="site">${t("card_site")}</label>
        <select id="site" @change=${(ev) => this._changed("entry_id", ev.target.value)}>
          <option value="" ?selected=${!this._config.entry_id}>${t("card_first_site")}</option>
          ${(this._sites || []).map(
            (site) => html`<option value=${site.entry_id} ?selected=${site.entry_id === this._config.entry_id}>${site.title}</option>`,
          )}
        </select>
        ${isKpi
          ? html`<label class="check">
              <input
                type="checkbox"
                .checked=${this._config.show_status !== false}
                @change=${(ev) => this._changed("show_status", ev.target.checked)}
              />
              ${t("card_show_status")}
            </label>`
          : nothing}
      </div>
    `;
  }

  static styles = [
    cardStyles,
    css`
      .editor {
        display: flex;
        flex-direction: column;
        gap: 8px;
      }
      .check {
        display: flex;
        align-items: center;
        gap: 8px;
      }
    `,
  ];
}

for (const [name, element] of [
  ["phoenyra-ems-plan-card", PhoenyraEmsPlanCard],
  ["phoenyra-ems-kpi-card", PhoenyraEmsKpiCard],
  ["phoenyra-ems-card-editor", PhoenyraEmsCardEditor],
]) {
  if (!customElements.get(name)) customElements.define(name, element);
}

// The card picker lists custom cards from window.customCards.
const picker = translator(window.document?.documentElement?.lang ? { language: document.documentElement.lang } : undefined);
window.customCards = window.customCards || [];
for (const card of [
  { type: "phoenyra-ems-plan-card", name: picker("card_plan_name"), description: picker("card_plan_description") },
  { type: "phoenyra-ems-kpi-card", name: picker("card_kpi_name"), description: picker("card_kpi_description") },
]) {
  if (!window.customCards.some((known) => known.type === card.type)) {
    window.customCards.push({ ...card, preview: true, documentationURL: "https://github.com/phoenyra/phoenyra-ems" });
  }
}
