// Venue screen: one read-only view of an event, fed by its WebSocket streams.
// Protocol: docs/websocket-protocol.md. The stream client (seq per stream, resume with
// ?since= after a drop, replay frames, heartbeat tail checks, backoff) and the event and
// draw reducer are shared with the attendee app: /assets/stream.js and /assets/draws.js
// (core/web/).
import { StreamConnection } from "/assets/stream.js";
import { applyEventMessage, eventState, formatLeft, lastPerformed, nextDraw } from "/assets/draws.js";

const config = JSON.parse(document.getElementById("screen-config").textContent);
const $ = (id) => document.getElementById(id);
const state = Object.assign(eventState(), { seats: new Map(), queue: null, entry: null });
const SEAT_STATUS = { "seat.held": "held", "seat.released": "free", "seat.expired": "free", "seat.sold": "sold" };

// Texts in the event's language, written by the server (core/screen.py screen_strings).
const T = config.strings || {};
const fill = (text, values) => String(text).replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));

// Times in the event's zone, labelled as the server labels them ("19:30 CET";
// core/local_time.py): the offset of the moment in the zone picks the label.
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

function localTime(iso) {
  const date = new Date(iso);
  if (!timeFormat || isNaN(date.getTime())) return "";
  return timeFormat.format(date) + " " + zoneLabel(date);
}

function setConnection(kind) {
  const badge = $("connection");
  badge.dataset.state = kind;
  badge.textContent = T[kind] || kind;
}

// --- state -------------------------------------------------------------------------
function applyScreen(message) {
  const data = message.data || {};
  if (message.type === "checkin.code") state.checkin = data;
  else if (message.type === "snapshot" && data["checkin.code"]) state.checkin = data["checkin.code"];
}

function applySeats(message) {
  const data = message.data || {};
  if (message.type === "snapshot") {
    state.seats = new Map((data.seats || []).map((s) => [s.id, s.status]));
  } else if (SEAT_STATUS[message.type]) {
    (data.seats || []).forEach((s) => state.seats.set(typeof s === "object" ? s.id : s, SEAT_STATUS[message.type]));
  }
}

// The waiting room's line (queue stream): absolute values, so a message applied
// twice, or after a reset snapshot, changes nothing.
function applyQueue(message) {
  const data = message.data || {};
  if (message.type === "snapshot") state.queue = data;
  else if (message.type === "queue.progress") state.queue = Object.assign({}, state.queue, data);
}

// Entry progress (gates stream): gate.progress carries the changed gates' absolute counts.
function applyEntry(message) {
  const data = message.data || {};
  if (message.type === "snapshot") state.entry = data;
  else if (message.type === "gate.progress" && state.entry) {
    const counts = new Map((data.gates || []).map((g) => [g.id, g.scanned]));
    const gates = state.entry.gates.map((g) => Object.assign({}, g, { scanned: counts.has(g.id) ? counts.get(g.id) : g.scanned }));
    state.entry = Object.assign({}, state.entry, { gates, scanned: gates.reduce((n, g) => n + g.scanned, 0) });
  }
}

// --- rendering ---------------------------------------------------------------------
const count = (n) => Number(n || 0).toLocaleString(config.language || "en");

function renderQueue() {
  const line = state.queue;
  // Shown while the room is in front of the sale; a closed room (or none) shows nothing.
  const on = !!line && (line.status === "open" || line.status === "paused");
  $("queue").hidden = !on;
  if (!on) return;
  $("queue").dataset.status = line.status;
  $("queue-length").textContent = count(line.length);
  let detail;
  if (line.status === "paused") detail = T.paused;
  else if (!line.sale_started && line.sale_starts_at) {
    detail = fill(T.sale_opens, { time: localTime(line.sale_starts_at) });
  } else {
    detail = fill(T.admitting, { rate: count(Math.round(line.rate_per_minute)),
      served: count(line.served) });
  }
  $("queue-detail").textContent = detail;
}

function renderEntry() {
  const entry = state.entry;
  $("entry").hidden = !(entry && entry.gates && entry.gates.length);
  if (!$("entry").hidden) $("entry").textContent = fill(T.entry, { scanned: count(entry.scanned), expected: count(entry.expected) });
}

