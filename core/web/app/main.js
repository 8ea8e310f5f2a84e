// The attendee app's entry point: the header (connection state, sign in/out), the routes,
// and the service worker. Each screen is a module in views/.
import { api } from "./api.js";
import { attachBadge } from "./connection.js";
import { Router } from "./router.js";
import { announce, h } from "./ui.js";
import { registerView, signInView } from "./views/account.js";
import { entriesView } from "./views/entries.js";
import { eventView } from "./views/event.js";
import { eventsView } from "./views/events.js";
import { queueView } from "./views/queue.js";
import { seatsView } from "./views/seats.js";
import { ticketsView } from "./views/tickets.js";
import { verifyView } from "./views/verify.js";
import { waitlistView } from "./views/waitlist.js";

const REFERRAL_KEY = "tombola.referral";

function showSession() {
  const signedIn = api.signedIn();
  document.querySelectorAll("[data-signed-in]").forEach((el) => { el.hidden = !signedIn; });
  document.querySelectorAll("[data-signed-out]").forEach((el) => { el.hidden = signedIn; });
}

function markCurrentNav(path) {
  // The link whose route is the longest start of the path ("/me/tickets" over "/me").
  const links = Array.from(document.querySelectorAll(".app-nav a"));
  const matches = (target) => (target === "/" ? path === "/" || path.startsWith("/events")
    : path === target || path.startsWith(target + "/"));
  const best = links.map((link) => link.getAttribute("href").slice(1)).filter(matches)
    .sort((a, b) => b.length - a.length)[0];
  links.forEach((link) => {
    if (link.getAttribute("href").slice(1) === best) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
}

// A referral link (/app/?ref=CODE) is kept for the registration form, then the address
// is tidied up so a reload or a shared screenshot does not carry it on.
function takeReferral() {
  const params = new URLSearchParams(window.location.search);
  const code = (params.get("ref") || "").trim();
  if (!code) return false;
  sessionStorage.setItem(REFERRAL_KEY, code);
  params.delete("ref");
  const query = params.toString();
  const hash = api.signedIn() ? window.location.hash : "#/register";
  history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") + hash);
  return true;
}

function notFound(main) {
  main.append(h("section", {}, h("h1", {}, "Page not found"),
    h("p", {}, h("a", { href: "#/" }, "Back to the events"))));
}

function boot() {
  takeReferral();
  attachBadge(document.getElementById("connection"), api);
  const router = new Router(document.getElementById("main"), { notFound });
  const ctx = { api, router, referral: () => sessionStorage.getItem(REFERRAL_KEY) || "",
    forgetReferral: () => sessionStorage.removeItem(REFERRAL_KEY) };
  router
    .add("/", (main) => eventsView(main, ctx))
    .add("/signin", (main, params, query) => signInView(main, ctx, query))
    .add("/register", (main, params, query) => registerView(main, ctx, query))
    .add("/events/:id", (main, params) => eventView(main, ctx, Number(params.id)))
    .add("/events/:id/queue", (main, params) => queueView(main, ctx, Number(params.id)))
    .add("/events/:id/seats", (main, params) => seatsView(main, ctx, Number(params.id)))
    .add("/me/entries", (main) => entriesView(main, ctx))
    .add("/events/:id/draws/:draw/verify", (main, params, query) =>
      verifyView(main, ctx, Number(params.id), Number(params.draw), query))
    .add("/me/tickets", (main) => ticketsView(main, ctx))
    .add("/me", (main) => waitlistView(main, ctx));
  document.addEventListener("routechange", (event) => markCurrentNav(event.detail.path));
  let wasSignedIn = api.signedIn();
  api.on("session", () => {
    showSession();
    const signedIn = api.signedIn();
    if (wasSignedIn && !signedIn) announce("You are signed out.");
    wasSignedIn = signedIn;
  });
  document.getElementById("sign-out").addEventListener("click", async () => {
    await api.logOut();
    router.go("/signin");
  });
  showSession();
  router.render();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {
      // No offline copy (private mode, an old browser): the app works online all the same.
    });
  }
}

boot();
