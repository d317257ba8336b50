// The websocket commands of Phoenyra EMS (see the integration's websocket_api.py).

export const DOMAIN = "phoenyra_ems";
const STALE_MS = 60000;
// Subscribing again after a failure: 1 s, then twice as long each time, at most 10 s.
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 10000;
// How long a site that ended its subscription (a restart) may take to come back before it is an error.
const RESTART_PATIENCE_MS = 60000;

export function fetchSites(hass) {
  return hass.callWS({ type: `${DOMAIN}/sites` });
}

/** The plan's forecasts; with ``alternatives``, every load and PV forecast the site has (the Forecasts tab). */
export function fetchForecast(hass, entryId, alternatives = false) {
  const message = { type: `${DOMAIN}/forecast`, entry_id: entryId };
  if (alternatives) message.alternatives = true;
  return hass.callWS(message);
}

export function fetchAnalytics(hass, entryId, days) {
  return hass.callWS({ type: `${DOMAIN}/analytics`, entry_id: entryId, days });
}

export function fetchSettings(hass, entryId) {
  return hass.callWS({ type: `${DOMAIN}/settings`, entry_id: entryId });
}

export function saveSettings(hass, entryId, options) {
  return hass.callWS({ type: `${DOMAIN}/settings/update`, entry_id: entryId, options });
}

export function optimizeNow(hass, entryId) {
  return hass.callWS({ type: `${DOMAIN}/optimize_now`, entry_id: entryId });
}

/** A readable message of a websocket error (or any error). */
export function errorMessage(err) {
  if (!err) return "";
  if (typeof err === "string") return err;
  return err.message || err.code || JSON.stringify(err);
}

/**
 * The live data of one site: state on every control tick, the plan whenever a new one is made, and the
 * forecast the plan was made for (fetched anew with every plan). ``onChange`` is called after each change.
 *
 * A site that restarts (new settings) ends its subscription with an event ``{ended: ...}``: the feed then
 * subscribes again until the site is back (``restarting`` meanwhile). Should events stop without that, a
 * watchdog subscribes again after a minute of silence.
 */
export class SiteFeed {
  constructor(onChange) {
    this._onChange = onChange;
    this._unsub = undefined;
    this._key = undefined;
    this._generation = 0;
    this._lastEvent = 0;
    this._watchdog = undefined;
    this._retry = undefined;
    this._attempts = 0;
    this._endedAt = 0;
    this._hass = undefined;
    this.state = undefined;
    this.plan = undefined;
    this.forecast = undefined;
    this.error = undefined;
    this.restarting = false;
    // How often the site ended a subscription and was followed again (for tests and diagnostics).
    this.resubscriptions = 0;
  }

  /** Follows the site ``entryId`` through ``hass``'s connection (no-op when already following it). */
  connect(hass, entryId) {
    if (!hass || !entryId) return;
    this._hass = hass;
    if (this._key === entryId && (this._unsub || this._retry)) return;
    this.disconnect();
    this._key = entryId;
    this._subscribe(entryId);
    this._watchdog = setInterval(() => {
      if (this._unsub && Date.now() - this._lastEvent > STALE_MS) this.resubscribe();
    }, 10000);
  }

  /** Subscribes anew. */
  resubscribe() {
    const entryId = this._key;
    if (!entryId) return;
    this._dropSubscription();
    this._subscribe(entryId);
  }

  disconnect() {
    clearInterval(this._watchdog);
    this._watchdog = undefined;
    this._dropSubscription();
    this._key = undefined;
    this.restarting = false;
  }

  _subscribe(entryId) {
    const hass = this._hass;
    const generation = ++this._generation;
    this._lastEvent = Date.now();
    const subscription = hass.connection.subscribeMessage(
      (event) => this._event(hass, entryId, generation, event),
      { type: `${DOMAIN}/subscribe`, entry_id: entryId },
    );
    this._unsub = subscription;
    subscription.catch((err) => {
      if (generation !== this._generation) return;
      this._unsub = undefined;
      // While a restarting site is not back yet, its "not loaded" is expected: keep waiting quietly.
      if (!this.restarting || Date.now() - this._endedAt > RESTART_PATIENCE_MS) {
        this.restarting = false;
        this.error = errorMessage(err);
      }
      this._onChange();
      this._retryLater(entryId, generation);
    });
  }

  _retryLater(entryId, generation) {
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this._attempts);
    this._attempts++;
    clearTimeout(this._retry);
    this._retry = setTimeout(() => {
      this._retry = undefined;
      if (generation === this._generation) this._subscribe(entryId);
    }, delay);
  }

  _dropSubscription() {
    this._generation++;
    clearTimeout(this._retry);
    this._retry = undefined;
    const unsub = this._unsub;
    this._unsub = undefined;
    if (unsub) {
      unsub.then((off) => off()).catch(() => undefined);
    }
  }

  /** Forgets the data (when another site is chosen). */
  clear() {
    this.state = undefined;
    this.plan = undefined;
    this.forecast = undefined;
    this.error = undefined;
    this.restarting = false;
  }

  /** The site ended the subscription (it restarts): follow it again once it is back. */
  _ended(entryId) {
    this._dropSubscription();
    this.restarting = true;
    this._endedAt = Date.now();
    this._attempts = 0;
    this.resubscriptions++;
    this._onChange();
    this._retryLater(entryId, this._generation);
  }

  _event(hass, entryId, generation, event) {
    if (generation !== this._generation) return;
    if (event.ended) {
      this._ended(entryId);
      return;
    }
    this._lastEvent = Date.now();
    this._attempts = 0;
    this.error = undefined;
    this.restarting = false;
    if (event.state) this.state = event.state;
    if (event.plan) {
      this.plan = event.plan;
      fetchForecast(hass, entryId)
        .then((forecast) => {
          if (generation !== this._generation) return;
          this.forecast = forecast;
          this._onChange();
        })
        .catch((err) => {
          if (generation !== this._generation) return;
          this.error = errorMessage(err);
          this._onChange();
        });
    }
    this._onChange();
  }
}
