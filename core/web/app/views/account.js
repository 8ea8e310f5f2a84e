// Sign in and register. Registering takes the referral code a /app/?ref= link brought;
// forgetting a password goes to the existing reset page (templates/accounts/).
// `form` is shared with the phone section of "Me" (views/phone.js).
import { field, h, showFormError } from "../ui.js";

export function form(onSubmit, ...children) {
  const el = h("form", { novalidate: true },
    h("p", { class: "error form-error", role: "alert", tabindex: "-1", hidden: true }),
    ...children);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = el.querySelector("button[type=submit]");
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await onSubmit(new FormData(el));
    } catch (error) {
      showFormError(el, error);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
  return el;
}

function next(query) {
  const target = query.get("next") || "/";
  return target.startsWith("/") ? target : "/";
}

export function signInView(main, { api, router }, query) {
  const section = h("section", { class: "narrow" });
  main.append(section);
  if (api.signedIn()) {
    section.append(h("h1", {}, "You are signed in"),
      h("p", {}, "Signed in as ", h("strong", {}, api.user().email || "you"), "."),
      h("p", {}, h("a", { href: "#/" }, "See the events")));
    return;
  }
  section.append(
    h("h1", {}, "Sign in"),
    form(async (data) => {
      await api.logIn(String(data.get("email")).trim(), String(data.get("password")));
      router.go(next(query));
    },
    field({ name: "email", label: "Email", type: "email", autocomplete: "username" }),
    field({ name: "password", label: "Password", type: "password", autocomplete: "current-password" }),
    h("button", { type: "submit", class: "primary" }, "Sign in")),
    h("p", {}, h("a", { href: "/reset-password" }, "Forgot your password?")),
    h("p", {}, "New here? ", h("a", { href: "#/register" + (query.get("next") ? "?next=" + query.get("next") : "") },
      "Create an account")));
}

export function registerView(main, { api, router, referral, forgetReferral }, query) {
  const section = h("section", { class: "narrow" });
  main.append(section);
  const code = referral();
  section.append(
    h("h1", {}, "Create your account"),
    code ? h("p", { class: "notice", id: "referral-notice" }, "A friend invited you: code ",
      h("strong", {}, code), ".") : null,
    form(async (data) => {
      const fields = { email: String(data.get("email")).trim(), password: String(data.get("password")),
        first_name: String(data.get("first_name")).trim(), last_name: String(data.get("last_name")).trim() };
      const referralCode = String(data.get("referral_code") || "").trim();
      if (referralCode) fields.referral_code = referralCode;
      await api.register(fields);
      forgetReferral();
      router.go(next(query));
    },
    field({ name: "first_name", label: "First name", autocomplete: "given-name", required: false,
      hint: "Winners are shown by first name and initial." }),
    field({ name: "last_name", label: "Last name", autocomplete: "family-name", required: false }),
    field({ name: "email", label: "Email", type: "email", autocomplete: "email" }),
    field({ name: "password", label: "Password", type: "password", autocomplete: "new-password",
      minlength: 8, hint: "At least 8 characters; not a common password." }),
    field({ name: "referral_code", label: "Referral code (optional)", value: code, required: false,
      autocomplete: "off" }),
    h("button", { type: "submit", class: "primary" }, "Create account")),
    h("p", {}, "Already have an account? ", h("a", { href: "#/signin" }, "Sign in")));
}
