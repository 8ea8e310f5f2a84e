// The venue screen's page settings, texts and times (core/screen.py writes them into the
// page): the texts are in the event's language, the times in the event's zone, labelled
// as the server labels them ("19:30 CET"; core/local_time.py), whatever the screen's own
// settings say.

export const config = JSON.parse(document.getElementById("screen-config").textContent);

// Texts in the event's language (core/screen.py screen_strings; placeholders {n}, {time}).
export const T = config.strings || {};
export const fill = (text, values) =>
  String(text).replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
export const count = (n) => Number(n || 0).toLocaleString(config.language || "en");

function zoneFormats(zone) {
  const hm = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  try {
    return [new Intl.DateTimeFormat(config.language || "en", Object.assign({ timeZone: zone }, hm)),
      new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric",
        month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" })];
  } catch (e) { // a zone this browser does not know: UTC, still labelled
    return zone === "UTC" ? null : zoneFormats("UTC");
  }
}
const [timeFormat, partsFormat] = zoneFormats(config.time_zone || "UTC") || [];

// The offset of the moment in the zone picks the label.
function zoneLabel(date) {
  const p = {};
  partsFormat.formatToParts(date).forEach((part) => { p[part.type] = part.value; });
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute);
  const offset = Math.round((asUtc - Math.floor(date.getTime() / 60000) * 60000) / 60000);
  const known = (config.zone_labels || {})[String(offset)];
  if (known) return known;
  const abs = Math.abs(offset), pad = (n) => String(n).padStart(2, "0");
  return "UTC" + (offset < 0 ? "-" : "+") + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
}

// "19:30 CET": a time from the streams (ISO 8601), or a Date, in the event's zone.
export function localTime(when) {
  const date = when instanceof Date ? when : new Date(when);
  if (!timeFormat || isNaN(date.getTime())) return "";
  return timeFormat.format(date) + " " + zoneLabel(date);
}

// A small element: el("li", {class: "x", "data-id": 3}, "text", child, ...).
export function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  Object.entries(attributes || {}).forEach(([name, value]) => {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  });
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== ""));
  return node;
}
