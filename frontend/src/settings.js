// The Settings tab: the site's options form (Home Assistant's serialised options-flow schema), editable
// for administrators, read-only for everybody else; and the site's device, shown read-only (Home
// Assistant's own flows change it, with their connection tests).

import { LitElement, html, css, nothing } from "lit";
import { errorMessage, fetchSettings, saveSettings } from "./api.js";
import { formatNumber } from "./format.js";
import { translator } from "./i18n.js";
import { cardStyles } from "./styles.js";

const PREFIX = "component.phoenyra_ems";
// Device fields whose values are choices of a selector (translated by its options).
const CHOICES = new Set([
  "transport",
  "setpoint_target",
  "power_unit",
  "protocol",
  "parity",
  "word_order",
  "byte_order",
  "register_type",
  "data_type",
]);
const UNITS = { write_deadband_kw: "kW", write_min_interval_seconds: "s", timeout_s: "s" };
const REGISTER_COLUMNS = ["address", "register_type", "data_type", "scale"];

class PhoenyraEmsSettings extends LitElement {
  static properties = {
    hass: { attribute: false },
    entryId: { attribute: false },
    _settings: { state: true },
    _values: { state: true },
    _errors: { state: true },
    _error: { state: true },
    _saving: { state: true },
    _message: { state: true },
    _localize: { state: true },
  };

  constructor() {
    super();
    this._loadedFor = undefined;
    this._errors = {};
  }

  willUpdate(changed) {
    if (changed.has("hass") && this.hass && !this._localize) this._loadTranslations();
    if ((changed.has("entryId") || changed.has("hass")) && this.hass && this.entryId) {
      if (this._loadedFor !== this.entryId) {
        this._loadedFor = this.entryId;
        this._load(this.entryId);
      }
    }
  }

  /** Loads the settings again (the panel calls this when the tab is shown). */
  refresh() {
    if (this._dirty()) return;
    this._loadedFor = undefined;
    this.requestUpdate();
  }

  async _loadTranslations() {
    this._localize = this.hass.localize;
    try {
      if (this.hass.loadBackendTranslation) {
        await this.hass.loadBackendTranslation("selector", "phoenyra_ems");
        this._localize = await this.hass.loadBackendTranslation("options", "phoenyra_ems");
      }
    } catch (_err) {
      // Labels fall back to the option keys.
    }
  }

  async _load(entryId) {
    try {
      const settings = await fetchSettings(this.hass, entryId);
      if (entryId !== this._loadedFor) return;
      this._settings = settings;
      this._values = structuredClone(settings.options || {});
      this._errors = {};
      this._error = undefined;
    } catch (err) {
      if (entryId === this._loadedFor) this._error = errorMessage(err);
    }
  }

  _dirty() {
    return Boolean(this._settings) && JSON.stringify(this._values) !== JSON.stringify(this._settings.options || {});
  }

  _tr(key, fallback) {
    const full = `${PREFIX}.${key}`;
    for (const localize of [this.hass?.localize, this._localize]) {
      const text = typeof localize === "function" ? localize(full) : "";
      if (text && text !== full) return text;
    }
    return fallback;
  }

  _set(section, name, value) {
    const values = structuredClone(this._values || {});
    const target = section ? (values[section] = { ...(values[section] || {}) }) : values;
    // An emptied optional field (e.g. no weather entity) is left out, as the options flow does.
    if (value === "" || value === null) {
      delete target[name];
    } else {
      target[name] = value;
    }
    this._values = values;
    this._message = undefined;
  }

  async _save() {
    this._saving = true;
    this._message = undefined;
    this._errors = {};
    try {
      const result = await saveSettings(this.hass, this.entryId, this._values);
      if (result.saved) {
        this._message = "saved";
        this._settings = { ...this._settings, options: structuredClone(this._values) };
        this.dispatchEvent(new CustomEvent("settings-saved", { bubbles: true, composed: true }));
      } else {
        this._errors = result.errors || {};
      }
    } catch (err) {
      this._errors = { base: errorMessage(err) };
    }
    this._saving = false;
  }

  _reset() {
    this._values = structuredClone(this._settings.options || {});
    this._errors = {};
    this._message = undefined;
  }

  _errorText(key) {
    return this._tr(`options.error.${key}`, key);
  }

