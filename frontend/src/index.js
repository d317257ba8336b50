// Phoenyra EMS frontend: one module with the sidebar panel and the Lovelace cards. Home Assistant loads it
// as the panel's module and, on every dashboard, as an extra module (for the cards).
import "./panel.js";
import "./cards.js";
