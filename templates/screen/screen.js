// Venue screen: one read-only view of an event, fed by its WebSocket streams.
// Protocol: docs/websocket-protocol.md. The screen tracks the last seq per
// stream; after a drop it reconnects with ?since=<seq> and gets exactly what
// it missed (or a fresh snapshot flagged reset). A seq gap asks for a resume.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("screen-config").textContent);
  const $ = (id) => document.getElementById(id);
  const state = { event: null, draws: new Map(), offsetMs: 0, checkin: null, seats: new Map(),
    queue: null };
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
  function putDraw(draw) {
    const old = state.draws.get(draw.id) || {};
    state.draws.set(draw.id, Object.assign({}, old, draw));
  }

  function mergeWinners(drawId, winners) {
    const draw = state.draws.get(drawId);
    if (!draw) return;
    const byId = new Map((draw.winners || []).map((w) => [w.id, w]));
    winners.forEach((w) => byId.set(w.id, Object.assign({}, byId.get(w.id), w)));
    draw.winners = Array.from(byId.values());
  }

  function applyServerTime(serverTime) {
    if (serverTime) state.offsetMs = Date.parse(serverTime) - Date.now();
  }

  function applyEvent(message) {
    const data = message.data || {};
    switch (message.type) {
      case "snapshot":
        state.event = data.event || state.event;
        state.draws = new Map();
        (data.draws || []).forEach(putDraw);
        if (data.checkin) state.checkin = data.checkin;
        applyServerTime(data.server_time);
        break;
      case "event.updated": state.event = data.event; break;
      case "draw.created": case "draw.updated": putDraw(data.draw); break;
      case "draw.countdown":
        applyServerTime(data.server_time);
        putDraw({ id: data.draw_id, scheduled_at: data.scheduled_at });
        break;
      case "draw.entries": putDraw({ id: data.draw_id, entries_count: data.count }); break;
      case "draw.closing":
        putDraw({ id: data.draw_id, status: data.status, entries_count: data.entries_count });
        break;
      case "draw.started": putDraw({ id: data.draw_id, status: "drawing" }); break;
      case "draw.winner": mergeWinners(data.draw_id, data.winners || []); break;
      case "draw.finished":
        putDraw({ id: data.draw_id, status: data.status, performed_at: data.performed_at });
        break;
      case "draw.claimed": mergeWinners(data.draw_id, [{ id: data.winner_id, claimed_at: data.claimed_at }]); break;
      default: break;
    }
  }

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

  function nextDraw() {
    const now = Date.now() + state.offsetMs;
    const upcoming = Array.from(state.draws.values())
      .filter((d) => d.status !== "performed" && d.scheduled_at)
      .sort((a, b) => Date.parse(a.scheduled_at) - Date.parse(b.scheduled_at));
    return upcoming.find((d) => Date.parse(d.scheduled_at) > now - 60000) || upcoming[0] || null;
  }

  function formatLeft(ms) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    const mmss = String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
    return h ? h + ":" + mmss : mmss;
  }

  function lastPerformed() {
    return Array.from(state.draws.values())
      .filter((d) => d.status === "performed")
      .sort((a, b) => (b.performed_at || "").localeCompare(a.performed_at || "") || b.id - a.id)[0];
  }

  function renderCountdown() {
    const draw = nextDraw();
    if (!draw) {
      const done = lastPerformed();
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
    const draw = nextDraw();
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
  function connect(path, handlers) {
    const lastSeq = {};
    let socket = null, attempt = 0, watchdog = null;
    const mainStream = handlers.mainStream;

    function url() {
      const params = new URLSearchParams(handlers.params || {});
      if (lastSeq[mainStream] !== undefined) params.set("since", lastSeq[mainStream]);
      const query = params.toString();
      return config.ws_base + path + (query ? "?" + query : "");
    }

    function resetWatchdog() {
      clearTimeout(watchdog);
      // Heartbeats come every 30 s; silence for longer means a dead connection.
      watchdog = setTimeout(() => socket && socket.close(), config.silence_ms);
    }

    function open() {
      socket = new WebSocket(url(), ["tombola.v1"]);
      socket.onopen = () => {
        attempt = 0;
        if (!handlers.optional) setConnection("live");
        resetWatchdog();
      };
      socket.onmessage = (frame) => {
        resetWatchdog();
        const message = JSON.parse(frame.data);
        if (!message.stream) return; // heartbeat, pong, error
        const last = lastSeq[message.stream];
        if (message.type !== "snapshot") {
          if (last !== undefined && message.seq <= last) return; // already applied
          if (last !== undefined && message.seq > last + 1) {
            socket.send(JSON.stringify({ type: "resume", since: last, stream: message.stream }));
            return;
          }
        }
        lastSeq[message.stream] = message.seq;
        handlers.apply(message);
        render();
      };
      socket.onclose = (event) => {
        clearTimeout(watchdog);
        // An optional stream (the queue) is not the screen's health: its 4404 means
        // "nothing to show here now" (no waiting room), so it hides and asks again later.
        if (handlers.optional) {
          if (event.code === 4404 || event.code === 4403) {
            handlers.onGone();
            setTimeout(() => { if ($("connection").dataset.state !== "stopped") open(); },
              handlers.retryMs);
            return;
          }
        } else if (event.code === 4403 || event.code === 4404) {
          // The key was revoked (4403) or the event is no longer public (4404):
          // reconnecting cannot help; staff give the screen a new link.
          setConnection("stopped");
          return;
        }
        if (!handlers.optional) setConnection("reconnecting");
        attempt += 1;
        setTimeout(open, Math.min(5000, 250 * 2 ** Math.min(attempt, 5)));
      };
    }
    open();
  }

  connect(config.event_path, {
    mainStream: "event:" + config.event_id,
    params: { key: config.key },
    apply: (message) => (message.stream.startsWith("screen:") ? applyScreen(message) : applyEvent(message)),
  });
  if (config.seats_path) {
    connect(config.seats_path, { mainStream: "seats:" + config.event_id, apply: applySeats });
  }
  if (config.queue_path) {
    // Anonymous, without the screen key: the queue stream is public, and has no
    // screen-only fields.
    connect(config.queue_path, {
      mainStream: "queue:" + config.event_id,
      apply: applyQueue,
      optional: true,
      retryMs: config.queue_retry_ms,
      onGone: () => { state.queue = null; renderQueue(); },
    });
  }
  setInterval(renderCountdown, 250);
})();
