// <phoenyra-ems-chart>: a Chart.js chart that follows Home Assistant's theme and says how many data
// points it shows (data-points attribute: the end-to-end test reads it).

import { LitElement, html, css } from "lit";
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  TimeScale,
  Tooltip,
} from "chart.js";
import "chartjs-adapter-luxon";
import { DateTime } from "luxon";
import { dateLanguage, hour12, timeZone } from "./format.js";

Chart.register(
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  DoughnutController,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  TimeScale,
  Tooltip,
);

// A vertical line at the current time on time-scale charts.
const nowLine = {
  id: "phoenyraNow",
  afterDatasetsDraw(chart, _args, options) {
    const x = chart.scales.x;
    if (!options || !options.color || !x || x.type !== "time") return;
    const now = Date.now();
    if (now < x.min || now > x.max) return;
    const px = x.getPixelForValue(now);
    const { top, bottom } = chart.chartArea;
    const ctx = chart.ctx;
    ctx.save();
    ctx.strokeStyle = options.color;
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(px, top);
    ctx.lineTo(px, bottom);
    ctx.stroke();
    ctx.restore();
  },
};
Chart.register(nowLine);

const FALLBACK = {
  "--primary-text-color": "#212121",
  "--secondary-text-color": "#727272",
  "--divider-color": "rgba(0, 0, 0, 0.12)",
  "--primary-color": "#03a9f4",
  "--card-background-color": "#ffffff",
  "--energy-solar-color": "#ff9800",
  "--energy-battery-out-color": "#4db6ac",
  "--energy-battery-in-color": "#f06292",
  "--energy-grid-consumption-color": "#488fc2",
  "--energy-grid-return-color": "#8353d1",
  "--success-color": "#43a047",
  "--error-color": "#db4437",
  "--warning-color": "#ffa600",
  "--phoenyra-load-color": "#7e57c2",
};

/** The theme's colours, read from an element's CSS custom properties. */
export function themeColors(element) {
  const style = getComputedStyle(element);
  const read = (name) => style.getPropertyValue(name).trim() || FALLBACK[name];
  return {
    text: read("--primary-text-color"),
    secondary: read("--secondary-text-color"),
    divider: read("--divider-color"),
    primary: read("--primary-color"),
    background: read("--card-background-color"),
    solar: read("--energy-solar-color"),
    batteryOut: read("--energy-battery-out-color"),
    batteryIn: read("--energy-battery-in-color"),
    gridIn: read("--energy-grid-consumption-color"),
    gridOut: read("--energy-grid-return-color"),
    success: read("--success-color"),
    error: read("--error-color"),
    warning: read("--warning-color"),
    load: read("--phoenyra-load-color"),
  };
}

