// Styles shared by the panel and the cards: Home Assistant's theme variables throughout.

import { css } from "lit";

export const cardStyles = css`
  :host {
    color: var(--primary-text-color);
    font-family: var(--paper-font-body1_-_font-family, var(--ha-font-family-body, Roboto, sans-serif));
  }
  .card {
    background: var(--ha-card-background, var(--card-background-color, #fff));
    border-radius: var(--ha-card-border-radius, 12px);
    border: var(--ha-card-border-width, 1px) solid var(--ha-card-border-color, var(--divider-color, #e0e0e0));
    box-shadow: var(--ha-card-box-shadow, none);
    padding: 16px;
    box-sizing: border-box;
    min-width: 0;
  }
  .card h2 {
    margin: 0 0 12px;
    font-size: 1.1em;
    font-weight: 500;
    line-height: 1.3;
  }
  .muted {
    color: var(--secondary-text-color);
  }
  .error {
    color: var(--error-color, #db4437);
  }
  .kpis {
    display: grid;
    grid-template-columns: repeat(auto-fit, minmax(150px, 1fr));
    gap: 12px;
  }
  .kpi {
    display: flex;
    flex-direction: column;
    gap: 4px;
    min-width: 0;
  }
  .kpi .label {
    color: var(--secondary-text-color);
    font-size: 0.9em;
  }
  .kpi .value {
    font-size: 1.7em;
    font-weight: 500;
    line-height: 1.2;
    overflow-wrap: anywhere;
  }
  .kpi .value .unit {
    font-size: 0.55em;
    font-weight: 400;
    color: var(--secondary-text-color);
    margin-left: 2px;
  }
  .kpi .sub {
    font-size: 0.85em;
    color: var(--secondary-text-color);
    overflow-wrap: anywhere;
  }
  .bar {
    height: 6px;
    border-radius: 3px;
    background: var(--divider-color, #e0e0e0);
    overflow: hidden;
  }
  .bar > div {
    height: 100%;
    background: var(--energy-battery-out-color, #4db6ac);
  }
  .status {
    display: grid;
    grid-template-columns: repeat(auto-fit, minmax(190px, 1fr));
    gap: 0 24px;
  }
  .status .row {
    display: flex;
    justify-content: space-between;
    gap: 8px;
    padding: 6px 0;
    border-bottom: 1px solid var(--divider-color, #e0e0e0);
    min-width: 0;
  }
  .status .row span:last-child {
    font-weight: 500;
    text-align: right;
    white-space: nowrap;
  }
  .chart-title {
    margin: 8px 0 4px;
    font-size: 0.95em;
    color: var(--secondary-text-color);
  }
  .empty {
    padding: 24px 0;
    text-align: center;
    color: var(--secondary-text-color);
  }
  select,
  input[type="number"],
  input[type="text"] {
    font: inherit;
    color: var(--primary-text-color);
    background: var(--input-fill-color, var(--secondary-background-color, #f5f5f5));
    border: 1px solid var(--input-idle-line-color, var(--divider-color, #ccc));
    border-radius: 6px;
    padding: 6px 8px;
    min-height: 36px;
    box-sizing: border-box;
    max-width: 100%;
  }
  select:disabled,
  input:disabled {
    opacity: 0.7;
  }
  button {
    font: inherit;
    cursor: pointer;
    border-radius: 18px;
    padding: 6px 16px;
    min-height: 36px;
    border: 1px solid var(--primary-color, #03a9f4);
    background: var(--primary-color, #03a9f4);
    color: var(--text-primary-color, #fff);
  }
  button.secondary {
    background: transparent;
    color: var(--primary-color, #03a9f4);
  }
  button:disabled {
    opacity: 0.5;
    cursor: default;
  }
`;
