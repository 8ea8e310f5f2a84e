// My entries across events (GET /api/accounts/me/entries/), each with where it stands;
// a prize won and not claimed yet can be claimed from here too.
import { actionButton, announce, errorBox, h, time } from "../ui.js";

const STATES = { open: "Entries open", closed: "Waiting for the draw", won: "You won!",
  forfeited: "Not claimed in time", not_won: "Not drawn this time" };

export async function entriesView(main, { api, router }) {
  const section = h("section", {}, h("h1", {}, "My entries"));
  main.append(section);
  if (!api.signedIn()) {
    router.go("/signin?next=/me/entries");
    return null;
  }
  let entries;
  try {
    entries = (await api.myEntries()).results;
  } catch (error) {
    section.append(errorBox(error));
    return null;
  }
  if (!entries.length) {
    section.append(h("p", { class: "muted" }, "You have not entered a draw yet. ",
      h("a", { href: "#/" }, "See the events")));
    return null;
  }
  section.append(h("ul", { class: "cards", id: "entries" }, entries.map((entry) => {
    const slot = h("div");
    const claimable = entry.state === "won" && !entry.claimed_at;
    return h("li", { class: `card entry-card ${entry.state}`, dataset: { entryId: entry.id, state: entry.state } },
      h("p", { class: "card-title" }, h("a", { href: `#/events/${entry.event}` }, entry.draw_title)),
      h("p", { class: "meta" }, entry.event_title, " · ", time(entry.event_starts_at)),
      h("p", {}, h("span", { class: `badge ${entry.state}` }, STATES[entry.state] || entry.state),
        entry.prize ? [" ", h("strong", {}, entry.prize)] : null),
      entry.state === "won" && entry.claimed_at ? h("p", {}, "Claimed ", time(entry.claimed_at)) : null,
      claimable ? h("p", {}, "Claim by ", time(entry.claim_deadline)) : null,
      claimable ? actionButton("Claim your prize", async (button) => {
        try {
          await api.claim(entry.event, entry.draw);
          button.replaceWith(h("p", { class: "claimed", tabindex: "-1" }, "Claimed."));
          announce("Prize claimed.");
        } catch (error) {
          slot.replaceChildren(errorBox(error));
        }
      }, { class: "primary" }) : null,
      slot);
  })));
  return null;
}
