// Numbers, dates and times formatted as Home Assistant's own frontend does (hass.locale).

const numberCache = new Map();

/** The Intl locale and options for hass.locale.number_format. */
function numberLocale(hass) {
  const locale = hass?.locale || {};
  const language = locale.language || hass?.language || "en";
  switch (locale.number_format) {
    case "comma_decimal":
      return ["en-US", {}];
    case "decimal_comma":
      return ["de", {}];
    case "space_comma":
      return ["fr", {}];
    case "none":
      return [language, { useGrouping: false }];
    case "system":
      return [undefined, {}];
    default:
      return [language, {}];
  }
}

/** Formats a number with the given number of decimals; "–" for missing values. */
export function formatNumber(hass, value, decimals = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const [locale, extra] = numberLocale(hass);
  const key = `${locale}|${decimals}|${extra.useGrouping}`;
  let format = numberCache.get(key);
  if (!format) {
    try {
      format = new Intl.NumberFormat(locale, {
        minimumFractionDigits: decimals,
        maximumFractionDigits: decimals,
        ...extra,
      });
    } catch (_err) {
      format = new Intl.NumberFormat("en", {
        minimumFractionDigits: decimals,
        maximumFractionDigits: decimals,
      });
    }
    numberCache.set(key, format);
  }
  // Avoid "-0,0".
  const rounded = Number(value.toFixed(decimals));
  return format.format(rounded === 0 ? 0 : rounded);
}

/** The time zone to show times in: Home Assistant's own, or the browser's (hass.locale.time_zone). */
export function timeZone(hass) {
  if (hass?.locale?.time_zone === "server" && hass?.config?.time_zone) {
    return hass.config.time_zone;
  }
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** The language of dates and times. */
export function dateLanguage(hass) {
  return hass?.locale?.language || hass?.language || "en";
}

/** Whether times are shown with 12 hours (hass.locale.time_format). */
export function hour12(hass) {
  const format = hass?.locale?.time_format;
  if (format === "12") return true;
  if (format === "24") return false;
  return undefined;
}

function dateTimeFormat(hass, options) {
  try {
    return new Intl.DateTimeFormat(dateLanguage(hass), {
      timeZone: timeZone(hass),
      hour12: hour12(hass),
      ...options,
    });
  } catch (_err) {
    return new Intl.DateTimeFormat("en", options);
  }
}

/** "14:35" (or "2:35 PM"). */
export function formatTime(hass, iso, seconds = false) {
  if (!iso) return "–";
  return dateTimeFormat(hass, {
    hour: "2-digit",
    minute: "2-digit",
    second: seconds ? "2-digit" : undefined,
  }).format(new Date(iso));
}

/** "24.11., 14:35". */
export function formatDateTime(hass, iso) {
  if (!iso) return "–";
  return dateTimeFormat(hass, {
    day: "2-digit",
    month: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  }).format(new Date(iso));
}

/** A calendar day ("2026-11-24") as "24.11." in the user's language. */
export function formatDay(hass, day) {
  const [year, month, date] = day.split("-").map(Number);
  try {
    return new Intl.DateTimeFormat(dateLanguage(hass), {
      day: "2-digit",
      month: "2-digit",
      timeZone: "UTC",
    }).format(new Date(Date.UTC(year, month - 1, date)));
  } catch (_err) {
    return day;
  }
}
