// <phoenyra-ems-panel>: the sidebar panel with the tabs Live, Analytics, Forecasts and Settings.

import { LitElement, html, css, nothing } from "lit";
import { SiteFeed, errorMessage, fetchSites, optimizeNow } from "./api.js";
import { translator } from "./i18n.js";
import { cardStyles } from "./styles.js";
import "./live.js";
import "./analytics.js";
import "./forecasts.js";
import "./settings.js";

const TABS = ["live", "analytics", "forecasts", "settings"];
const SITE_KEY = "phoenyra-ems-site";
const MENU_ICON = "M3,6H21V8H3V6M3,11H21V13H3V11M3,16H21V18H3V16Z";

class PhoenyraEmsPanel extends LitElement {
  static properties = {
    hass: { attribute: false },
    narrow: { type: Boolean },
    route: { attribute: false },
    panel: { attribute: false },
    _sites: { state: true },
    _entryId: { state: true },
    _sitesError: { state: true },
    _busy: { state: true },
  };

  constructor() {
    super();
    this._feed = new SiteFeed(() => this.requestUpdate());
    this._onVisibility = () => this._follow();
    this._sitesRequested = false;
  }

  connectedCallback() {
    super.connectedCallback();
    document.addEventListener("visibilitychange", this._onVisibility);
    this._follow();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    document.removeEventListener("visibilitychange", this._onVisibility);
    this._feed.disconnect();
  }

  willUpdate(changed) {
    if (changed.has("hass") && this.hass && !this._sitesRequested) {
      this._sitesRequested = true;
      this._loadSites();
    }
  }

  updated(changed) {
    if (changed.has("_entryId") || changed.has("hass")) this._follow();
    if (changed.has("route")) {
      const tab = this._tab();
      if (tab !== this._shownTab) {
        this._shownTab = tab;
        // Figures that are not pushed live are fetched anew whenever their tab is shown.
        this.renderRoot.querySelector(`[data-tab-content="${tab}"]`)?.refresh?.();
      }
    }
  }

  /** Follows the chosen site while the panel is shown, and only then. */
  _follow() {
    if (!this.isConnected || document.visibilityState === "hidden" || !this.hass || !this._entryId) {
      this._feed.disconnect();
      return;
    }
    this._feed.connect(this.hass, this._entryId);
  }

  async _loadSites() {
    try {
      const sites = await fetchSites(this.hass);
      this._sites = sites;
      this._sitesError = undefined;
      const stored = window.localStorage.getItem(SITE_KEY);
      const chosen = sites.find((site) => site.entry_id === this._entryId || site.entry_id === stored) || sites[0];
      this._entryId = chosen?.entry_id;
    } catch (err) {
      this._sitesError = errorMessage(err);
      setTimeout(() => this._loadSites(), 5000);
    }
  }

  _chooseSite(entryId) {
    if (entryId === this._entryId) return;
    window.localStorage.setItem(SITE_KEY, entryId);
    this._feed.disconnect();
    this._feed.clear();
    this._entryId = entryId;
  }

  _tab() {
    const segment = (this.route?.path || "").split("/")[1];
    return TABS.includes(segment) ? segment : "live";
  }

  _showTab(tab) {
    const prefix = this.route?.prefix || "/phoenyra-ems";
    const url = `${prefix}/${tab}${window.location.search}`;
    if (window.location.pathname === `${prefix}/${tab}`) return;
    window.history.pushState(null, "", url);
    window.dispatchEvent(new CustomEvent("location-changed", { detail: { replace: false } }));
  }

  _toggleMenu() {
    this.dispatchEvent(new Event("hass-toggle-menu", { bubbles: true, composed: true }));
  }

  async _optimize() {
    this._busy = true;
    try {
      await optimizeNow(this.hass, this._entryId);
    } catch (_err) {
      // The next event shows the outcome.
    }
    this._busy = false;
  }

  _renderLive(t) {
    const feed = this._feed;
    return html`
      <div class="live">
        <div class="card wide">
          <phoenyra-ems-kpis .hass=${this.hass} .state=${feed.state}></phoenyra-ems-kpis>
        </div>
        <div class="card charts">
          <div class="card-head">
            <h2>${t("plan")}</h2>
            ${this.hass.user?.is_admin
              ? html`<button class="secondary" data-action="optimize" ?disabled=${this._busy} @click=${this._optimize}>
                  ${t("optimize_now")}
                </button>`
              : nothing}
          </div>
          <phoenyra-ems-plan-charts
            .hass=${this.hass}
            .plan=${feed.plan}
            .forecast=${feed.forecast}
            .height=${this.narrow ? 220 : 260}
          ></phoenyra-ems-plan-charts>
          ${feed.plan?.reason ? html`<div class="muted reason">${t("reason")}: ${feed.plan.reason}</div>` : nothing}
        </div>
        <div class="card status">
          <h2>${t("system_status")}</h2>
          <phoenyra-ems-status .hass=${this.hass} .state=${feed.state}></phoenyra-ems-status>
        </div>
      </div>
    `;
  }

  _renderTab(tab, t) {
    switch (tab) {
      case "analytics":
        return html`<phoenyra-ems-analytics data-tab-content="analytics" .hass=${this.hass} .entryId=${this._entryId}></phoenyra-ems-analytics>`;
      case "forecasts":
        return html`<phoenyra-ems-forecasts
          data-tab-content="forecasts"
          .hass=${this.hass}
          .entryId=${this._entryId}
          .forecast=${this._feed.forecast}
        ></phoenyra-ems-forecasts>`;
      case "settings":
        // After a save the site restarts: its subscription ends and the feed follows it again.
        return html`<phoenyra-ems-settings data-tab-content="settings" .hass=${this.hass} .entryId=${this._entryId}></phoenyra-ems-settings>`;
      default:
        return this._renderLive(t);
    }
  }

