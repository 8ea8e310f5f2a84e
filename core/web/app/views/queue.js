// The waiting room in front of an event's sale: my place, the line's progress and my
// estimated wait, live from ws/events/<id>/queue/ (docs/websocket-protocol.md, "Queue
// stream", "A phone in the line"); at my turn, the pass and a link to the seats.
import { openStream } from "../live.js";
import { actionButton, announce, clear, errorBox, h, time } from "../ui.js";

function minutes(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return "less than a minute";
  const m = Math.ceil(seconds / 60);
  return m === 1 ? "about a minute" : `about ${m} minutes`;
}

export async function queueView(main, { api }, eventId) {
  const section = h("section", { class: "narrow queue" });
  main.append(section);
  let line;
  try {
    line = await api.queue(eventId);
  } catch (error) {
    section.append(h("h1", {}, "Waiting room"));
    if (error.code === "queue_not_found") {
      section.append(h("p", {}, "This sale has no waiting room."),
        h("p", {}, h("a", { href: `#/events/${eventId}/seats` }, "Go to the seats")));
    } else {
      section.append(errorBox(error));
    }
    return null;
  }
  const body = h("div", { id: "queue-state", "aria-live": "polite" });
  const problem = h("div");
  section.append(h("h1", {}, "Waiting room"), body, problem,
    h("p", {}, h("a", { href: `#/events/${eventId}` }, "Back to the event")));
  let turnAsked = false;
  let announcedTurn = false;

  async function askForTurn() {
    // number <= served: our place was called; the pass comes from the REST answer only.
    if (turnAsked) return;
    turnAsked = true;
    try {
      line = await api.queue(eventId);
    } catch (error) {
      problem.replaceChildren(errorBox(error));
    }
    turnAsked = false;
    render();
  }

  function myView(me) {
    if (!api.signedIn()) {
      return h("p", {}, h("a", { href: `#/signin?next=/events/${eventId}/queue` }, "Sign in"),
        " to take a place in the line.");
    }
    if (line.status === "closed") {
      return [h("p", {}, "No waiting needed: the sale is open to everyone."),
        h("p", {}, h("a", { href: `#/events/${eventId}/seats`, class: "button primary" }, "Choose your seats"))];
    }
    const state = me ? me.state : "not_in_line";
    if (state === "admitted" || state === "in_use") {
      if (line.admission && line.admission.token) {
        sessionStorage.setItem(`tombola.queue-pass.${eventId}`, line.admission.token);
      }
      if (!announcedTurn) {
        announcedTurn = true;
        announce("It is your turn! Choose your seats.", { assertive: true });
      }
      return [h("p", { class: "your-turn", id: "your-turn" }, "It’s your turn!"),
        line.admission ? h("p", {}, "Your pass is good until ", time(line.admission.expires_at), ".") : null,
        h("p", {}, h("a", { href: `#/events/${eventId}/seats`, class: "button primary" }, "Choose your seats"))];
    }
    if (state === "waiting") {
      if (me.number === null || me.number === undefined) {
        return h("p", {}, "You are in the line. Places are drawn at random when the sale starts",
          line.sale_starts_at ? [" (", time(line.sale_starts_at), ")"] : null, ".");
      }
      const position = Math.max(0, me.number - (line.served || 0));
      const eta = line.rate_per_minute > 0 ? Math.ceil(position * 60 / line.rate_per_minute) : null;
      const total = Math.max(me.number, 1);
      return [h("p", { class: "place" }, "Your number ", h("strong", { id: "queue-number" }, me.number)),
        h("p", {}, h("strong", { id: "queue-position" }, position), position === 1 ? " place" : " places", " ahead of you, counting yours."),
        h("label", { for: "queue-progress" }, "Progress"),
        h("progress", { id: "queue-progress", max: total, value: Math.min(total, line.served || 0) }),
        line.status === "paused"
          ? h("p", { id: "queue-eta" }, "The line is paused for a moment.")
          : h("p", { id: "queue-eta" }, "Estimated wait: ", minutes(eta), ".")];
    }
    const lead = { done: "You have been served.", expired: "Your pass ran out unused. You can join again at the back.",
      left: "You left the line." }[state];
    return [lead ? h("p", {}, lead) : null,
      actionButton("Join the line", async () => {
        try {
          line = await api.joinQueue(eventId);
          problem.replaceChildren();
          announce("You joined the line.");
        } catch (error) {
          problem.replaceChildren(errorBox(error));
        }
        render();
      }, { class: "primary" })];
  }

  function render() {
    const me = line.me;
    if (me && me.state === "waiting" && me.number !== null && me.number !== undefined &&
        line.sale_started && me.number <= (line.served || 0)) {
      askForTurn();
    }
    clear(body,
      h("p", { class: "meta" }, h("span", { class: `badge ${line.status}` },
        { open: "Open", paused: "Paused", closed: "Closed" }[line.status] || line.status),
      " ", `${line.length || 0} waiting · ${line.served || 0} served`),
      !line.sale_started && line.sale_starts_at ? h("p", {}, "The sale starts ", time(line.sale_starts_at), ".") : null,
      myView(me));
  }

  render();
  const live = openStream(api, {
    path: `/ws/events/${eventId}/queue/`,
    stream: `queue:${eventId}`,
    onMessage: (message) => {
      if (message.type === "snapshot") {
        // A snapshot's `me` is this socket's viewer; keep what REST said if it has none.
        line = Object.assign({}, line, message.data, { me: message.data.me || line.me });
      } else if (message.type === "queue.progress") {
        line = Object.assign({}, line, message.data);
      } else if (message.type === "queue.turn") {
        // A notice to this phone only: admitted now (however seldom a long line's progress
        // comes); the pass comes from the REST answer.
        line = Object.assign({}, line, { served: Math.max(line.served || 0, message.data.served) });
        askForTurn();
        return;
      }
      render();
    },
  });
  return () => {
    live.close();
  };
}
