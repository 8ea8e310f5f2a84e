// Small DOM helpers for the attendee app's views: no framework, no innerHTML with data.

// h("p", {class: "muted", "aria-live": "polite"}, "text", child, ...): an element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([name, value]) => {
    if (value === null || value === undefined || value === false) return;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  });
  appendAll(el, children);
  return el;
}

// el.append() that skips null/false children (the DOM's own would write "null").
export function append(el, ...children) {
  appendAll(el, children);
  return el;
}

function appendAll(el, children) {
  children.flat(Infinity).forEach((child) => {
    if (child === null || child === undefined || child === false) return;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  });
}

export function clear(el, ...children) {
  el.replaceChildren();
  appendAll(el, children);
  return el;
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
});

export function when(iso) {
  return iso ? dateTime.format(new Date(iso)) : "";
}

// Money in minor units, in the deployment's currency (the shell's meta tag says which).
let moneyFormat = null;
export function money(minor) {
  if (minor === null || minor === undefined) return "";
  if (!moneyFormat) {
    const meta = document.querySelector('meta[name="tombola-currency"]');
    const currency = ((meta && meta.content) || "eur").toUpperCase();
    try {
      moneyFormat = new Intl.NumberFormat(undefined, { style: "currency", currency });
    } catch (error) {
      moneyFormat = { format: (value) => value.toFixed(2) + " " + currency };
    }
  }
  return moneyFormat.format(minor / 100);
}

export function time(iso) {
  return h("time", { datetime: iso }, when(iso));
}

// Announce to screen readers (the shell has one polite and one assertive live region).
export function announce(text, { assertive = false } = {}) {
  const region = document.getElementById(assertive ? "announce-assertive" : "announce-polite");
  if (!region) return;
  region.textContent = "";
  // A changed text is read even when it equals the previous announcement.
  setTimeout(() => { region.textContent = text; }, 50);
}

// An error as the person should read it: the server's `detail`.
export function errorBox(error, id) {
  return h("p", { class: "error", role: "alert", id }, error.detail || error.message || String(error));
}

// A form field: a label, an input, and a place for its error message.
export function field({ name, label, type = "text", value = "", autocomplete, required = true,
  hint, inputmode, minlength }) {
  const id = "field-" + name;
  const hintId = hint ? id + "-hint" : null;
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("input", { id, name, type, value, autocomplete, required, inputmode, minlength,
      "aria-describedby": hintId }),
    h("p", { class: "field-error", id: id + "-error", hidden: true }));
}

// Show an ApiError on a form: its detail on top, each field's message next to it.
export function showFormError(form, error) {
  form.querySelectorAll(".field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  const messages = error.fieldMessages ? error.fieldMessages() : {};
  let first = null;
  Object.entries(messages).forEach(([name, text]) => {
    const input = form.elements.namedItem(name);
    const slot = form.querySelector(`#field-${name}-error`);
    if (!input || !slot) return;
    slot.textContent = text;
    slot.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), slot.id]
      .filter(Boolean).join(" "));
    first = first || input;
  });
  const box = form.querySelector(".form-error");
  box.textContent = error.detail || String(error);
  box.hidden = false;
  (first || box).focus();
}

// A button that runs an async action once at a time, busy meanwhile.
export function actionButton(label, run, attrs = {}) {
  const button = h("button", Object.assign({ type: "button" }, attrs), label);
  button.addEventListener("click", async () => {
    if (button.getAttribute("aria-busy") === "true") return;
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    try {
      await run(button);
    } finally {
      button.removeAttribute("aria-busy");
      if (button.isConnected) button.disabled = false;
    }
  });
  return button;
}