/** A colour with an alpha channel (hex or rgb() in, rgba() out). */
export function alpha(color, opacity) {
  const hex = color.match(/^#([0-9a-f]{3}|[0-9a-f]{6})$/i);
  if (hex) {
    let digits = hex[1];
    if (digits.length === 3) digits = [...digits].map((c) => c + c).join("");
    const n = parseInt(digits, 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${opacity})`;
  }
  const rgb = color.match(/^rgba?\(([^)]+)\)$/i);
  if (rgb) {
    const [r, g, b] = rgb[1].split(/[,\s/]+/).filter(Boolean);
    return `rgba(${r}, ${g}, ${b}, ${opacity})`;
  }
  return color;
}

/** Options shared by all charts: theme colours, fonts, legend and tooltip. */
export function baseOptions(colors) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    color: colors.text,
    borderColor: colors.divider,
    interaction: { mode: "index", intersect: false },
    plugins: {
      legend: {
        position: "bottom",
        labels: {
          color: colors.text,
          boxWidth: 12,
          boxHeight: 12,
          padding: 10,
          sort: (a, b) => a.datasetIndex - b.datasetIndex,
        },
      },
      tooltip: {
        backgroundColor: alpha(colors.background, 0.96),
        titleColor: colors.text,
        bodyColor: colors.text,
        borderColor: colors.divider,
        borderWidth: 1,
      },
      phoenyraNow: false,
    },
  };
}

const TICK_STEPS_H = [1, 2, 3, 4, 6, 12, 24, 48, 96, 168];

/**
 * Ticks at whole local hours that divide the day (0:00, 6:00, 12:00, ...), as many as fit: Chart.js on its own
 * would step by 7 hours and the like.
 */
function localHourTicks(scale, zone) {
  const { min, max } = scale;
  if (!(max > min)) return;
  const hours = (max - min) / 3600000;
  const capacity = Math.max(2, Math.floor((scale.maxWidth || scale.width || 600) / 72));
  const step = TICK_STEPS_H.find((h) => hours / h <= capacity) || TICK_STEPS_H[TICK_STEPS_H.length - 1];
  const ticks = [];
  let day = DateTime.fromMillis(min, { zone }).startOf("day");
  for (let index = 0; index < 400 && day.toMillis() <= max; index++) {
    if (step < 24) {
      for (let hour = 0; hour < 24; hour += step) {
        const value = day.set({ hour }).toMillis();
        if (value >= min && value <= max) ticks.push({ value, major: hour === 0 });
      }
    } else if (index % (step / 24) === 0 && day.toMillis() >= min) {
      ticks.push({ value: day.toMillis(), major: true });
    }
    day = day.plus({ days: 1 });
  }
  if (ticks.length) scale.ticks = ticks;
}

/** A time axis in the user's time zone and language. */
export function timeAxis(hass, colors, min, max) {
  const zone = timeZone(hass);
  const locale = dateLanguage(hass);
  const h12 = hour12(hass);
  const label = (value) => {
    const time = DateTime.fromMillis(value, { zone }).setLocale(locale);
    return time.hour === 0 && time.minute === 0
      ? time.toLocaleString({ day: "numeric", month: "short" })
      : time.toLocaleString({ hour: "numeric", minute: "2-digit", hour12: h12 });
  };
  return {
    type: "time",
    min,
    max,
    offset: false,
    adapters: { date: { zone, locale } },
    time: { tooltipFormat: "ff" },
    afterBuildTicks: (scale) => localHourTicks(scale, zone),
    ticks: {
      color: colors.secondary,
      maxRotation: 0,
      autoSkip: false,
      callback: (value) => label(value),
      font: (context) => (context.tick?.major ? { weight: "bold" } : undefined),
    },
    grid: { color: colors.divider },
    border: { color: colors.divider },
  };
}

/** A value axis. */
export function valueAxis(colors, title, position = "left", extra = {}) {
  return {
    type: "linear",
    position,
    title: { display: Boolean(title), text: title, color: colors.secondary },
    ticks: { color: colors.secondary },
    grid: { color: colors.divider, drawOnChartArea: position === "left" },
    border: { color: colors.divider },
    ...extra,
  };
}

/** How many data points the chart shows (numbers, not gaps). */
function countPoints(data) {
  let count = 0;
  for (const dataset of data?.datasets || []) {
    for (const point of dataset.data || []) {
      const value = point !== null && typeof point === "object" ? point.y : point;
      if (typeof value === "number" && Number.isFinite(value)) count++;
    }
  }
  return count;
}

class PhoenyraEmsChart extends LitElement {
  static properties = {
    config: { attribute: false },
    height: { type: Number },
  };

  constructor() {
    super();
    this.height = 240;
    this._chart = undefined;
  }

  render() {
    return html`<div class="wrap" style="height:${this.height}px"><canvas></canvas></div>`;
  }

  updated(changed) {
    if (changed.has("config")) this._draw();
  }

  connectedCallback() {
    super.connectedCallback();
    if (this.hasUpdated && this.config) this._draw();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this._chart?.destroy();
    this._chart = undefined;
  }

  _draw() {
    const config = this.config;
    this.setAttribute("data-points", String(countPoints(config?.data)));
    if (!config) {
      this._chart?.destroy();
      this._chart = undefined;
      return;
    }
    if (this._chart && this._chart.config.type === config.type) {
      this._chart.data = config.data;
      this._chart.options = config.options;
      this._chart.update("none");
      return;
    }
    this._chart?.destroy();
    const canvas = this.renderRoot.querySelector("canvas");
    this._chart = new Chart(canvas, {
      type: config.type,
      data: config.data,
      options: config.options,
    });
  }

  static styles = css`
    :host {
      display: block;
    }
    .wrap {
      position: relative;
      width: 100%;
    }
  `;
}

if (!customElements.get("phoenyra-ems-chart")) {
  customElements.define("phoenyra-ems-chart", PhoenyraEmsChart);
}
