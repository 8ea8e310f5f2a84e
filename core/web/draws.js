// The event and draw streams' state in the browser: the client twin of the reducers in
// live/streams.py (the DRAW, PRIZE and WINNER objects: live/draw_messages.py). Shared by
// the venue screen and the attendee app. Every message carries absolute values, so
// applying one twice, or after a snapshot that already shows it, changes nothing.

export function eventState() {
  return { event: null, draws: new Map(), offsetMs: 0, checkin: null };
}

function putDraw(state, draw) {
  const old = state.draws.get(draw.id) || {};
  state.draws.set(draw.id, Object.assign({}, old, draw));
}

function mergeWinners(state, drawId, winners) {
  const draw = state.draws.get(drawId);
  if (!draw) return;
  const byId = new Map((draw.winners || []).map((w) => [w.id, w]));
  winners.forEach((w) => byId.set(w.id, Object.assign({}, byId.get(w.id), w)));
  draw.winners = Array.from(byId.values());
}

function applyServerTime(state, serverTime) {
  if (serverTime) state.offsetMs = Date.parse(serverTime) - Date.now();
}

// A snapshot of `event:<id>` ({event, draws, server_time, checkin?}) or of `draw:<id>`
// ({draw, server_time}), or any draw message. Returns the draw ids it touched.
export function applyEventMessage(state, message) {
  const data = message.data || {};
  switch (message.type) {
    case "snapshot":
      state.event = data.event || state.event;
      state.draws = new Map();
      (data.draws || (data.draw ? [data.draw] : [])).forEach((d) => putDraw(state, d));
      if (data.checkin) state.checkin = data.checkin;
      applyServerTime(state, data.server_time);
      return Array.from(state.draws.keys());
    case "event.updated": state.event = data.event; return [];
    case "draw.created": case "draw.updated": putDraw(state, data.draw); break;
    case "draw.countdown":
      applyServerTime(state, data.server_time);
      putDraw(state, { id: data.draw_id, scheduled_at: data.scheduled_at });
      break;
    case "draw.entries": putDraw(state, { id: data.draw_id, entries_count: data.count }); break;
    case "draw.closing":
      putDraw(state, { id: data.draw_id, status: data.status, entries_count: data.entries_count,
        beacon: data.beacon });
      break;
    case "draw.awaiting_beacon":
      putDraw(state, { id: data.draw_id, status: data.status, beacon: data.beacon });
      break;
    case "draw.started": putDraw(state, { id: data.draw_id, status: "drawing" }); break;
    case "draw.winner":
      if (data.prize) {
        const draw = state.draws.get(data.draw_id);
        if (draw && !(draw.prizes || []).some((p) => p.id === data.prize.id)) {
          draw.prizes = (draw.prizes || []).concat([data.prize]);
        }
      }
      mergeWinners(state, data.draw_id, data.winners || []);
      break;
    case "draw.finished":
      putDraw(state, { id: data.draw_id, status: data.status, performed_at: data.performed_at,
        seed: data.seed, winning_numbers: data.winning_numbers, proof_url: data.proof_url,
        beacon: data.beacon });
      break;
    case "draw.claimed":
      mergeWinners(state, data.draw_id, [{ id: data.winner_id, claimed_at: data.claimed_at }]);
      break;
    case "draw.forfeited":
      mergeWinners(state, data.draw_id,
        (data.winner_ids || []).map((id) => ({ id, forfeited_at: data.forfeited_at })));
      break;
    default: return [];
  }
  return data.draw_id !== undefined ? [data.draw_id] : [];
}

export function serverNow(state) {
  return Date.now() + state.offsetMs;
}

// The draw a countdown should show: the next one not performed yet (one that is just
// being drawn stays for a minute), else null.
export function nextDraw(state) {
  const now = serverNow(state);
  const upcoming = Array.from(state.draws.values())
    .filter((d) => d.status !== "performed" && d.scheduled_at)
    .sort((a, b) => Date.parse(a.scheduled_at) - Date.parse(b.scheduled_at));
  return upcoming.find((d) => Date.parse(d.scheduled_at) > now - 60000) || upcoming[0] || null;
}

export function lastPerformed(state) {
  return performedDraws(state)[0];
}

// Performed draws, newest first.
export function performedDraws(state) {
  return Array.from(state.draws.values())
    .filter((d) => d.status === "performed")
    .sort((a, b) => (b.performed_at || "").localeCompare(a.performed_at || "") || b.id - a.id);
}

// "04:59", or "1:04:59" past an hour.
export function formatLeft(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const mmss = String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
  return h ? h + ":" + mmss : mmss;
}

// Milliseconds to the draw, by the server's clock; null without a schedule.
export function msLeft(state, draw) {
  if (!draw || !draw.scheduled_at) return null;
  return Date.parse(draw.scheduled_at) - serverNow(state);
}

export function liveWinners(draw) {
  return (draw.winners || []).filter((w) => !w.forfeited_at)
    .sort((a, b) => a.rank - b.rank || a.id - b.id);
}
