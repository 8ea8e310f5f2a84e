// The REST client of the attendee app: JWT sessions, errors as their human-readable
// `detail`, and retries that can never buy twice.
//
// Tokens: the refresh token (14 days) and the access token (15 minutes) are kept in
// localStorage, so the app survives a reload and a phone restart; the shell's
// Content-Security-Policy allows no script but our own to read them. A 401 on a call
// that carried a token refreshes the session once (refresh tokens rotate, so every tab
// refreshes under one Web Lock and re-reads what another tab stored) and retries once.
//
// Money and seats: purchase and top-up carry an `Idempotency-Key`, made once per user
// action and reused by every retry of it (network error, 5xx, "still in progress"):
// the server answers a retry with the first result (README, "API: ticketing"). The
// same action asked again while it runs (a double tap) gets the same promise.

const STORAGE_KEY = "tombola.session";
const NETWORK_DETAIL = "No connection to the server. Check your network and try again.";

export class ApiError extends Error {
  constructor(status, body) {
    const detail = (body && typeof body.detail === "string" && body.detail) ||
      (status ? `The server answered ${status}.` : NETWORK_DETAIL);
    super(detail);
    this.status = status;
    this.code = (body && body.code) || (status ? "error" : "network");
    this.detail = detail;
    this.fields = (body && body.fields) || null;
    this.body = body || null;
  }

  // Per-field messages ({"email": "This address is taken."}), for forms.
  fieldMessages() {
    const out = {};
    Object.entries(this.fields || {}).forEach(([name, value]) => {
      out[name] = Array.isArray(value) ? value.join(" ") : String(value);
    });
    return out;
  }
}

