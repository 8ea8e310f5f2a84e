// My tickets: each with its seat, price and QR code (what the gate scans), and
// "cancel and refund" before the event starts. The QR code is the ticket's own (the API's
// `qr_url`, an SVG only the owner may fetch); a ticket without one shows its seat only.
// Each valid ticket also downloads as the PDF the confirmation email attached.
import { actionButton, announce, errorBox, h, money, time } from "../ui.js";

function qrSlot(ticket, api) {
  if (!ticket.qr_url) return null;
  const slot = h("div", { class: "ticket-qr" });
  api.ticketQr(ticket.qr_url).then((src) => {
    slot.replaceChildren(h("img", { src, width: 180, height: 180, class: "qr",
      alt: `QR code of your ticket: ${ticket.section}, row ${ticket.row}, seat ${ticket.seat}` }));
  }).catch((error) => slot.replaceChildren(errorBox(error)));
  return slot;
}

// "Download PDF": the ticket's page as the confirmation email attached it (the PDF needs
// the session's token, so it is fetched here and saved through an object URL).
function pdfButton(ticket, api, slot) {
  return actionButton("Download PDF", async () => {
    try {
      const url = URL.createObjectURL(await api.ticketPdf(ticket.id));
      const link = h("a", { href: url, download: `ticket-${ticket.id}.pdf`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      slot.replaceChildren();
      announce("Ticket PDF downloaded.");
    } catch (error) {
      slot.replaceChildren(errorBox(error));
    }
  }, { class: "pdf", "aria-describedby": `ticket-${ticket.id}` }); // which ticket's, for screen readers
}

// One ticket; `onChange` runs after a refund (the list reloads).
export function ticketCard(ticket, { api, onChange }) {
  const slot = h("div");
  const refundable = ticket.status === "valid" && Date.parse(ticket.event_starts_at) > Date.now();
  return h("article", { class: "card ticket-card", dataset: { ticketId: ticket.id, status: ticket.status },
    "aria-labelledby": `ticket-${ticket.id}` },
  h("h3", { id: `ticket-${ticket.id}` }, `${ticket.section}, row ${ticket.row}, seat ${ticket.seat}`),
  h("p", { class: "meta" }, ticket.event_title, " · ", time(ticket.event_starts_at)),
  ticket.venue ? h("p", { class: "meta" }, ticket.venue) : null,
  h("p", {}, "Paid ", h("strong", {}, money(ticket.price))),
  ticket.status === "valid" ? qrSlot(ticket, api) : h("p", { class: "badge closed" }, "Cancelled"),
  ticket.status === "valid" ? pdfButton(ticket, api, slot) : null,
  refundable ? actionButton("Cancel and refund", async () => {
    try {
      await api.cancelTicket(ticket.id);
      announce(`Ticket cancelled; ${money(ticket.price)} is back in your wallet.`);
      await onChange();
    } catch (error) {
      slot.replaceChildren(errorBox(error));
    }
  }, { class: "refund" }) : null,
  slot);
}

export async function ticketsView(main, { api, router }) {
  const section = h("section", {}, h("h1", {}, "My tickets"));
  main.append(section);
  if (!api.signedIn()) {
    router.go("/signin?next=/me/tickets");
    return null;
  }
  const list = h("div", { id: "my-tickets" });
  section.append(list);
  async function load() {
    try {
      const tickets = (await api.tickets({ status: "valid" })).results;
      list.replaceChildren(tickets.length
        ? h("ul", { class: "cards ticket-list" }, tickets.map((ticket) =>
          h("li", {}, ticketCard(ticket, { api, onChange: load }))))
        : h("p", { class: "muted" }, "No tickets yet. ", h("a", { href: "#/" }, "See the events")));
    } catch (error) {
      list.replaceChildren(errorBox(error));
    }
  }
  await load();
  return null;
}