  render() {
    if (!this.hass) return nothing;
    const t = translator(this.hass);
    const tab = this._tab();
    const sites = this._sites || [];
    let content;
    if (this._sitesError) {
      content = html`<div class="card error">${this._sitesError}</div>`;
    } else if (!this._sites) {
      content = html`<div class="card empty">${t("loading")}</div>`;
    } else if (!sites.length || !this._entryId) {
      content = html`<div class="card empty" data-note="no-sites">${t("no_sites")}</div>`;
    } else {
      content = html`
        ${this._feed.restarting
          ? html`<div class="card notice feed-note" data-note="restarting">${t("site_restarting")}</div>`
          : nothing}
        ${this._feed.error ? html`<div class="card error feed-error">${this._feed.error}</div>` : nothing}
        ${this._renderTab(tab, t)}
      `;
    }
    return html`
      <div class="header">
        <div class="toolbar">
          ${this.narrow
            ? html`<button class="icon" title="Menu" aria-label="Menu" @click=${this._toggleMenu}>
                <svg viewBox="0 0 24 24"><path d=${MENU_ICON}></path></svg>
              </button>`
            : nothing}
          <div class="title">${t("title")}</div>
          ${sites.length > 1
            ? html`<select
                class="site"
                aria-label=${t("site")}
                data-control="site"
                @change=${(ev) => this._chooseSite(ev.target.value)}
              >
                ${sites.map(
                  (site) => html`<option value=${site.entry_id} ?selected=${site.entry_id === this._entryId}>${site.title}</option>`,
                )}
              </select>`
            : nothing}
        </div>
        <div class="tabs" role="tablist">
          ${TABS.map(
            (name) => html`<button
              role="tab"
              class="tab ${name === tab ? "active" : ""}"
              aria-selected=${name === tab ? "true" : "false"}
              data-tab=${name}
              @click=${() => this._showTab(name)}
            >
              ${t(`tab_${name}`)}
            </button>`,
          )}
        </div>
      </div>
      <div class="content" data-site=${this._entryId || ""}>${content}</div>
    `;
  }

  static styles = [
    cardStyles,
    css`
      :host {
        display: block;
        min-height: 100vh;
        background: var(--primary-background-color);
        -webkit-font-smoothing: antialiased;
      }
      .header {
        position: sticky;
        top: 0;
        z-index: 2;
        background: var(--app-header-background-color, var(--primary-color));
        color: var(--app-header-text-color, var(--text-primary-color, #fff));
        border-bottom: var(--app-header-border-bottom, none);
        padding-top: env(safe-area-inset-top);
      }
      .toolbar {
        display: flex;
        align-items: center;
        height: 56px;
        padding: 0 12px 0 16px;
        gap: 8px;
        box-sizing: border-box;
      }
      .title {
        flex: 1;
        font-size: 20px;
        font-weight: 400;
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      button.icon {
        background: none;
        border: none;
        padding: 8px;
        margin-left: -8px;
        width: 40px;
        height: 40px;
        border-radius: 50%;
        color: inherit;
        min-height: 0;
      }
      button.icon svg {
        width: 24px;
        height: 24px;
        fill: currentColor;
      }
      select.site {
        max-width: 45%;
        background: transparent;
        color: inherit;
        border-color: currentColor;
      }
      select.site option {
        color: var(--primary-text-color);
        background: var(--card-background-color, #fff);
      }
      .tabs {
        display: flex;
        overflow-x: auto;
        scrollbar-width: none;
        padding: 0 8px;
      }
      .tab {
        flex: 0 0 auto;
        background: none;
        border: none;
        border-radius: 0;
        border-bottom: 2px solid transparent;
        color: inherit;
        opacity: 0.75;
        padding: 10px 16px;
        min-height: 44px;
        text-transform: uppercase;
        font-size: 0.875em;
        font-weight: 500;
        letter-spacing: 0.04em;
      }
      .tab.active {
        opacity: 1;
        border-bottom-color: currentColor;
      }
      .content {
        padding: 16px;
        max-width: 1400px;
        margin: 0 auto;
        box-sizing: border-box;
      }
      .live {
        display: grid;
        grid-template-columns: minmax(0, 2fr) minmax(0, 1fr);
        gap: 16px;
        align-items: start;
      }
      .live .wide {
        grid-column: 1 / -1;
      }
      @media (max-width: 870px) {
        .live {
          grid-template-columns: minmax(0, 1fr);
        }
        .live .status {
          order: -1;
          grid-row: 2;
        }
      }
      .card-head {
        display: flex;
        align-items: center;
        justify-content: space-between;
        gap: 8px;
      }
      .card-head h2 {
        margin: 0;
      }
      .reason {
        margin-top: 8px;
        font-size: 0.85em;
      }
      .feed-error,
      .feed-note {
        margin-bottom: 16px;
      }
      .notice {
        border-left: 4px solid var(--info-color, var(--primary-color, #03a9f4));
      }
      @media (max-width: 450px) {
        .content {
          padding: 8px;
        }
        .tabs {
          padding: 0;
        }
        .tab {
          flex: 1 1 auto;
          padding: 10px 6px;
          letter-spacing: 0;
        }
      }
    `,
  ];
}

if (!customElements.get("phoenyra-ems-panel")) {
  customElements.define("phoenyra-ems-panel", PhoenyraEmsPanel);
}
