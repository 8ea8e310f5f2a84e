// Choose seats: the seat map live from the seat stream (ws/events/<id>/seats/), seats
// picked on the map or "best available N", my holds with their countdown (extend,
// release, buy), the wallet with a top-up, and my tickets for the event.
//
// Which seats are mine is not on the public stream: it comes from my holds
// (GET /api/accounts/me/holds/?event=) and my tickets (GET /api/tickets/?event=). A hold
// made on another device shows up as a `seat.held` of seats this page does not know as
// mine, so such a message re-reads my holds (at most twice a second); a `seat.sold` of
// seats I hold re-reads my tickets. Holding and buying carry the waiting room's pass
// (Queue-Pass) when the sale has one; a purchase carries one Idempotency-Key per tap.
import { formatLeft } from "../../draws.js";
import { openStream } from "../live.js";
import { drawSection, priceColours, sections, STATUS_LABELS } from "../seatmap.js";
import { actionButton, announce, clear, errorBox, h, money, time } from "../ui.js";
import { ticketCard } from "./tickets.js";

const REFRESH_GAP_MS = 500;
const TOP_UPS = [2000, 5000, 10000];

export function queuePass(eventId) {
  return sessionStorage.getItem(`tombola.queue-pass.${eventId}`) || null;
}

// Run `task` now, and again once after it if asked meanwhile; never closer than `gap` ms.
function coalesced(task, gap) {
  let running = null, again = false, last = 0;
  const run = async () => {
    if (running) { again = true; return running; }
    const wait = Math.max(0, last + gap - Date.now());
    running = (async () => {
      if (wait) await new Promise((resolve) => setTimeout(resolve, wait));
      last = Date.now();
      try { await task(); } finally { running = null; }
      if (again) { again = false; run(); }
    })();
    return running;
  };
  return run;
}

