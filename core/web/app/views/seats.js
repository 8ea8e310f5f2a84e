// The seat map comes with the next slice of issue 16; the waiting room links here.
import { h } from "../ui.js";

export function seatsView(main, ctx, eventId) {
  const pass = sessionStorage.getItem(`tombola.queue-pass.${eventId}`);
  main.append(h("section", { class: "narrow" },
    h("h1", {}, "Choose your seats"),
    h("p", {}, "The seat map is on its way to the app."),
    pass ? h("p", { id: "queue-pass-note" }, "Your admission pass is kept on this phone for the sale.") : null,
    h("p", {}, h("a", { href: `#/events/${eventId}` }, "Back to the event"))));
}
