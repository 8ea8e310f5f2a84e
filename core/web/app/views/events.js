// Events: what is on now, then what is coming.
import { errorBox, h, time } from "../ui.js";

function eventCard(event) {
  return h("li", { class: "card event-card", dataset: { eventId: event.id } },
    h("a", { href: `#/events/${event.id}`, class: "card-link" },
      h("span", { class: "card-title" }, event.title),
      h("span", { class: "card-meta" }, event.status === "live" ? h("span", { class: "badge live" }, "Live") : null,
        " ", time(event.starts_at))));
}

function list(title, id, events, empty) {
  return h("section", { "aria-labelledby": id },
    h("h2", { id }, title),
    events.length ? h("ul", { class: "cards" }, events.map(eventCard)) : h("p", { class: "muted" }, empty));
}

export async function eventsView(main, { api }) {
  const section = h("section", {}, h("h1", {}, "Events"));
  main.append(section);
  try {
    const [live, upcoming] = await Promise.all([
      api.events({ live: "true" }), api.events({ upcoming: "true" })]);
    const liveIds = new Set(live.results.map((e) => e.id));
    section.append(
      list("Live now", "live-heading", live.results, "Nothing is live right now."),
      list("Upcoming", "upcoming-heading", upcoming.results.filter((e) => !liveIds.has(e.id)),
        "No upcoming events yet."));
  } catch (error) {
    section.append(errorBox(error));
  }
}
