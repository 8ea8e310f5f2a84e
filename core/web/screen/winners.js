// The winners panel and the winner moment of the venue screen.
//
// Winners are grouped by draw, newest draw first, each group with the draw's name and
// its prizes; a lottery shows its winning numbers as numbers and its winners by prize
// tier; an external draw's winners (imported from the operator's file) come under their
// own heading. The moment: when a draw is performed while the screen watches, its
// announcement fills the screen for config.moment_ms, then settles into the list (the
// group is marked "just drawn" for a while).

import { liveWinners, performedDraws, serverNow } from "/assets/draws.js";
import { T, config, count, el, fill, localTime } from "./local.js";

// Names shown per group (and per lottery tier) before "and N more": a screen shows a
// few; a lottery with thousands of small winners must not bury the newer draws.
const GROUP_NAMES = 8, TIER_NAMES = 4, MOMENT_NAMES = 6;
// How long a group stays marked after its moment (ms), and how old a performed draw
// may be for a replayed draw.finished to be announced (a screen back after a drop).
const SETTLED_MS = 20000, ANNOUNCE_WITHIN_MS = 120000, LEAVE_MS = 700;

// --- what the panel shows -------------------------------------------------------------

function byRank(a, b) {
  return a.rank - b.rank || a.id - b.id;
}

// Performed draws with something to show, newest first: {draw, winners}.
export function winnerGroups(state) {
  return performedDraws(state)
    .map((draw) => ({ draw, winners: liveWinners(draw) }))
    .filter((g) => g.winners.length || (g.draw.winning_numbers || []).length);
}

const isTiered = (draw) => draw.kind === "lottery" && draw.lottery && draw.lottery.mode === "tiers";

// A lottery's tiers: every prize, most matches first, with its winners (none: "no winner").
function tiers(draw, winners) {
  return (draw.prizes || []).slice()
    .sort((a, b) => (b.matches || 0) - (a.matches || 0) || byRank(a, b))
    .map((prize) => ({ prize, winners: winners.filter((w) => w.prize_id === prize.id) }));
}

// "Dana J. ×3, Emil N. and 2 more": a person with several winning ballots is named once.
export function names(winners, limit) {
  const times = new Map();
  winners.slice().sort((a, b) => a.id - b.id)
    .forEach((w) => times.set(w.winner, (times.get(w.winner) || 0) + 1));
  const all = Array.from(times, ([name, n]) => (n > 1 ? `${name} ×${n}` : name));
  const shown = all.slice(0, limit).join(", ");
  return all.length > limit ? shown + " " + fill(T.more, { n: count(all.length - limit) }) : shown;
}

function prizeLine(draw) {
  return (draw.prizes || []).slice().sort(byRank)
    .map((p) => (p.quantity > 1 ? p.quantity + " × " : "") + p.name).join(" · ");
}

export function balls(numbers, className = "balls") {
  return el("ol", { class: className, "aria-label": T.winning_numbers },
    ...(numbers || []).map((n) => el("li", { class: "ball" }, String(n))));
}

function winnerItem(winner) {
  return el("li", { "data-winner-id": winner.id },
    el("span", { class: "prize" }, winner.prize), el("span", { class: "name" }, winner.winner));
}

function groupBody(draw, winners) {
  const parts = [];
  if ((draw.winning_numbers || []).length) {
    parts.push(el("div", { class: "numbers" },
      el("span", { class: "numbers-label" }, T.winning_numbers), balls(draw.winning_numbers)));
  }
  if (isTiered(draw)) {
    parts.push(el("ul", { class: "tiers" }, ...tiers(draw, winners).map(({ prize, winners: won }) =>
      el("li", { class: "tier", "data-matches": prize.matches },
        el("span", { class: "tier-name" },
          prize.matches !== null && prize.matches !== undefined
            ? fill(T.matches, { n: prize.matches }) + " · " + prize.name : prize.name),
        el("span", { class: won.length ? "name" : "name none" },
          won.length ? names(won, TIER_NAMES) : T.no_winner)))));
    return parts;
  }
  if (draw.kind === "external") parts.push(el("h4", { class: "imported" }, T.imported));
  const shown = winners.slice().sort(byRank);
  const list = el("ol", { class: "winner-list" }, ...shown.slice(0, GROUP_NAMES).map(winnerItem));
  if (shown.length > GROUP_NAMES) {
    list.append(el("li", { class: "more" }, fill(T.more, { n: count(shown.length - GROUP_NAMES) })));
  }
  parts.push(list);
  return parts;
}

