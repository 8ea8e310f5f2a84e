// An event: its draws and prizes, the countdown to the next draw, winners the moment they
// are drawn, entering a raffle, and "You won!" with the claim button for my own entries.
//
// Live from the event stream (ws/events/<id>/, every draw of the event): the stream client
// resumes with `since` after a drop, so a winner drawn while the phone was away arrives
// with the replay (or the reset snapshot) without a reload. Which winners are mine comes
// from my entries (GET /api/accounts/me/entries/?event=<id>) and the entries I make here:
// a WINNER names its entry.
import { applyEventMessage, eventState, formatLeft, liveWinners, msLeft, nextDraw, lastPerformed }
  from "../../draws.js";
import { openStream } from "../live.js";
import { actionButton, announce, append, clear, errorBox, h, time, when } from "../ui.js";
import { ballotForm, checkedIn, checkInPanel, proofSummary } from "./take-part.js";

const STATUS_LABELS = { open: "Entries open", closed: "Entries closed", drawing: "Drawing…",
  awaiting_beacon: "Waiting for public randomness", performed: "Drawn" };

export async function eventView(main, { api }, eventId) {
  const section = h("section", { class: "event" });
  main.append(section);
  let event;
  try {
    event = await api.event(eventId);
  } catch (error) {
    section.append(h("h1", {}, "Event"), errorBox(error));
    return null;
  }
  const state = eventState();
  state.event = event;
  const mine = new Set();      // my entry ids in this event's draws
  const enteredDraws = new Set();
  const ballots = new Map();   // lottery draw id -> my ballots' numbers
  const openedProofs = new Set();
  const ballotForms = new Map(); // kept across re-renders: the numbers picked so far stay
  const problems = new Map();  // draw id -> the last error of an action on it
  const seenWins = new Set();
  let firstRender = true;

  if (api.signedIn()) {
    try {
      const entries = await api.myEntries({ event: String(eventId) });
      entries.results.forEach((entry) => { mine.add(entry.id); enteredDraws.add(entry.draw); addBallot(entry); });
    } catch (error) {
      if (error.status !== 401) section.append(errorBox(error));
    }
  }
  try {
    (await api.draws(eventId)).results.forEach((d) => state.draws.set(d.id, d));
  } catch (error) {
    // The stream's snapshot brings them too.
  }

  const countdownTitle = h("p", { id: "next-draw-title", class: "label" }, "No draw scheduled");
  const countdown = h("p", { id: "countdown", class: "countdown", role: "timer", "aria-live": "off",
    "aria-atomic": "true" }, "--:--");
  const wins = h("div", { id: "my-wins" });
  const checkin = h("div", { id: "checkin-slot" });
  const draws = h("div", { id: "draws", class: "draws" });
  const queueLink = h("p", { id: "queue-link", hidden: true });
  const title = h("h1", { id: "event-title" }, event.title);
  append(section,
    title,
    h("p", { class: "meta" }, event.status === "live" ? h("span", { class: "badge live" }, "Live") : null,
      " ", time(event.starts_at)),
    event.description ? h("p", { class: "description" }, event.description) : null,
    queueLink,
    checkin,
    wins,
    h("section", { class: "countdown-panel", "aria-labelledby": "countdown-heading" },
      h("h2", { id: "countdown-heading", class: "visually-hidden" }, "Next draw"),
      countdownTitle, countdown),
    h("section", { "aria-labelledby": "draws-heading" }, h("h2", { id: "draws-heading" }, "Draws"), draws));

  function addBallot(entry) {
    if (!entry.numbers || !entry.numbers.length) return;
    if (!ballots.has(entry.draw)) ballots.set(entry.draw, []);
    ballots.get(entry.draw).push(entry.numbers);
  }

  function showCheckin() {
    const open = api.signedIn() && (event.status === "live" || event.status === "published") &&
      !checkedIn(api, eventId);
    clear(checkin, open ? checkInPanel(api, event, () => {
      clear(checkin, h("p", { class: "entered", id: "checked-in", tabindex: "-1" }, "You are checked in."));
      checkin.firstChild.focus();
    }) : null);
  }

  async function play(draw, numbers) {
    problems.delete(draw.id);
    try {
      const entry = await api.playLottery(eventId, draw.id, numbers);
      mine.add(entry.id);
      addBallot({ draw: draw.id, numbers: entry.numbers || numbers });
      announce(`Ballot played: ${numbers.join(" ")}.`);
      return true;
    } catch (error) {
      problems.set(draw.id, error);
      return false;
    } finally {
      render();
    }
  }

  function myWinners() {
    const out = [];
    state.draws.forEach((draw) => liveWinners(draw).forEach((w) => {
      if (w.entry_id !== null && mine.has(w.entry_id)) out.push({ draw, winner: w });
    }));
    return out;
  }

  async function claim(draw) {
    problems.delete("claim:" + draw.id);
    try {
      const answer = await api.claim(eventId, draw.id);
      (answer.claimed || []).forEach((c) => {
        applyEventMessage(state, { type: "draw.claimed",
          data: { draw_id: draw.id, winner_id: c.winner_id, claimed_at: c.claimed_at } });
      });
      announce("Prize claimed.");
    } catch (error) {
      problems.set("claim:" + draw.id, error);
    }
    render();
  }

  async function enter(draw) {
    problems.delete(draw.id);
    try {
      const entry = await api.enter(eventId, draw.id);
      mine.add(entry.id);
      enteredDraws.add(draw.id);
      announce(`You are in the draw “${draw.title}”.`);
    } catch (error) {
      if (error.code === "already_entered") enteredDraws.add(draw.id);
      problems.set(draw.id, error);
    }
    render();
  }

  function winCard({ draw, winner }) {
    const problem = problems.get("claim:" + draw.id);
    return h("article", { class: "won-card", dataset: { winnerId: winner.id },
      "aria-labelledby": `won-${winner.id}` },
      h("h2", { id: `won-${winner.id}` }, "You won!"),
      h("p", { class: "won-prize" }, winner.prize),
      h("p", { class: "muted" }, draw.title),
      winner.claimed_at
        ? h("p", { class: "claimed", tabindex: "-1", dataset: { focusKey: `claim-${draw.id}` } },
          "Claimed ", time(winner.claimed_at))
        : [h("p", {}, "Claim by ", h("strong", {}, time(winner.claim_deadline))),
          actionButton("Claim your prize", () => claim(draw),
            { class: "primary", dataset: { focusKey: `claim-${draw.id}` } })],
      problem ? errorBox(problem) : null,
      draw.seed ? proofSummary(draw, { api, opened: openedProofs }) : null);
  }

  function enterArea(draw) {
    if (draw.status !== "open") return null;
    if (draw.kind === "lottery") return lotteryArea(draw);
    if (enteredDraws.has(draw.id)) {
      // Takes the focus the button had (same focus key), so a keyboard stays in place.
      return h("p", { class: "entered", tabindex: "-1", dataset: { focusKey: `enter-${draw.id}` } },
        "You are in this draw.");
    }
    if (!api.signedIn()) {
      return h("p", {}, h("a", { href: `#/signin?next=/events/${eventId}` }, "Sign in to enter"));
    }
    if (draw.kind !== "raffle") {
      return h("p", { class: "muted" }, "The organiser chooses this draw's winners.");
    }
    return actionButton("Enter the raffle", () => enter(draw),
      { class: "primary", dataset: { focusKey: `enter-${draw.id}` } });
  }

  function lotteryArea(draw) {
    const played = ballots.get(draw.id) || [];
    const limit = (draw.lottery && draw.lottery.max_ballots) || 1;
    return h("div", { class: "lottery" },
      played.length ? h("ul", { class: "my-ballots", "aria-label": "Your ballots" },
        played.map((numbers) => h("li", {}, numbers.join(" ")))) : null,
      !api.signedIn() ? h("p", {}, h("a", { href: `#/signin?next=/events/${eventId}` }, "Sign in to play"))
        : played.length >= limit
          ? h("p", { class: "entered" }, `You played ${played.length} ${played.length === 1 ? "ballot" : "ballots"}, ` +
            "the most allowed.")
          : ballotFor(draw));
  }

  function ballotFor(draw) {
    if (!ballotForms.has(draw.id)) {
      ballotForms.set(draw.id, ballotForm(draw, { onPlay: async (numbers) => {
        if (await play(draw, numbers)) {
          ballotForms.delete(draw.id); // a fresh form for the next ballot
          render();
        }
      } }));
    }
    return ballotForms.get(draw.id);
  }

  function drawCard(draw) {
    const status = STATUS_LABELS[draw.status] || draw.status;
    const winners = liveWinners(draw);
    const problem = problems.get(draw.id);
    return h("article", { class: "card draw-card", dataset: { drawId: draw.id, status: draw.status },
      "aria-labelledby": `draw-${draw.id}` },
      h("h3", { id: `draw-${draw.id}` }, draw.title),
      h("p", { class: "meta" }, h("span", { class: `badge ${draw.status}` }, status),
        draw.scheduled_at && draw.status !== "performed" ? [" Draw at ", time(draw.scheduled_at)] : null,
        " · ", `${draw.entries_count || 0} ${draw.entries_count === 1 ? "entry" : "entries"}`),
      (draw.prizes || []).length
        ? h("ul", { class: "prizes", "aria-label": "Prizes" }, draw.prizes.map((p) =>
          h("li", {}, (p.quantity > 1 ? p.quantity + " × " : "") + p.name)))
        : null,
      enterArea(draw),
      problem ? errorBox(problem) : null,
      winners.length
        ? h("div", { class: "winners" }, h("h4", {}, "Winners"),
          h("ol", { class: "winner-list" }, winners.map((w) => h("li", { dataset: { winnerId: w.id } },
            h("span", { class: "prize" }, w.prize), " ", w.winner,
            mine.has(w.entry_id) ? h("strong", { class: "you" }, " (you)") : null))))
        : null,
      draw.winning_numbers && draw.winning_numbers.length
        ? h("p", { class: "winning-numbers" }, "Winning numbers: ", h("strong", {}, draw.winning_numbers.join(" ")))
        : null,
      draw.status === "performed" && draw.seed ? proofSummary(draw, { api, opened: openedProofs }) : null);
  }

  function render() {
    const focusKey = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.focusKey : null;
    const won = myWinners();
    won.forEach(({ draw, winner }) => {
      if (seenWins.has(winner.id)) return;
      seenWins.add(winner.id);
      if (!firstRender) {
        announce(`You won ${winner.prize} in “${draw.title}”! Claim it by ${when(winner.claim_deadline)}.`,
          { assertive: true });
      }
    });
    firstRender = false;
    clear(wins, won.map(winCard));
    const ordered = Array.from(state.draws.values()).sort((a, b) =>
      (a.status === "performed") - (b.status === "performed") ||
      (a.scheduled_at || "9").localeCompare(b.scheduled_at || "9") || a.id - b.id);
    clear(draws, ordered.length ? ordered.map(drawCard) : h("p", { class: "muted" }, "No draws yet."));
    if (state.event) title.textContent = state.event.title; // this view's, not the page's
    tick();
    if (focusKey) {
      const again = section.querySelector(`[data-focus-key="${focusKey}"]`);
      if (again) again.focus();
    }
  }

  function tick() {
    const draw = nextDraw(state);
    if (!draw) {
      const done = lastPerformed(state);
      countdownTitle.textContent = done ? done.title : "No draw scheduled";
      countdown.textContent = done ? "Drawn" : "--:--";
      return;
    }
    countdownTitle.textContent = draw.title;
    const left = msLeft(state, draw);
    countdown.textContent = draw.status === "drawing" || left <= 0 ? "Drawing…" : formatLeft(left);
  }

  showCheckin();
  render();
  const live = openStream(api, {
    path: `/ws/events/${eventId}/`,
    stream: `event:${eventId}`,
    onMessage: (message) => {
      const before = new Map(Array.from(state.draws.values(), (d) => [d.id, d.status]));
      applyEventMessage(state, message);
      if (message.type === "draw.started") announce("The draw is starting.");
      if (message.type === "draw.winner") {
        const names = (message.data.winners || []).map((w) => `${w.prize}: ${w.winner}`).join(", ");
        if (names) announce("Winners drawn. " + names);
      }
      if (message.type === "snapshot" && before.size) {
        // A reset snapshot after a long absence: say what changed meanwhile.
        state.draws.forEach((d) => {
          if (d.status === "performed" && before.get(d.id) && before.get(d.id) !== "performed") {
            announce(`“${d.title}” was drawn.`);
          }
        });
      }
      render();
    },
  });
  // Tickets: the waiting room while the sale has one open, else the seat map (when the
  // event has seats with prices).
  const seatsOnSale = event.venue ? api.prices(eventId).then((p) => p.prices.length > 0).catch(() => false)
    : Promise.resolve(false);
  api.queue(eventId).then((line) => line.status !== "closed").catch(() => false).then(async (queued) => {
    if (queued) {
      clear(queueLink, h("a", { href: `#/events/${eventId}/queue`, class: "button" }, "Tickets: join the waiting room"));
    } else if (await seatsOnSale) {
      clear(queueLink, h("a", { href: `#/events/${eventId}/seats`, class: "button" }, "Tickets: choose your seats"));
    }
    queueLink.hidden = !queueLink.firstChild;
  });
  const timer = setInterval(tick, 250);
  return () => {
    clearInterval(timer);
    live.close();
  };
}