  _field(field, section, editable, t) {
    const values = section ? this._values?.[section] || {} : this._values || {};
    const value = values[field.name] ?? field.default;
    const base = section ? `options.step.init.sections.${section}` : "options.step.init";
    const label = this._tr(`${base}.data.${field.name}`, field.name);
    const description = this._tr(`${base}.data_description.${field.name}`, "");
    const error = this._errors?.[field.name];
    const id = `f-${section || "root"}-${field.name}`;
    const selector = field.selector || {};
    let control;
    if (selector.boolean !== undefined || field.type === "boolean") {
      control = html`<label class="switch">
        <input
          id=${id}
          type="checkbox"
          data-field=${field.name}
          .checked=${Boolean(value)}
          ?disabled=${!editable}
          @change=${(ev) => this._set(section, field.name, ev.target.checked)}
        />
        <span>${label}</span>
      </label>`;
    } else if (selector.select) {
      const config = selector.select;
      const options = (config.options || []).map((option) =>
        typeof option === "object" ? option : { value: option, label: undefined },
      );
      const optionLabel = (option) =>
        config.translation_key
          ? this._tr(`selector.${config.translation_key}.options.${option.value}`, option.label || option.value)
          : option.label || option.value;
      if (config.multiple) {
        const chosen = new Set(Array.isArray(value) ? value : []);
        control = options.length
          ? html`<div class="choices" id=${id}>
              ${options.map(
                (option) => html`<label class="switch">
                  <input
                    type="checkbox"
                    data-field=${field.name}
                    .checked=${chosen.has(option.value)}
                    ?disabled=${!editable}
                    @change=${(ev) => {
                      const next = new Set(chosen);
                      if (ev.target.checked) next.add(option.value);
                      else next.delete(option.value);
                      this._set(section, field.name, [...next]);
                    }}
                  />
                  <span>${optionLabel(option)}</span>
                </label>`,
              )}
            </div>`
          : html`<div class="muted" id=${id}>${t("none_available")}</div>`;
      } else {
      control = html`<select
        id=${id}
        data-field=${field.name}
        ?disabled=${!editable}
        @change=${(ev) => this._set(section, field.name, ev.target.value)}
      >
        ${options.map(
          (option) => html`<option value=${option.value} ?selected=${option.value === value}>
            ${optionLabel(option)}
          </option>`,
        )}
      </select>`;
      }
    } else if (selector.number || field.type === "float" || field.type === "integer") {
      const config = selector.number || {};
      control = html`<span class="number">
        <input
          id=${id}
          type="number"
          inputmode="decimal"
          data-field=${field.name}
          min=${config.min ?? nothing}
          max=${config.max ?? nothing}
          step=${config.step === "any" ? "any" : (config.step ?? "any")}
          .value=${value === undefined || value === null ? "" : String(value)}
          ?disabled=${!editable}
          @change=${(ev) => {
            const number = ev.target.value === "" ? null : Number(ev.target.value);
            this._set(section, field.name, number);
          }}
        />
        ${config.unit_of_measurement ? html`<span class="muted">${config.unit_of_measurement}</span>` : nothing}
      </span>`;
    } else {
      control = html`<input
        id=${id}
        type="text"
        data-field=${field.name}
        .value=${value === undefined || value === null ? "" : String(value)}
        ?disabled=${!editable}
        @change=${(ev) => this._set(section, field.name, ev.target.value)}
      />`;
    }
    const isBoolean = selector.boolean !== undefined || field.type === "boolean";
    return html`<div class="field">
      ${isBoolean ? nothing : html`<label for=${id}>${label}</label>`} ${control}
      ${description ? html`<div class="description">${description}</div>` : nothing}
      ${error ? html`<div class="error" data-error=${field.name}>${this._errorText(error)}</div>` : nothing}
    </div>`;
  }

  _deviceValue(key, value, t) {
    if (typeof value === "boolean") return value ? t("yes") : t("no");
    if (CHOICES.has(key)) return this._tr(`selector.${key}.options.${value}`, String(value));
    if (typeof value === "number") {
      // Addresses and ids as they are; fractions in the user's number format, as precise as stored.
      const decimals = Math.min(4, (String(value).split(".")[1] || "").length);
      const text = Number.isInteger(value) ? String(value) : formatNumber(this.hass, value, decimals);
      const unit = UNITS[key];
      return unit ? `${text} ${unit}` : text;
    }
    return String(value);
  }

  _openIntegration() {
    const url = `/config/integrations/integration/phoenyra_ems?config_entry=${encodeURIComponent(this.entryId)}`;
    window.history.pushState(null, "", url);
    window.dispatchEvent(new CustomEvent("location-changed", { detail: { replace: false } }));
  }