function groupElement({ draw, winners }, settled) {
  const meta = [T[draw.kind] || draw.kind];
  if (draw.performed_at) meta.push(fill(T.drawn_at, { time: localTime(draw.performed_at) }));
  return el("section", {
    class: "draw-group" + (settled ? " just-drawn" : ""), "data-draw-id": draw.id,
    "data-kind": draw.kind, "aria-labelledby": "draw-" + draw.id,
  },
  el("header", { class: "group-head" },
    el("h3", { id: "draw-" + draw.id }, draw.title),
    el("p", { class: "group-meta" }, meta.join(" · "))),
  el("p", { class: "group-prizes" }, prizeLine(draw)),
  ...groupBody(draw, winners));
}

// Redraws the panel only when what it shows changed, so animations play once.
export function renderWinners(state, container, empty, settledId) {
  const groups = winnerGroups(state);
  const key = JSON.stringify(groups.map(({ draw, winners }) => [draw.id, draw.title,
    draw.winning_numbers, draw.performed_at, draw.prizes, winners.map((w) => [w.id, w.winner])]))
    + "|" + settledId;
  if (container.dataset.key === key) return;
  container.dataset.key = key;
  container.replaceChildren(...groups.map((g) => groupElement(g, g.draw.id === settledId)));
  empty.hidden = groups.length > 0;
}

// --- the winner moment ----------------------------------------------------------------

export class WinnerMoments {
  // `nodes`: the overlay's elements; `onSettled(drawId)` re-renders the list marked.
  constructor(state, nodes, onSettled) {
    this.state = state;
    this.nodes = nodes;
    this.onSettled = onSettled;
    this.queue = [];
    this.showing = null;
    this.settled = null;
  }

  // The draw id the list marks as just drawn, or null once that has worn off.
  get settledId() {
    return this.settled && Date.now() < this.settled.until ? this.settled.id : null;
  }

  // Called before a message of the event stream is applied: which draw (and winners)
  // does it announce? A draw.finished of a draw performed just now announces the draw;
  // a draw.winner for a draw already performed (a redraw) announces its new winners.
  noticeBefore(message, replayed) {
    if (!config.moment_ms) return null;
    const data = message.data || {};
    const draw = this.state.draws.get(data.draw_id);
    if (!draw) return null;
    if (message.type === "draw.finished" && draw.status !== "performed") {
      const age = serverNow(this.state) - Date.parse(data.performed_at);
      return replayed && !(age < ANNOUNCE_WITHIN_MS) ? null : { id: draw.id, winnerIds: null };
    }
    if (message.type === "draw.winner" && draw.status === "performed" && !replayed) {
      return { id: draw.id, winnerIds: (data.winners || []).map((w) => w.id) };
    }
    return null;
  }

  announce(notice) {
    if (!notice) return;
    const queued = this.queue.find((n) => n.id === notice.id);
    if (queued || (this.showing && this.showing.id === notice.id)) return;
    this.queue.push(notice);
    if (!this.showing) this.next();
  }

  next() {
    const notice = this.queue.shift();
    this.showing = notice || null;
    if (!notice) return;
    const draw = this.state.draws.get(notice.id);
    if (!draw) { this.next(); return; }
    let winners = liveWinners(draw);
    if (notice.winnerIds) winners = winners.filter((w) => notice.winnerIds.includes(w.id));
    if (!winners.length && !(draw.winning_numbers || []).length) { this.next(); return; }
    this.show(draw, winners);
    setTimeout(() => this.settle(notice.id), config.moment_ms);
  }

  show(draw, winners) {
    const n = this.nodes;
    n.draw.textContent = draw.title;
    n.title.textContent = !winners.length ? T.winning_numbers
      : winners.length === 1 ? T.winner : T.winners;
    n.numbers.hidden = !(draw.winning_numbers || []).length;
    n.numbers.replaceChildren(...balls(draw.winning_numbers).children);
    const shown = winners.slice().sort(byRank);
    n.winners.replaceChildren(...shown.slice(0, MOMENT_NAMES).map((w) =>
      el("li", { "data-winner-id": w.id },
        el("span", { class: "moment-name" }, w.winner),
        el("span", { class: "moment-prize" }, w.prize))));
    if (shown.length > MOMENT_NAMES) {
      n.winners.append(el("li", { class: "more" },
        fill(T.more, { n: count(shown.length - MOMENT_NAMES) })));
    }
    n.winners.toggleAttribute("data-many", shown.length > 2);
    n.root.dataset.drawId = draw.id;
    n.root.classList.remove("leaving");
    n.root.hidden = false;
  }

  settle(drawId) {
    this.nodes.root.classList.add("leaving");
    this.settled = { id: drawId, until: Date.now() + SETTLED_MS };
    this.onSettled(drawId);
    setTimeout(() => {
      this.nodes.root.hidden = true;
      this.nodes.root.classList.remove("leaving");
      this.next();
    }, LEAVE_MS);
    // The mark wears off by itself.
    setTimeout(() => this.onSettled(null), SETTLED_MS + 50);
  }
}