export async function seatsView(main, { api }, eventId) {
  const section = h("section", { class: "seats" });
  main.append(section);
  let event;
  try {
    event = await api.event(eventId);
  } catch (error) {
    section.append(h("h1", {}, "Choose your seats"), errorBox(error));
    return null;
  }
  clear(section, h("h1", {}, "Choose your seats"),
    h("p", { class: "meta" }, h("a", { href: `#/events/${eventId}` }, event.title), " · ", time(event.starts_at)),
    queuePass(eventId) ? h("p", { id: "queue-pass-note", class: "muted" },
      "Your waiting-room pass is kept on this phone for the sale.") : null);
  if (!event.venue) {
    section.append(h("p", {}, "This event has no seats."));
    return null;
  }

  const seats = new Map();      // id -> seat from the stream (status: free | held | sold | blocked)
  const picked = new Set();     // seat ids picked on the map, not held yet
  let holds = [];               // my live holds for this event
  let tickets = [];             // my tickets for this event
  let wallet = null;
  let loaded = false;
  let walletNote = null;        // what to do next for a top-up not credited at once
  const problems = { map: null, holds: null, wallet: null, tickets: null };
  const map = h("div", { id: "seat-map", class: "seat-map" });
  const legend = h("div", { id: "seat-legend", class: "legend" });
  const pickPanel = h("div", { id: "pick-panel" });
  const holdPanel = h("div", { id: "holds", "aria-live": "polite" });
  const walletPanel = h("div", { id: "wallet" });
  const ticketPanel = h("div", { id: "tickets" });
  section.append(
    h("section", { "aria-labelledby": "map-heading" }, h("h2", { id: "map-heading" }, "Seat map"),
      legend, map, pickPanel),
    h("section", { "aria-labelledby": "holds-heading" }, h("h2", { id: "holds-heading" }, "Your seats on hold"),
      holdPanel),
    h("section", { "aria-labelledby": "wallet-heading" }, h("h2", { id: "wallet-heading" }, "Wallet"), walletPanel),
    h("section", { "aria-labelledby": "tickets-heading" }, h("h2", { id: "tickets-heading" }, "Your tickets"),
      ticketPanel));

  const heldByMe = () => new Set(holds.flatMap((hold) => hold.seats));
  const soldToMe = () => new Set(tickets.filter((t) => t.status === "valid").map((t) => t.seat_id));

  function stateOf(seat) {
    if (heldByMe().has(seat.id) || soldToMe().has(seat.id)) return "mine";
    if (picked.has(seat.id)) return seat.status === "free" ? "picked" : seat.status;
    if (seat.status === "free" && (seat.price === null || seat.price === undefined)) return "blocked";
    return seat.status;
  }

  function describe(seat, state) {
    const price = seat.price !== null && seat.price !== undefined ? `, ${money(seat.price)}` : "";
    return `${seat.section}, row ${seat.row}, seat ${seat.label}${price}: ${STATUS_LABELS[state] || state}`;
  }

  function toggle(seat) {
    if (picked.has(seat.id)) picked.delete(seat.id);
    else picked.add(seat.id);
    render();
  }

  // --- loading mine ------------------------------------------------------------------
  // Read one of mine (holds, tickets, wallet): its value, or its error for the panel.
  function loader(name, read, keep) {
    return async () => {
      if (!api.signedIn()) return;
      try {
        keep(await read());
        problems[name] = null;
      } catch (error) {
        problems[name] = error;
      }
    };
  }
  const loadHolds = loader("holds", () => api.myHolds(eventId), (page) => { holds = page.results; });
  const loadTickets = loader("tickets", () => api.tickets({ event: String(eventId) }),
    (page) => { tickets = page.results; });
  const loadWallet = loader("wallet", () => api.wallet(), (answer) => { wallet = answer; });

  const refreshHolds = coalesced(async () => { await loadHolds(); render(); }, REFRESH_GAP_MS);
  const refreshTickets = coalesced(async () => {
    await Promise.all([loadHolds(), loadTickets(), loadWallet()]);
    render();
  }, REFRESH_GAP_MS);

  // --- actions -----------------------------------------------------------------------
  function afterHold(hold) {
    holds = holds.filter((h0) => h0.token !== hold.token).concat([hold]);
    hold.seats.forEach((id) => picked.delete(id));
    problems.map = null;
    announce(`${hold.seats.length} ${hold.seats.length === 1 ? "seat" : "seats"} held for you until ` +
      new Date(hold.expires_at).toLocaleTimeString() + ".");
  }

  async function hold(body) {
    try {
      afterHold(await api.hold(eventId, body, { queuePass: queuePass(eventId) }));
    } catch (error) {
      problems.map = error;
      if (error.code === "seats_unavailable") (error.body.seats || []).forEach((id) => picked.delete(id));
    }
    render();
  }

  async function buy(holdToken, expectedTotal) {
    try {
      const order = await api.purchase(holdToken, { expectedTotal, queuePass: queuePass(eventId) });
      holds = holds.filter((h0) => h0.token !== holdToken);
      problems.holds = null;
      announce(`Bought: ${order.tickets.length} ${order.tickets.length === 1 ? "ticket" : "tickets"}.`,
        { assertive: true });
      await Promise.all([loadTickets(), loadWallet()]);
    } catch (error) {
      problems.holds = error;
      if (error.code === "hold_expired" || error.code === "sale_closed" || error.code === "hold_lost") {
        await loadHolds();
      }
    }
    render();
  }

  async function holdAction(run) {
    try {
      await run();
      problems.holds = null;
    } catch (error) {
      problems.holds = error;
    }
    await loadHolds();
    render();
  }

  async function topUp(amount) {
    try {
      const answer = await api.topUp(amount);
      problems.wallet = null;
      wallet = Object.assign({}, wallet, { balance: answer.balance });
      const next = answer.next_action || {};
      walletNote = null;
      if (next.type === "bank_transfer") {
        walletNote = `Transfer ${money(next.amount)} to ${next.beneficiary} (IBAN ${next.iban}) ` +
          `with the reference ${next.reference}; your wallet is credited when it arrives.`;
      } else if (next.type === "stripe_payment") {
        walletNote = "Card payments are confirmed on the organiser's payment page; " +
          "your wallet is credited once the card payment goes through.";
      } else {
        announce(`Wallet topped up: ${money(answer.balance)}.`);
      }
    } catch (error) {
      problems.wallet = error;
    }
    render();
  }

  // --- drawing -----------------------------------------------------------------------
  function renderLegend(all, colours) {
    const priced = sections(all).filter((s) => s.price !== null);
    clear(legend,
      h("ul", { class: "legend-list", "aria-label": "Prices" }, priced.map((s) =>
        h("li", {}, h("span", { class: "swatch", dataset: { colour: colours.get(s.price) } }),
          `${s.name}: ${money(s.price)}`))),
      h("ul", { class: "legend-list", "aria-label": "Seat colours" },
        ["picked", "mine", "held", "sold"].map((state) =>
          h("li", {}, h("span", { class: `swatch ${state}` }), STATUS_LABELS[state]))));
    // Inline styles are refused by the shell's policy: colour the swatches through the DOM.
    legend.querySelectorAll("[data-colour]").forEach((el) => { el.style.background = el.dataset.colour; });
  }

  function renderMap() {
    const all = Array.from(seats.values());
    if (!all.length) {
      clear(map, h("p", { class: "muted" }, loaded ? "No seats at this venue." : "Loading the seat map…"));
      return;
    }
    const colours = priceColours(all);
    renderLegend(all, colours);
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.seatId : null;
    clear(map, sections(all).map((s) => h("figure", { class: "seat-section", dataset: { sectionId: s.id } },
      h("figcaption", {}, h("strong", {}, s.name), s.price !== null ? ` · ${money(s.price)}` : " · not on sale"),
      drawSection(s, { stateOf, describe, colours, onToggle: toggle }))));
    if (focused) {
      const again = map.querySelector(`[data-seat-id="${focused}"]`);
      if (again && again.getAttribute("tabindex") !== null) again.focus();
    }
  }

  function renderPick() {
    if (!api.signedIn()) {
      clear(pickPanel, h("p", {}, h("a", { href: `#/signin?next=/events/${eventId}/seats` }, "Sign in"),
        " to hold and buy seats."));
      return;
    }
    const chosen = Array.from(picked).map((id) => seats.get(id)).filter(Boolean);
    const total = chosen.reduce((sum, seat) => sum + (seat.price || 0), 0);
    const all = sections(Array.from(seats.values())).filter((s) => s.price !== null);
    const countId = "best-count", sectionId = "best-section";
    clear(pickPanel,
      problems.map ? errorBox(problems.map, "seat-error") : null,
      problems.map && problems.map.code === "queue_required"
        ? h("p", {}, h("a", { href: `#/events/${eventId}/queue`, class: "button" }, "Go to the waiting room")) : null,
      h("p", { id: "picked-summary" }, chosen.length
        ? `${chosen.length} ${chosen.length === 1 ? "seat" : "seats"} picked · ${money(total)}`
        : "Tap free seats to pick them."),
      chosen.length ? actionButton(`Hold ${chosen.length} ${chosen.length === 1 ? "seat" : "seats"}`,
        () => hold({ seat_ids: chosen.map((s) => s.id) }), { class: "primary", id: "hold-picked" }) : null,
      chosen.length ? h("button", { type: "button", onclick: () => { picked.clear(); render(); } }, "Clear") : null,
      h("p", { class: "form-lead" }, h("strong", {}, "Best available"), ": the best seats side by side."),
      h("form", { class: "best-available", "aria-label": "Best available", novalidate: true, onsubmit: (e) => {
        e.preventDefault();
        const form = e.target;
        const count = Number(form.elements.namedItem("count").value);
        const sectionValue = form.elements.namedItem("section").value;
        const best = { count };
        if (sectionValue) best.section = Number(sectionValue);
        const button = form.querySelector("button");
        button.disabled = true;
        hold({ best_available: best }).finally(() => { button.disabled = false; });
      } },
      h("div", { class: "field inline" }, h("label", { for: countId }, "How many"),
        h("input", { id: countId, name: "count", type: "number", min: 1, max: 8, value: 2, inputmode: "numeric" })),
      h("div", { class: "field inline" }, h("label", { for: sectionId }, "Section"),
        h("select", { id: sectionId, name: "section" }, h("option", { value: "" }, "Any"),
          all.map((s) => h("option", { value: s.id }, `${s.name} (${money(s.price)})`)))),
      h("button", { type: "submit" }, "Find seats")));
  }

  function holdCard(hold0) {
    const left = () => Math.max(0, Date.parse(hold0.expires_at) - Date.now());
    return h("article", { class: "card hold-card", dataset: { holdToken: hold0.token } },
      h("ul", { class: "hold-seats" }, (hold0.seat_details || []).map((seat) =>
        h("li", {}, `${seat.section}, row ${seat.row}, seat ${seat.label}`,
          seat.price !== null ? h("span", { class: "price" }, money(seat.price)) : null))),
      h("p", { class: "hold-total" }, "Total ", h("strong", {}, money(hold0.total))),
      h("p", { class: "hold-timer" }, "Held for ",
        h("strong", { class: "hold-left", role: "timer", dataset: { expires: hold0.expires_at } }, formatLeft(left()))),
      h("div", { class: "actions" },
        actionButton(`Buy for ${money(hold0.total)}`, () => buy(hold0.token), { class: "primary buy" }),
        actionButton("More time", () => holdAction(async () => {
          const fresh = await api.extendHold(hold0.token);
          announce(`Held until ${new Date(fresh.expires_at).toLocaleTimeString()}.`);
        }), { class: "extend" }),
        actionButton("Release", () => holdAction(() => api.releaseHold(hold0.token)), { class: "release" })));
  }

  function renderHolds() {
    const error = problems.holds;
    const priceChanged = error && error.code === "price_changed" ? error.body : null;
    clear(holdPanel,
      !api.signedIn() ? h("p", { class: "muted" }, "Sign in to hold seats.") : null,
      api.signedIn() && !holds.length ? h("p", { class: "muted" }, "No seats on hold.") : null,
      holds.map(holdCard),
      error ? errorBox(error, "hold-error") : null,
      priceChanged && holds.length ? actionButton(`Buy at the new price, ${money(priceChanged.new_total)}`,
        () => buy(holds[0].token, priceChanged.new_total), { class: "primary" }) : null);
  }

  function renderWallet() {
    if (!api.signedIn()) { clear(walletPanel); return; }
    const need = holds.reduce((sum, h0) => sum + h0.total, 0);
    const short = wallet && need > wallet.balance ? need - wallet.balance : 0;
    clear(walletPanel,
      h("p", {}, "Balance ", h("strong", { id: "wallet-balance" }, wallet ? money(wallet.balance) : "…")),
      short ? h("p", { class: "notice" }, `Top up at least ${money(short)} to buy the seats you hold.`) : null,
      h("div", { class: "actions", role: "group", "aria-label": "Top up" },
        TOP_UPS.map((amount) => actionButton(`Top up ${money(amount)}`, () => topUp(amount),
          { class: "top-up", dataset: { amount } }))),
      walletNote ? h("p", { class: "notice", id: "wallet-note" }, walletNote) : null,
      problems.wallet ? errorBox(problems.wallet, "wallet-error") : null);
  }

  function renderTickets() {
    if (!api.signedIn()) { clear(ticketPanel); return; }
    const valid = tickets.filter((t) => t.status === "valid");
    clear(ticketPanel,
      valid.length ? h("ul", { class: "cards ticket-list" }, valid.map((ticket) => h("li", {},
        ticketCard(ticket, { api, onChange: refreshTickets })))) : h("p", { class: "muted" }, "No tickets yet."),
      problems.tickets ? errorBox(problems.tickets) : null);
  }

  function render() {
    renderMap();
    renderPick();
    renderHolds();
    renderWallet();
    renderTickets();
  }

  function tick() {
    let expired = false;
    holdPanel.querySelectorAll(".hold-left").forEach((el) => {
      const left = Date.parse(el.dataset.expires) - Date.now();
      el.textContent = formatLeft(Math.max(0, left));
      if (left <= 0) expired = true;
    });
    if (expired) refreshHolds();
  }

  await Promise.all([loadHolds(), loadTickets(), loadWallet()]);
  render();
  const live = openStream(api, {
    path: `/ws/events/${eventId}/seats/`,
    stream: `seats:${eventId}`,
    onMessage: (message) => {
      const data = message.data || {};
      if (message.type === "snapshot") {
        seats.clear();
        (data.seats || []).forEach((seat) => seats.set(seat.id, seat));
        loaded = true;
        if (api.signedIn()) refreshHolds();  // anything held meanwhile, on any device
      } else if (Array.isArray(data.seats)) {
        data.seats.forEach((id) => {
          const seat = seats.get(id);
          if (seat) seats.set(id, Object.assign({}, seat, { status: data.status }));
          if (data.status !== "free") picked.delete(id);
        });
        if (api.signedIn()) {
          const mineHeld = heldByMe(), mineSold = soldToMe();
          const touchesMine = data.seats.some((id) => mineHeld.has(id) || mineSold.has(id));
          if (message.type === "seat.sold" && touchesMine) refreshTickets();
          else if (message.type === "seat.released" && data.seats.some((id) => mineSold.has(id))) refreshTickets();
          else if (touchesMine || message.type === "seat.held") refreshHolds();
        }
      }
      render();
    },
  });
  const timer = setInterval(tick, 500);
  return () => {
    clearInterval(timer);
    live.close();
  };
}
