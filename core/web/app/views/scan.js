// The gate scanner (#/scan?event=12&gate=North), for accounts with the gate role
// (README "Running the gates"). The camera reads QR codes where the browser has
// BarcodeDetector; typing or pasting the code works everywhere. Each code goes to
// POST /api/events/<id>/scan/ and the answer fills the screen: green to let in, red not.
import { errorBox, h } from "../ui.js";

const ANSWERS = {
  valid: { title: "Come in", tone: "ok" },
  already_used: { title: "Already used", tone: "stop" },
  refunded: { title: "Refunded ticket", tone: "stop" },
  wrong_event: { title: "Another event's ticket", tone: "stop" },
  wrong_gate: { title: "Wrong gate", tone: "warn" },
  invalid: { title: "Not a valid ticket", tone: "stop" },
};
// The camera sees the same code for a second or more: scan it once.
const REPEAT_MS = 4000;

function useStyles() {
  if (document.getElementById("scan-css")) return;
  document.head.append(h("link", { id: "scan-css", rel: "stylesheet", href: "/assets/app/scan.css" }));
}

function seatText(ticket) {
  return ticket ? `Section ${ticket.section} · row ${ticket.row} · seat ${ticket.seat}` : "";
}

function resultPanel(answer) {
  const shown = ANSWERS[answer.result] || { title: answer.result, tone: "stop" };
  const details = [];
  if (answer.ticket) details.push(h("p", { class: "scan-seat" }, seatText(answer.ticket)));
  if (answer.result === "already_used") {
    details.push(h("p", {}, `At ${answer.used_gate}, ${new Date(answer.used_at).toLocaleTimeString()}`));
  }
  if (answer.result === "wrong_gate") {
    details.push(h("p", {}, "Send to: " + (answer.admitting_gates.join(", ") || "no gate admits it")));
  }
  return h("div", { class: `scan-result ${shown.tone}`, dataset: { result: answer.result } },
    h("p", { class: "scan-verdict" }, shown.title), details);
}

async function startCamera(video, onCode) {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return null;
  const formats = await window.BarcodeDetector.getSupportedFormats().catch(() => []);
  if (!formats.includes("qr_code")) return null;
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  const stream = await navigator.mediaDevices.getUserMedia(
    { video: { facingMode: "environment" }, audio: false });
  video.srcObject = stream;
  await video.play();
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      const found = await detector.detect(video);
      if (found.length) await onCode(found[0].rawValue);
    } catch (error) { /* a frame that could not be read: try the next */ }
    if (!stopped) setTimeout(tick, 200);
  };
  tick();
  return () => { stopped = true; stream.getTracks().forEach((track) => track.stop()); };
}

export async function scanView(main, { api, router }, query) {
  useStyles();
  const section = h("section", { class: "gate-scanner" }, h("h1", {}, "Gate scanner"));
  main.append(section);
  if (!api.signedIn()) {
    router.go("/signin?next=" + encodeURIComponent("/scan?" + query.toString()));
    return null;
  }
  const eventId = Number(query.get("event"));
  if (!eventId) {
    const form = h("form", { class: "stack", id: "scan-setup" },
      h("div", { class: "field" }, h("label", { for: "scan-event" }, "Event number"),
        h("input", { id: "scan-event", name: "event", inputmode: "numeric", required: true })),
      h("button", { type: "submit", class: "primary" }, "Choose a gate"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      router.go("/scan?event=" + encodeURIComponent(form.elements.event.value.trim()));
    });
    section.append(form);
    return null;
  }
  let gates;
  try {
    gates = (await api.get(`/events/${eventId}/gates/`)).gates;
  } catch (error) {
    section.append(errorBox(error));
    return null;
  }
  const gateName = query.get("gate");
  if (!gateName || !gates.some((g) => g.name === gateName)) {
    section.append(h("p", {}, "Which gate are you at?"),
      gates.length ? h("ul", { class: "cards", id: "scan-gates" }, gates.map((g) => h("li", { class: "card" },
        h("a", { href: `#/scan?event=${eventId}&gate=${encodeURIComponent(g.name)}` }, g.name),
        h("span", { class: "meta" }, " " + (g.sections.length ? g.sections.join(", ") : "every section")))))
        : h("p", { class: "muted" }, "This event has no gates yet: staff add them."));
    return null;
  }

  const result = h("div", { id: "scan-result", "aria-live": "assertive", "aria-atomic": "true" });
  const count = h("p", { class: "meta", id: "scan-count" });
  const video = h("video", { id: "scan-video", class: "scan-video", muted: true, playsinline: true, hidden: true });
  const input = h("input", { id: "scan-code", name: "code", autocomplete: "off", autocapitalize: "characters",
    spellcheck: "false", required: true });
  const manual = h("form", { class: "stack", id: "scan-manual" },
    h("div", { class: "field" }, h("label", { for: "scan-code" }, "Ticket code"), input),
    h("button", { type: "submit", class: "primary" }, "Check"));
  const mode = h("p", { class: "meta", id: "scan-mode" });
  section.append(h("p", { class: "meta" }, `Gate ${gateName}`), count, video, mode, manual, result);

  let admitted = 0, last = { code: "", at: 0 }, busy = false;
  // A typed code is always sent; the camera's same code only after a pause.
  const check = async (code, { camera = false } = {}) => {
    code = code.trim();
    const now = Date.now();
    if (!code || busy || (camera && code === last.code && now - last.at < REPEAT_MS)) return;
    busy = true;
    last = { code, at: now };
    try {
      const answer = await api.post(`/events/${eventId}/scan/`, { code, gate: gateName });
      if (answer.result === "valid") admitted += 1;
      count.textContent = `${admitted} let in on this device`;
      result.replaceChildren(resultPanel(answer));
    } catch (error) {
      result.replaceChildren(errorBox(error));
    } finally {
      busy = false;
    }
  };
  manual.addEventListener("submit", async (e) => {
    e.preventDefault();
    await check(input.value);
    input.value = "";
    input.focus();
  });

  let stopCamera = null;
  try {
    stopCamera = await startCamera(video, (code) => check(code, { camera: true }));
  } catch (error) {
    stopCamera = null; // no camera or no permission: typing works
  }
  video.hidden = !stopCamera;
  mode.textContent = stopCamera ? "Point the camera at the ticket's QR code, or type the code."
    : "This browser cannot read QR codes with the camera: type or paste the code.";
  mode.dataset.mode = stopCamera ? "camera" : "manual";
  return () => { if (stopCamera) stopCamera(); };
}