function renderCountdown() {
  const draw = nextDraw(state);
  if (!draw) {
    const done = lastPerformed(state);
    $("next-draw-title").textContent = done ? done.title : T.no_draw;
    $("next-draw-time").textContent = "";
    $("countdown").textContent = done ? T.drawn : "--:--";
    return;
  }
  $("next-draw-title").textContent = draw.title;
  $("next-draw-time").textContent = fill(T.draw_at, { time: localTime(draw.scheduled_at) });
  const left = Date.parse(draw.scheduled_at) - (Date.now() + state.offsetMs);
  $("countdown").textContent = draw.status === "drawing" || left <= 0 ? T.drawing : formatLeft(left);
}

function render() {
  if (state.event) $("event-title").textContent = state.event.title;
  renderCountdown();
  const draw = nextDraw(state);
  const prizes = $("prizes");
  prizes.replaceChildren(...((draw && draw.prizes) || []).map((p) => {
    const li = document.createElement("li");
    li.textContent = (p.quantity > 1 ? p.quantity + " × " : "") + p.name;
    return li;
  }));
  const performed = Array.from(state.draws.values())
    .filter((d) => (d.winners || []).length)
    .sort((a, b) => (b.performed_at || "").localeCompare(a.performed_at || "") || b.id - a.id);
  const items = [];
  let renderedKey = "";
  performed.forEach((d) => (d.winners || [])
    .filter((w) => !w.forfeited_at)
    .sort((a, b) => a.rank - b.rank || a.id - b.id)
    .forEach((w) => {
      const li = document.createElement("li");
      li.dataset.winnerId = w.id;
      const prize = document.createElement("span");
      prize.className = "prize";
      prize.textContent = w.prize;
      li.append(prize, document.createTextNode(w.winner));
      items.push(li);
      renderedKey += w.id + ":" + w.winner + ";";
    }));
  // Replace the list only when it changed, so a winner's entrance animation plays once.
  if ($("winners").dataset.key !== renderedKey) {
    $("winners").replaceChildren(...items);
    $("winners").dataset.key = renderedKey;
  }
  $("no-winners").hidden = items.length > 0;
  if (state.checkin && state.checkin.code) {
    $("checkin").hidden = false;
    if ($("checkin-code").textContent !== state.checkin.code) {
      $("checkin-code").textContent = state.checkin.code;
      $("checkin-qr").src = config.qr_url + "&v=" + encodeURIComponent(state.checkin.code);
    }
  }
  renderQueue();
  if (state.seats.size) {
    const counts = { free: 0, held: 0, sold: 0, blocked: 0 };
    state.seats.forEach((status) => { counts[status] = (counts[status] || 0) + 1; });
    $("seats").hidden = false;
    $("seat-summary").replaceChildren(...Object.entries(counts).flatMap(([name, n]) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = T[name] || name;
      dd.textContent = n;
      dd.dataset.status = name;
      return [dt, dd];
    }));
  }
}

// --- connections -------------------------------------------------------------------
// The badge shows the worst state of the screen's own streams (the queue's is optional:
// its 4404 only means "no waiting room now").
const connectionStates = {};
function reportState(name) {
  return (connectionState) => {
    connectionStates[name] = connectionState;
    const states = Object.values(connectionStates);
    setConnection(["stopped", "reconnecting", "connecting"].find((s) => states.includes(s)) || "live");
  };
}

function connect(path, options) {
  return new StreamConnection(Object.assign({
    url: config.ws_base + path, silenceMs: config.silence_ms,
  }, options)).start();
}

connect(config.event_path, {
  stream: "event:" + config.event_id,
  params: { key: config.key },
  onState: reportState("event"),
  onMessage: (message) => {
    if (message.stream.startsWith("screen:")) applyScreen(message);
    else applyEventMessage(state, message);
    render();
  },
});
if (config.seats_path) {
  connect(config.seats_path, {
    stream: "seats:" + config.event_id, onState: reportState("seats"),
    onMessage: (message) => { applySeats(message); render(); },
  });
}
if (config.queue_path) {
  // Anonymous, without the screen key: the queue stream is public, and has no
  // screen-only fields. It asks again now and then: staff may put a room in later.
  connect(config.queue_path, {
    stream: "queue:" + config.event_id,
    optional: true,
    retryMs: config.queue_retry_ms,
    onState: (queueState) => {
      if (queueState === "gone") { state.queue = null; renderQueue(); }
    },
    onMessage: (message) => { applyQueue(message); render(); },
  });
}
if (config.gates_path) {
  connect(config.gates_path, {
    stream: "gates:" + config.event_id, params: { key: config.key }, optional: true,
    onState: (gatesState) => { if (gatesState === "gone") { state.entry = null; renderEntry(); } },
    onMessage: (message) => { applyEntry(message); renderEntry(); },
  });
}
setInterval(renderCountdown, 250);
