// Venue screen: one read-only view of an event, fed by its WebSocket streams
// (/screen/events/<id>/?key=; core/screen.py writes the page and its settings).
// Protocol: docs/websocket-protocol.md. The stream client (seq per stream, resume with
// ?since= after a drop, replay frames, heartbeat tail checks, backoff) and the event and
// draw reducer are shared with the attendee app: /assets/stream.js and /assets/draws.js.
//
// The data path: each stream's messages go through its reducer into `state` (the event
// stream: draws.js, the seat stream: seats.js, the queue stream: applyQueue below),
// then render() runs every panel in PANELS. To show something more, read it from
// `state` in a panel (a draw's entries_count, say, is already there: draw.entries keeps
// it current) and add the panel to PANELS.

import { StreamConnection } from "/assets/stream.js";
import { applyEventMessage, eventState, formatLeft, lastPerformed, nextDraw } from "/assets/draws.js";
import { T, config, count, fill, localTime } from "./local.js";
import { applySeats, renderSeats, seatState } from "./seats.js";
import { WinnerMoments, renderWinners } from "./winners.js";

const $ = (id) => document.getElementById(id);
const state = Object.assign(eventState(), { seats: seatState(), queue: null });

// --- state -------------------------------------------------------------------------
function applyScreen(message) {
  const data = message.data || {};
  if (message.type === "checkin.code") state.checkin = data;
  else if (message.type === "snapshot" && data["checkin.code"]) state.checkin = data["checkin.code"];
}

// The waiting room's line (queue stream): absolute values, so a message applied
// twice, or after a reset snapshot, changes nothing.
function applyQueue(message) {
  const data = message.data || {};
  if (message.type === "snapshot") state.queue = data;
  else if (message.type === "queue.progress") state.queue = Object.assign({}, state.queue, data);
}

// --- panels ------------------------------------------------------------------------
function renderHeader() {
  if (state.event) $("event-title").textContent = state.event.title;
}

function renderClock() {
  const now = localTime(new Date(Date.now() + state.offsetMs));
  if ($("clock").textContent !== now) $("clock").textContent = now;
}

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

function setCountdown(text, isText) {
  const countdown = $("countdown");
  countdown.textContent = text;
  countdown.classList.toggle("is-text", isText);
}

function renderCountdown() {
  const draw = nextDraw(state);
  if (!draw) {
    const done = lastPerformed(state);
    $("next-draw-title").textContent = done ? done.title : T.no_draw;
    $("next-draw-time").textContent = "";
    setCountdown(done ? T.drawn : "--:--", !!done);
    return;
  }
  $("next-draw-title").textContent = draw.title;
  $("next-draw-time").textContent = fill(T.draw_at, { time: localTime(draw.scheduled_at) });
  const left = Date.parse(draw.scheduled_at) - (Date.now() + state.offsetMs);
  const drawing = draw.status === "drawing" || left <= 0;
  setCountdown(drawing ? T.drawing : formatLeft(left), drawing);
}

function renderPrizes() {
  const draw = nextDraw(state);
  const key = JSON.stringify((draw && draw.prizes) || []);
  if ($("prizes").dataset.key === key) return;
  $("prizes").dataset.key = key;
  $("prizes").replaceChildren(...((draw && draw.prizes) || []).map((p) => {
    const li = document.createElement("li");
    li.textContent = (p.quantity > 1 ? p.quantity + " × " : "") + p.name;
    return li;
  }));
}

function renderCheckin() {
  if (!state.checkin || !state.checkin.code) return;
  $("checkin").hidden = false;
  if ($("checkin-code").textContent !== state.checkin.code) {
    $("checkin-code").textContent = state.checkin.code;
    $("checkin-qr").src = config.qr_url + "&v=" + encodeURIComponent(state.checkin.code);
  }
}

const moments = new WinnerMoments(state, {
  root: $("moment"), draw: $("moment-draw"), title: $("moment-title"),
  numbers: $("moment-numbers"), winners: $("moment-winners"),
}, () => render());

const seatNodes = { root: $("seats"), map: $("seat-map"), list: $("seat-sections") };

const PANELS = [
  renderHeader, renderClock, renderCountdown, renderPrizes, renderCheckin, renderQueue,
  () => renderWinners(state, $("winners"), $("no-winners"), moments.settledId),
  () => renderSeats(state.seats, seatNodes),
];

function render() {
  PANELS.forEach((panel) => panel());
}

// --- connections -------------------------------------------------------------------
// The badge shows the worst state of the screen's own streams (the queue's is optional:
// its 4404 only means "no waiting room now").
const connectionStates = {};
function reportState(name) {
  return (connectionState) => {
    connectionStates[name] = connectionState;
    const states = Object.values(connectionStates);
    const worst = ["stopped", "reconnecting", "connecting"].find((s) => states.includes(s)) || "live";
    $("connection").dataset.state = worst;
    $("connection").textContent = T[worst] || worst;
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
  onMessage: (message, { replayed } = {}) => {
    if (message.stream.startsWith("screen:")) {
      applyScreen(message);
    } else {
      const notice = moments.noticeBefore(message, replayed);
      applyEventMessage(state, message);
      moments.announce(notice);
    }
    render();
  },
});
if (config.seats_path) {
  connect(config.seats_path, {
    stream: "seats:" + config.event_id, onState: reportState("seats"),
    onMessage: (message) => { applySeats(state.seats, message); render(); },
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
render();
setInterval(() => { renderCountdown(); renderClock(); }, 250);