function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + (4 - part.length % 4) % 4, "=")));
  } catch (error) {
    return {};
  }
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Api {
  constructor({ base = "/api", storage = window.localStorage } = {}) {
    this.base = base;
    this.storage = storage;
    this.listeners = { session: new Set(), network: new Set() };
    this.inFlight = new Map();
    this.refreshing = null;
    this.online = true;
    window.addEventListener("storage", (event) => {
      if (event.key === STORAGE_KEY) this.emit("session", this.user());
    });
  }

  // --- session -----------------------------------------------------------------------
  on(kind, listener) {
    this.listeners[kind].add(listener);
    return () => this.listeners[kind].delete(listener);
  }

  emit(kind, value) {
    this.listeners[kind].forEach((listener) => listener(value));
  }

  session() {
    try {
      return JSON.parse(this.storage.getItem(STORAGE_KEY)) || null;
    } catch (error) {
      return null;
    }
  }

  saveSession(session) {
    if (session) this.storage.setItem(STORAGE_KEY, JSON.stringify(session));
    else this.storage.removeItem(STORAGE_KEY);
    this.emit("session", this.user());
  }

  // {id, email} from the stored session, or null when signed out.
  user() {
    const session = this.session();
    return session ? { id: session.user_id, email: session.email } : null;
  }

  signedIn() {
    return !!this.session();
  }

  storeTokens({ access, refresh }, email) {
    const old = this.session() || {};
    const claims = decodeClaims(access);
    this.saveSession({ access, refresh, email: email || old.email || "",
      user_id: claims.user_id !== undefined ? claims.user_id : old.user_id });
  }

  // An access token good for at least a few more seconds (refreshing it if needed), or
  // null when signed out: what the WebSocket offers as its jwt.<token> subprotocol.
  async accessToken() {
    const session = this.session();
    if (!session) return null;
    const claims = decodeClaims(session.access);
    if (claims.exp && claims.exp * 1000 - Date.now() > 20000) return session.access;
    await this.refresh(session.access);
    const fresh = this.session();
    return fresh ? fresh.access : null;
  }

  // Refresh once for everyone who saw `staleAccess` fail: concurrent calls, and other
  // tabs (Web Locks), share the answer; a refresh token is good for one use only.
  async refresh(staleAccess) {
    if (!this.refreshing) {
      const run = async () => {
        const session = this.session();
        if (!session) return;
        if (session.access !== staleAccess) return; // another tab refreshed meanwhile
        const response = await this.raw("POST", "/auth/token/refresh/", { refresh: session.refresh });
        if (response.ok) this.storeTokens(await response.json());
        else if (response.status === 401 || response.status === 400) this.saveSession(null);
        else throw new ApiError(response.status, await response.json().catch(() => null));
      };
      const locked = navigator.locks ? () => navigator.locks.request(STORAGE_KEY, run) : run;
      this.refreshing = locked().finally(() => { this.refreshing = null; });
    }
    return this.refreshing;
  }

  // --- requests ----------------------------------------------------------------------
  setOnline(online) {
    if (this.online === online) return;
    this.online = online;
    this.emit("network", online);
  }

  async raw(method, path, body, headers = {}) {
    const init = { method, headers: Object.assign({ Accept: "application/json" }, headers) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      const response = await fetch(this.base + path, init);
      this.setOnline(true);
      return response;
    } catch (error) {
      this.setOnline(false);
      throw new ApiError(0, null);
    }
  }

  // One call: JSON in, JSON out; an ApiError with the server's `detail` otherwise.
  async request(method, path, { body, auth = true, headers = {}, text = false, blob = false } = {}) {
    let session = auth ? this.session() : null;
    const send = () => this.raw(method, path, body, session
      ? Object.assign({ Authorization: "Bearer " + session.access }, headers) : headers);
    let response = await send();
    if (response.status === 401 && session) {
      await this.refresh(session.access);
      session = this.session();
      if (!session) {
        throw new ApiError(401, { code: "session_ended",
          detail: "Your session has ended. Please sign in again." });
      }
      response = await send();
    }
    if (response.status === 204) return null;
    if (text && response.ok) return response.text();
    if (blob && response.ok) return response.blob();
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  get(path, options) { return this.request("GET", path, options); }
  post(path, body, options = {}) { return this.request("POST", path, Object.assign({ body }, options)); }
  del(path, options) { return this.request("DELETE", path, options); }

  // The same action asked again while it runs (a double tap) gets the first promise.
  once(action, run) {
    const running = this.inFlight.get(action);
    if (running) return running;
    const promise = run().finally(() => this.inFlight.delete(action));
    this.inFlight.set(action, promise);
    return promise;
  }

  // A write that must happen at most once however often it is sent (purchase, top-up):
  // one Idempotency-Key per action, the same key for each retry.
  idempotent(action, method, path, body, { attempts = 4, headers = {} } = {}) {
    return this.once(action, async () => {
      const key = newKey();
      for (let n = 1; ; n += 1) {
        try {
          return await this.request(method, path,
            { body, headers: Object.assign({ "Idempotency-Key": key }, headers) });
        } catch (error) {
          const retry = error.status === 0 || error.status >= 500 ||
            error.code === "idempotency_request_in_progress";
          if (!retry || n >= attempts) throw error;
          await sleep(400 * 2 ** (n - 1));
        }
      }
    });
  }

  // --- the calls the app makes ---------------------------------------------------------
  async register(fields) {
    const body = await this.post("/accounts/register/", fields, { auth: false });
    this.storeTokens(body, body.user && body.user.email);
    return body;
  }

  async logIn(email, password) {
    const body = await this.post("/auth/token/", { email, password }, { auth: false });
    this.storeTokens(body, email);
    return body;
  }

  async logOut() {
    const session = this.session();
    this.saveSession(null);
    if (session) {
      // Blacklists the refresh token; signed out here either way.
      await this.post("/auth/logout/", { refresh: session.refresh }, { auth: false }).catch(() => null);
    }
  }

  events(filters) {
    const query = new URLSearchParams(Object.assign({ ordering: "starts_at", page_size: "50" }, filters));
    return this.get("/events/?" + query, { auth: false });
  }

  event(id) { return this.get(`/events/${id}/`, { auth: false }); }
  draw(eventId, drawId) { return this.get(`/events/${eventId}/draws/${drawId}/`, { auth: false }); }
  draws(eventId) { return this.get(`/events/${eventId}/draws/?page_size=100`, { auth: false }); }
  myEntries(filters = {}) {
    const query = new URLSearchParams(Object.assign({ page_size: "100" }, filters));
    return this.get("/accounts/me/entries/?" + query);
  }

  enter(eventId, drawId) {
    return this.once(`enter:${drawId}`,
      () => this.post(`/events/${eventId}/draws/${drawId}/participate/`, {}));
  }

  claim(eventId, drawId) {
    return this.once(`claim:${drawId}`,
      () => this.post(`/events/${eventId}/draws/${drawId}/claim/`));
  }

  queue(eventId) { return this.get(`/events/${eventId}/queue/`); }
  joinQueue(eventId) {
    // Joining again answers the place you had (200): safe to send twice.
    return this.once(`queue:${eventId}`, () => this.post(`/events/${eventId}/queue/`));
  }

  wallet() { return this.get("/wallet/"); }
  topUp(amount) {
    return this.idempotent(`top-up:${amount}`, "POST", "/wallet/top-up/", { amount });
  }

  // Check in with the code from the venue screen. The nonce makes a retry of the same
  // check-in answer the first one (200) instead of "already checked in".
  checkIn(eventId, code, nonce) {
    return this.once(`checkin:${eventId}`,
      () => this.post(`/events/${eventId}/checkin/`, { code, nonce }));
  }

  playLottery(eventId, drawId, numbers) {
    return this.once(`ballot:${drawId}`,
      () => this.post(`/events/${eventId}/draws/${drawId}/participate/`, { numbers }));
  }

  proof(eventId, drawId) { return this.get(`/events/${eventId}/draws/${drawId}/proof/`, { auth: false }); }

  // --- waitlist and referrals ---------------------------------------------------------
  waitlist() { return this.get("/waitlist/me/"); }
  referrals() { return this.get("/accounts/me/referrals/?page_size=100&ordering=-date_joined"); }
  me() { return this.get("/accounts/me/"); }
  resendConfirmation() { return this.once("resend", () => this.post("/accounts/email/resend/")); }
  // Phone verification: a 6-digit code by SMS (202 {phone, expires_in_seconds,
  // resend_after_seconds}), then the code for the account, the phone verified (200 me).
  sendPhoneCode(phone) {
    return this.once("phone-code", () => this.post("/accounts/phone/verification/", { phone }));
  }

  confirmPhoneCode(phone, code) {
    return this.once("phone-confirm",
      () => this.post("/accounts/phone/verification/confirm/", { phone, code }));
  }

  // --- seats ----------------------------------------------------------------------------
  // Holding and buying need the waiting room's pass while the sale has one (Queue-Pass).
  passHeaders(queuePass) { return queuePass ? { "Queue-Pass": queuePass } : {}; }

  // `seats`: {seat_ids: [...]} or {best_available: {count, section?}}.
  hold(eventId, seats, { queuePass } = {}) {
    return this.once(`hold:${eventId}`, () => this.post(`/events/${eventId}/holds/`, seats,
      { headers: this.passHeaders(queuePass) }));
  }

  prices(eventId) { return this.get(`/events/${eventId}/prices/`, { auth: false }); }
  myHolds(eventId) { return this.get(`/accounts/me/holds/?event=${eventId}&page_size=100`); }
  extendHold(token) { return this.once(`extend:${token}`, () => this.request("PATCH", `/holds/${token}/`)); }
  releaseHold(token) { return this.once(`release:${token}`, () => this.del(`/holds/${token}/`)); }
  tickets(filters = {}) {
    const query = new URLSearchParams(Object.assign({ page_size: "100", ordering: "-created_at" }, filters));
    return this.get("/tickets/?" + query);
  }

  purchase(holdToken, { expectedTotal, queuePass } = {}) {
    const body = expectedTotal === undefined ? {} : { expected_total: expectedTotal };
    return this.idempotent(`purchase:${holdToken}`, "POST", `/holds/${holdToken}/purchase/`, body,
      { headers: this.passHeaders(queuePass) });
  }

  // A ticket's QR code (an SVG only its owner may fetch) as a data: URL for an <img>.
  async ticketQr(qrUrl) {
    const path = qrUrl.replace(/^(https?:\/\/[^/]+)?\/api/, "");
    const svgText = await this.request("GET", path, { text: true, headers: { Accept: "image/svg+xml, */*;q=0.8" } });
    return "data:image/svg+xml;base64," + btoa(unescape(encodeURIComponent(svgText)));
  }

  // A ticket's PDF (what the confirmation email attached): a Blob, for a download link.
  ticketPdf(ticketId) {
    return this.request("GET", `/tickets/${ticketId}/pdf/`,
      { blob: true, headers: { Accept: "application/pdf, application/json;q=0.5" } });
  }

  // Cancel a ticket and refund it to the wallet: once, however often it is tapped or retried.
  cancelTicket(ticketId) {
    return this.idempotent(`cancel:${ticketId}`, "POST", `/tickets/${ticketId}/cancel/`, {});
  }
}

export const api = new Api();