  _renderDevice(t, editable) {
    const device = this._settings.device;
    if (!device) return nothing;
    if (device.mode !== "live") {
      return html`<div class="card device" data-device="demo">
        <h2>${t("device")}</h2>
        <div class="muted" data-note="simulated">${t("device_simulated")}</div>
      </div>`;
    }
    const groups = device.groups || [];
    return html`<div class="card device" data-device="live">
      <h2>${t("device")}</h2>
      ${groups.map((group) => {
        const base = `options.step.${group.step}`;
        const title = this._tr(`${base}.title`, group.step);
        if (group.registers) {
          return html`<h3>${title}</h3>
            <div class="scroll">
              <table data-table="registers">
                <thead>
                  <tr>
                    <th>${t("signal")}</th>
                    ${REGISTER_COLUMNS.map(
                      (column) => html`<th>${this._tr(`${base}.sections.soc.data.${column}`, column)}</th>`,
                    )}
                  </tr>
                </thead>
                <tbody>
                  ${group.registers.map(
                    (row) => html`<tr>
                      <td>${this._tr(`${base}.sections.${row.signal}.name`, row.signal)}</td>
                      ${REGISTER_COLUMNS.map((column) => html`<td>${this._deviceValue(column, row[column], t)}</td>`)}
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>`;
        }
        return html`<h3>${title}</h3>
          <dl>
            ${(group.fields || []).map(
              (field) => html`<dt>${this._tr(`${base}.data.${field.key}`, field.key)}</dt>
                <dd data-device-field=${field.key}>${this._deviceValue(field.key, field.value, t)}</dd>`,
            )}
          </dl>`;
      })}
      ${editable
        ? html`<div class="device-actions">
            <button class="secondary" data-action="change-device" @click=${this._openIntegration}>${t("device_change")}</button>
            <div class="description">
              ${t("device_change_hint", {
                device: `“${this._tr("options.step.init.menu_options.device", "Device connection")}”`,
              })}
            </div>
          </div>`
        : html`<div class="description">${t("device_readonly")}</div>`}
    </div>`;
  }

  render() {
    const t = translator(this.hass);
    if (this._error) return html`<div class="card error">${t("settings_unavailable", { error: this._error })}</div>`;
    if (!this._settings) return html`<div class="card empty">${t("loading")}</div>`;
    const editable = Boolean(this._settings.editable);
    const schema = this._settings.schema || [];
    return html`
      <div class="wrap" data-editable=${editable ? "true" : "false"}>
        ${editable ? nothing : html`<div class="card notice" data-note="readonly">${t("settings_readonly")}</div>`}
        ${this._renderDevice(t, editable)}
        ${schema.map((item) =>
          item.type === "expandable" && Array.isArray(item.schema)
            ? html`<div class="card">
                <h2>${this._tr(`options.step.init.sections.${item.name}.name`, item.name)}</h2>
                ${item.schema.map((field) => this._field(field, item.name, editable, t))}
              </div>`
            : html`<div class="card">${this._field(item, undefined, editable, t)}</div>`,
        )}
        ${this._errors?.base ? html`<div class="card error">${this._errorText(this._errors.base)}</div>` : nothing}
        ${editable
          ? html`<div class="actions">
              ${this._message === "saved" ? html`<span class="saved" data-note="saved">${t("saved")}</span>` : nothing}
              <button class="secondary" ?disabled=${!this._dirty() || this._saving} @click=${this._reset}>${t("reset")}</button>
              <button data-action="save" ?disabled=${!this._dirty() || this._saving} @click=${this._save}>
                ${this._saving ? t("saving") : t("save")}
              </button>
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
      .wrap {
        display: flex;
        flex-direction: column;
        gap: 16px;
        max-width: 760px;
      }
      .notice {
        border-left: 4px solid var(--warning-color, #ffa600);
      }
      .field {
        display: flex;
        flex-direction: column;
        gap: 4px;
        padding: 10px 0;
        border-bottom: 1px solid var(--divider-color, #e0e0e0);
      }
      .field:last-child {
        border-bottom: none;
      }
      .field > label {
        font-weight: 500;
      }
      .description {
        font-size: 0.85em;
        color: var(--secondary-text-color);
      }
      .number {
        display: flex;
        align-items: center;
        gap: 8px;
      }
      .number input {
        width: 160px;
      }
      select {
        width: 100%;
        max-width: 420px;
      }
      .switch {
        display: flex;
        align-items: center;
        gap: 10px;
        font-weight: 500;
      }
      .switch input {
        width: 20px;
        height: 20px;
        accent-color: var(--primary-color, #03a9f4);
      }
      .actions {
        display: flex;
        justify-content: flex-end;
        align-items: center;
        flex-wrap: wrap;
        gap: 12px;
      }
      .saved {
        color: var(--success-color, #43a047);
      }
      .device h3 {
        margin: 12px 0 4px;
        font-size: 1em;
        font-weight: 500;
      }
      .device dl {
        display: grid;
        grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
        gap: 4px 16px;
        margin: 0;
      }
      .device dt {
        color: var(--secondary-text-color);
      }
      .device dd {
        margin: 0;
        overflow-wrap: anywhere;
      }
      .device .scroll {
        overflow-x: auto;
      }
      .device table {
        border-collapse: collapse;
        width: 100%;
      }
      .device th,
      .device td {
        text-align: left;
        padding: 4px 8px 4px 0;
        border-bottom: 1px solid var(--divider-color, #e0e0e0);
        white-space: nowrap;
      }
      @media (max-width: 450px) {
        .device dl {
          grid-template-columns: minmax(0, 1fr);
        }
        .device dd {
          margin-bottom: 6px;
        }
      }
      .device-actions {
        display: flex;
        flex-direction: column;
        align-items: flex-start;
        gap: 6px;
        margin-top: 12px;
      }
    `,
  ];
}

if (!customElements.get("phoenyra-ems-settings")) {
  customElements.define("phoenyra-ems-settings", PhoenyraEmsSettings);
}
