// Phoenyra EMS frontend: one module with the sidebar panel and the Lovelace cards. Home Assistant loads it
// as the panel's module and, on every dashboard, as an extra module (for the cards).
//
// Home Assistant's app replaces window.customElements with a scoped-registry polyfill when it starts. As an
// extra module this bundle can run before that (e.g. from the browser's cache while the app still loads):
// elements defined then are invisible to Home Assistant ("Custom element doesn't exist" until a reload), and
// their classes (made on the native HTMLElement) could not be defined through the polyfill either. So the
// panel and the cards, and Lit beneath them, are evaluated only once Home Assistant's own element is defined:
// at once when it is (the panel, and most dashboards), else as soon as it is. esbuild keeps the required
// files in this bundle and runs them when required.
/* global require */
const APP_ELEMENT = "home-assistant";
// Outside Home Assistant's app, where no such element comes, the elements are made after this long.
const APP_WAIT_MS = 30000;

function start() {
  require("./panel.js");
  require("./cards.js");
}

if (customElements.get(APP_ELEMENT)) {
  start();
} else {
  Promise.race([
    customElements.whenDefined(APP_ELEMENT),
    new Promise((resolve) => setTimeout(resolve, APP_WAIT_MS)),
  ]).then(start);
}
