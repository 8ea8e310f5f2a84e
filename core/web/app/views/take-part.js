// The event page's ways to take part: check in with the venue screen's code (typed, or
// read from its QR code where the browser has BarcodeDetector), play a lottery ballot,
// and a plain-language account of how a performed draw can be checked.
import { actionButton, announce, append, errorBox, h } from "../ui.js";

const CHECKIN_QR = /^TOMBOLA:CHECKIN:(\d+):(\w+)$/;  // core/screen.py checkin_payload()

function checkedInKey(api, eventId) {
  return `tombola.checked-in.${(api.user() || {}).id}.${eventId}`;
}

export function checkedIn(api, eventId) {
  return localStorage.getItem(checkedInKey(api, eventId)) !== null;
}

function newNonce() {
  return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
}

// Reads the check-in QR code from the camera; resolves with the code, or null if stopped.
async function scanCode(eventId, video, status) {
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  status.textContent = "Point the camera at the QR code on the venue screen.";
  try {
    for (let tries = 0; tries < 600 && video.isConnected; tries += 1) {
      const found = await detector.detect(video).catch(() => []);
      for (const code of found) {
        const match = CHECKIN_QR.exec(code.rawValue || "");
        if (match && Number(match[1]) === eventId) return match[2];
        if (match) status.textContent = "That QR code is for another event.";
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return null;
  } finally {
    stream.getTracks().forEach((track) => track.stop());
    video.hidden = true;
  }
}

// "Check in": the code from the venue screen. One nonce per attempt, so a retry of a
// check-in whose answer was lost is answered 200, not "already checked in".
export function checkInPanel(api, event, onDone) {
  const eventId = event.id;
  const panel = h("section", { id: "checkin", class: "card checkin", "aria-labelledby": "checkin-heading" });
  const problem = h("div");
  const status = h("p", { class: "muted", role: "status" });
  const video = h("video", { class: "scanner", hidden: true, muted: true, playsinline: true, "aria-hidden": "true" });
  let nonce = newNonce();

  async function submit(code) {
    try {
      await api.checkIn(eventId, code, nonce);
      localStorage.setItem(checkedInKey(api, eventId), new Date().toISOString());
      announce("You are checked in.");
      onDone();
    } catch (error) {
      if (error.code === "already_checked_in") {
        localStorage.setItem(checkedInKey(api, eventId), "");
        onDone();
        return;
      }
      if (error.status && error.status < 500) nonce = newNonce();  // refused: a new attempt next
      problem.replaceChildren(errorBox(error, "checkin-error"));
    }
  }

  const form = h("form", { class: "checkin-form", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "checkin-code" }, "Check-in code"),
      h("p", { class: "hint", id: "checkin-code-hint" }, "The code on the venue screen."),
      h("input", { id: "checkin-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code",
        "aria-describedby": "checkin-code-hint", maxlength: 12 })),
    h("button", { type: "submit", class: "primary" }, "Check in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button.disabled) return;
    button.disabled = true;
    try {
      await submit(String(form.elements.namedItem("code").value).trim());
    } finally {
      button.disabled = false;
    }
  });
  append(panel, h("h2", { id: "checkin-heading" }, "Check in"),
    event.checkin_code_required ? null : h("p", { class: "muted" }, "No code needed at this event: leave it empty."),
    form);
  if ("BarcodeDetector" in window && navigator.mediaDevices) {
    append(panel, actionButton("Scan the QR code", async () => {
      try {
        const code = await scanCode(eventId, video, status);
        if (code) {
          form.elements.namedItem("code").value = code;
          await submit(code);
        }
      } catch (error) {
        status.textContent = "The camera is not available: type the code instead.";
      }
    }, { class: "scan" }), video, status);
  }
  append(panel, problem);
  return panel;
}

