// Me > Phone: verify a mobile number by SMS code (POST /api/accounts/phone/verification/,
// then .../confirm/). Shows the verified number as the API gives it, or a form for a
// number, then one for the 6-digit code with a resend button that waits out the cooldown
// the API reports (`resend_after_seconds` on a send, `retry_after_seconds` on a 429).
// Every refusal is shown as the server's `detail`; progress is said in a polite live region.
import { announce, field, h } from "../ui.js";
import { form } from "./account.js";

function minutes(seconds) {
  const n = Math.max(1, Math.round(seconds / 60));
  return n === 1 ? "1 minute" : `${n} minutes`;
}

// A rate limit's detail, with how long to wait when the API says (429 retry_after_seconds).
function withWait(error) {
  const wait = error.body && error.body.retry_after_seconds;
  if (wait) error.detail = `${error.detail} Try again in ${wait} s.`;
  return error;
}

export function phoneSection({ api, me }) {
  const status = h("p", { class: "muted", role: "status", "aria-live": "polite", id: "phone-status" });
  const body = h("div");
  const section = h("section", { "aria-labelledby": "phone-heading", class: "card phone", id: "phone" },
    h("h2", { id: "phone-heading" }, "Phone"), body, status);
  let timer = null;

  function say(text) {
    status.textContent = text;
  }

  function stopTimer() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  // The resend button waits `seconds`, counting down in its label.
  function coolDown(button, seconds) {
    stopTimer();
    let left = Math.max(0, Math.ceil(seconds));
    const tick = () => {
      if (!button.isConnected && timer) { stopTimer(); return; }
      button.disabled = left > 0;
      button.textContent = left > 0 ? `Send a new code (in ${left} s)` : "Send a new code";
      if (left <= 0) stopTimer();
      left -= 1;
    };
    tick();
    if (left >= 0) timer = setInterval(tick, 1000);
  }

  function showVerified(user) {
    stopTimer();
    body.replaceChildren(
      h("p", { id: "phone-state", class: "entered" }, "Verified: ", h("span", { dir: "ltr" }, user.phone)),
      h("button", { type: "button", id: "phone-change", onclick: () => showNumberForm(user.phone).querySelector("input").focus() },
        "Use another number"));
  }

  function showNumberForm(value = "") {
    stopTimer();
    const numberForm = form(async (data) => {
      let sent;
      try {
        sent = await api.sendPhoneCode(String(data.get("phone")).trim());
      } catch (error) {
        throw withWait(error);
      }
      showCodeForm(sent);
    },
    field({ name: "phone", label: "Mobile number", type: "tel", autocomplete: "tel", inputmode: "tel",
      value, hint: "With the country code, e.g. +49 151 23456789. We text you a 6-digit code." }),
    h("button", { type: "submit", class: "primary" }, "Text me a code"));
    body.replaceChildren(
      me.phone && !me.phone_verified_at
        ? h("p", { id: "phone-state" }, "Not verified yet.") : null,
      numberForm);
    return numberForm;
  }

  function showCodeForm(sent) {
    const resend = h("button", { type: "button", id: "phone-resend" }, "Send a new code");
    const codeForm = form(async (data) => {
      let user;
      try {
        user = await api.confirmPhoneCode(sent.phone, String(data.get("code")).trim());
      } catch (error) {
        throw withWait(error);
      }
      me = user;
      showVerified(user);
      say("Your phone is verified.");
      announce("Your phone is verified.");
    },
    field({ name: "code", label: "6-digit code", inputmode: "numeric", autocomplete: "one-time-code",
      hint: `Sent by SMS to ${sent.phone}. It expires in ${minutes(sent.expires_in_seconds)}.` }),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Verify"), resend,
      h("button", { type: "button", onclick: () => { say(""); showNumberForm(sent.phone).querySelector("input").focus(); } },
        "Change number")));
    const input = codeForm.querySelector("input[name=code]");
    input.setAttribute("maxlength", "6");
    input.setAttribute("pattern", "[0-9]{6}");
    resend.addEventListener("click", async () => {
      if (resend.disabled) return;
      resend.disabled = true;
      const box = codeForm.querySelector(".form-error");
      box.hidden = true;
      try {
        const again = await api.sendPhoneCode(sent.phone);
        sent = again;
        say(`A new code is on its way to ${again.phone}.`);
        coolDown(resend, again.resend_after_seconds);
      } catch (error) {
        box.textContent = withWait(error).detail || String(error);
        box.hidden = false;
        coolDown(resend, (error.body && error.body.retry_after_seconds) || 0);
      }
    });
    body.replaceChildren(codeForm);
    say(`We texted a code to ${sent.phone}.`);
    coolDown(resend, sent.resend_after_seconds);
    input.focus();
  }

  if (me.phone_verified_at && me.phone) showVerified(me);
  else showNumberForm(me.phone || "");
  return section;
}