// A lottery ballot: pick `numbers_count` numbers from 1..numbers_max, or a quick pick.
export function ballotForm(draw, { onPlay }) {
  const { numbers_count: count, numbers_max: max } = draw.lottery || {};
  const picked = new Set();
  const summary = h("p", { class: "ballot-summary", "aria-live": "polite" });
  const grid = h("div", { class: "ballot-grid", role: "group", "aria-label": `Pick ${count} numbers from 1 to ${max}` });
  const play = actionButton("Play this ballot", () => onPlay(Array.from(picked).sort((a, b) => a - b)),
    { class: "primary play", disabled: true });

  function update() {
    grid.querySelectorAll("button").forEach((button) => {
      const on = picked.has(Number(button.dataset.number));
      button.setAttribute("aria-pressed", String(on));
      button.disabled = !on && picked.size >= count;
    });
    summary.textContent = picked.size === count ? `Your numbers: ${Array.from(picked).sort((a, b) => a - b).join(" ")}`
      : `Pick ${count - picked.size} more.`;
    play.disabled = picked.size !== count;
  }

  for (let n = 1; n <= max; n += 1) {
    grid.append(h("button", { type: "button", class: "ballot-number", dataset: { number: n }, "aria-pressed": "false",
      onclick: () => { if (picked.has(n)) picked.delete(n); else if (picked.size < count) picked.add(n); update(); } },
    String(n)));
  }
  const quick = h("button", { type: "button", class: "quick-pick", onclick: () => {
    picked.clear();
    const pool = Array.from({ length: max }, (_, i) => i + 1);
    const random = crypto.getRandomValues(new Uint32Array(count));
    for (let i = 0; i < count; i += 1) picked.add(pool.splice(random[i] % pool.length, 1)[0]);
    update();
  } }, "Quick pick");
  update();
  return h("div", { class: "ballot" }, grid, summary, h("div", { class: "actions" }, quick, play));
}

// Bytes of a hex string, for checking the revealed seed against the commitment here.
function hexBytes(hex) {
  return new Uint8Array((hex.match(/../g) || []).map((byte) => parseInt(byte, 16)));
}

async function seedMatches(draw) {
  if (!draw.seed || !crypto.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", hexBytes(draw.seed));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return hex === draw.seed_commitment;
}

const short = (hex) => (hex ? hex.slice(0, 12) + "…" : "");

// "How this draw was verified", for a performed draw: what was promised before, what was
// frozen and revealed, the one check a phone can do at once, and the full verifier's link.
// The stream's messages do not carry the entries' digest: the draw is read once, on open.
// `opened` (a Set of draw ids) keeps a summary open across the page's re-renders.
export function proofSummary(draw, { api, opened = new Set() }) {
  const steps = h("ol");
  const details = h("details", { class: "proof", dataset: { drawId: draw.id }, open: opened.has(draw.id) },
    h("summary", {}, "How this draw was verified"),
    steps,
    h("p", {}, "Nobody could pick the winners: the seed was fixed before anyone knew the entries, ",
      "and the entries were fixed before anyone saw the seed."),
    // The full verifier (issue 19) recomputes every step in the browser.
    h("p", {}, h("a", { href: `#/events/${draw.event_id}/draws/${draw.id}/verify`, class: "verify-link" },
      "Check every step yourself")));

  function fill(d) {
    const check = h("li", { class: "seed-check" }, "Checking the revealed seed on this phone…");
    const count = d.entries_count || 0;
    steps.replaceChildren(
      h("li", {}, "Before entries closed, a secret seed was locked in: its fingerprint (",
        h("code", { title: d.seed_commitment }, short(d.seed_commitment)), ") was public from the start."),
      h("li", {}, count === 1 ? "When entries closed, the single entry was frozen "
        : `When entries closed, the list of all ${count} entries was frozen `,
        "into its own fingerprint (", h("code", { title: d.entries_digest || "" }, short(d.entries_digest) || "…"), ")."),
      h("li", {}, "The winners follow from the seed and that list by a published formula ",
        "(with public randomness from outside, where the draw uses it); ",
        "then the seed was revealed (", h("code", { title: d.seed || "" }, short(d.seed)), ")."),
      check);
    seedMatches(d).then((ok) => {
      check.textContent = ok === null ? "Your browser cannot check the seed here; the full check below can."
        : ok ? "✓ Checked on this phone: the revealed seed matches the fingerprint published before the draw."
          : "✗ The revealed seed does not match the published fingerprint. Please tell the organiser.";
      check.classList.add(ok === false ? "bad" : "ok");
    });
  }

  let fetched = false;
  function complete() {
    if (fetched || draw.entries_digest) return;
    fetched = true;
    api.draw(draw.event_id, draw.id).then((fresh) => {
      // Kept on the page's draw, so the page's next render has it too.
      Object.assign(draw, { entries_digest: fresh.entries_digest, entries_count: fresh.entries_count });
      fill(draw);
    }).catch(() => { /* the summary stands as it is */ });
  }

  fill(draw);
  if (details.open) complete();
  details.addEventListener("toggle", () => {
    if (details.open) {
      opened.add(draw.id);
      complete();
    } else {
      opened.delete(draw.id);
    }
  });
  return details;
}
