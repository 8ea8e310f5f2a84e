// The client side of docs/websocket-protocol.md, shared by the attendee app (/app/) and
// the venue screen (/screen/events/<id>/). One StreamConnection is one WebSocket to one
// URL; it may carry several streams (a venue screen also gets screen:<event_id>).
//
// What it guarantees to its owner: every message of each stream is handed over once and
// in seq order (snapshots included: replace your state with them, `reset` or not); after
// a drop it reconnects with backoff and `?since=<last seq>` of the main stream, so the
// owner gets exactly what it missed (tombola.v2: one `replay` frame, unpacked here) or a
// fresh snapshot flagged `reset`. Tail losses are caught from the heartbeats' `seqs` and
// gaps from the seqs themselves: both are answered with a `resume`.
//
//   const connection = new StreamConnection({
//     url: "ws://host/ws/events/12/", stream: "event:12",
//     token: async () => accessToken,           // optional: sent as the jwt.<token> subprotocol
//     onMessage: (message) => apply(message),   // in order, once
//     onState: (state) => badge(state),         // connecting | live | reconnecting | gone | stopped
//   });
//   connection.start();  ...  connection.close();

export const PROTOCOL = "tombola.v2";

// Close codes the server uses (docs/websocket-protocol.md, "Close codes").
const MALFORMED = 4400, BAD_TOKEN = 4401, FORBIDDEN = 4403, NOT_FOUND = 4404;
const TOO_MANY = 4429, SERVER_ERROR = 4500, UNAVAILABLE = 4503, SERVICE_RESTART = 1012;

// Heartbeats come every 30 s; a client that hears nothing for two intervals reconnects.
const DEFAULT_SILENCE_MS = 65000;
// A resume asked for the same seq is not asked again before this (the answer is on its way).
const RESUME_PATIENCE_MS = 3000;

export class StreamConnection {
  constructor(options) {
    this.options = Object.assign({
      params: {}, token: null, onMessage: () => {}, onState: () => {}, onError: () => {},
      onAuthFailed: null, silenceMs: DEFAULT_SILENCE_MS, optional: false, retryMs: 60000,
      minDelayMs: 250, maxDelayMs: 6000,
    }, options);
    this.lastSeq = {};
    this.pendingResume = {};
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.watchdog = null;
    this.closed = false;
    this.state = null;
    this.wake = () => this.reconnectNow();
    this.poke = () => {
      if (document.visibilityState !== "visible") return;
      if (this.socket && this.socket.readyState === WebSocket.OPEN) this.send({ type: "ping" });
      else this.reconnectNow();
    };
  }

  start() {
    this.closed = false;
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.poke);
    this.open();
    return this;
  }

  close() {
    this.closed = true;
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.poke);
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    if (this.socket) {
      this.detach(this.socket);
      this.socket.close(1000);
      this.socket = null;
    }
  }

  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  // After a token refresh: the server answers `authenticated` and a fresh snapshot.
  authenticate(token) {
    return this.send({ type: "auth", token });
  }

  // --- internals -------------------------------------------------------------------
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.options.onState(state);
  }

  url() {
    const base = typeof this.options.url === "function" ? this.options.url() : this.options.url;
    const params = new URLSearchParams(this.options.params || {});
    const since = this.lastSeq[this.options.stream];
    if (since !== undefined) params.set("since", String(since));
    const query = params.toString();
    return base + (query ? "?" + query : "");
  }

  async open() {
    if (this.closed || this.opening || this.socket) return;
    this.opening = true;
    clearTimeout(this.timer);
    this.setState(this.lastSeq[this.options.stream] === undefined && this.attempt === 0
      ? "connecting" : "reconnecting");
    let token = null;
    try {
      token = this.options.token ? await this.options.token() : null;
    } catch (error) {
      token = null; // no session: watch anonymously (public streams)
    }
    this.opening = false;
    if (this.closed) return;
    const protocols = [PROTOCOL];
    if (token) protocols.push("jwt." + token);
    let socket;
    try {
      socket = new WebSocket(this.url(), protocols);
    } catch (error) {
      this.scheduleReconnect(null);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.pendingResume = {};
      this.setState("live");
      this.resetWatchdog();
    };
    socket.onmessage = (frame) => this.receive(frame);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearTimeout(this.watchdog);
      this.closedWith(event.code);
    };
  }

  detach(socket) {
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
  }

  resetWatchdog() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      // A dead connection does not even close: drop it and start over with `since`.
      const socket = this.socket;
      if (!socket) return;
      this.detach(socket);
      socket.close();
      this.socket = null;
      this.scheduleReconnect(null);
    }, this.options.silenceMs);
  }

  receive(frame) {
    this.resetWatchdog();
    let message;
    try {
      message = JSON.parse(frame.data);
    } catch (error) {
      return;
    }
    if (!message || typeof message !== "object") return;
    if (!message.stream) {
      if (message.type === "heartbeat") this.checkTail(message.seqs || {});
      else if (message.type === "error") this.options.onError(message);
      return; // pong, authenticated (a fresh snapshot follows)
    }
    if (message.type === "replay") {
      ((message.data && message.data.messages) || []).forEach((m) => this.accept(m, true));
      return;
    }
    if (typeof message.seq !== "number") {
      // A notice (queue.turn): for this viewer only, outside the stream's seq order.
      this.options.onMessage(message, { replayed: false, notice: true });
      return;
    }
    this.accept(message, false);
  }

  accept(message, replayed) {
    const stream = message.stream;
    const last = this.lastSeq[stream];
    if (message.type !== "snapshot" && last !== undefined) {
      if (message.seq <= last) return; // already applied (a snapshot covered it, or a replay)
      if (message.seq > last + 1) {
        this.resume(stream, last); // the missing ones come first, as one replay
        return;
      }
    }
    this.lastSeq[stream] = message.seq;
    delete this.pendingResume[stream];
    this.options.onMessage(message, { replayed });
  }

  // The heartbeat names each stream's newest seq: below it, we lost the tail of a burst.
  // (Above it means the stream started over; the server follows with a reset snapshot.)
  checkTail(seqs) {
    Object.entries(seqs).forEach(([stream, seq]) => {
      const last = this.lastSeq[stream];
      if (last !== undefined && seq > last) this.resume(stream, last);
    });
  }

  resume(stream, since) {
    const pending = this.pendingResume[stream];
    if (pending && pending.since === since && Date.now() - pending.at < RESUME_PATIENCE_MS) return;
    this.pendingResume[stream] = { since, at: Date.now() };
    this.send({ type: "resume", since, stream });
  }

  async closedWith(code) {
    if (this.closed) return;
    if (code === MALFORMED) {
      this.setState("stopped"); // a bug on our side: reconnecting would only repeat it
      return;
    }
    if (code === FORBIDDEN || code === NOT_FOUND) {
      // 4403: the screen key is not (or no longer) valid; 4404: no such stream, or not
      // visible to this viewer. Not worth a reconnect, except for an optional stream
      // (a waiting room staff may put in front of the sale later): ask again later.
      if (this.options.optional) {
        this.setState("gone");
        this.lastSeq = {};
        this.timer = setTimeout(() => this.open(), this.options.retryMs);
      } else {
        this.setState("stopped");
      }
      return;
    }
    if (code === BAD_TOKEN && this.options.onAuthFailed) {
      try {
        await this.options.onAuthFailed(); // refresh the token (or forget it) before retrying
      } catch (error) {
        // go on: without a token the stream is watched anonymously
      }
    }
    let floor = 0;
    if (code === TOO_MANY) floor = 15000;
    else if (code === UNAVAILABLE || code === SERVER_ERROR) floor = 2000;
    this.scheduleReconnect(code === SERVICE_RESTART ? Math.random() * 1000 : null, floor);
  }

  scheduleReconnect(delayMs, floorMs = 0) {
    if (this.closed) return;
    this.setState("reconnecting");
    this.attempt += 1;
    let delay = delayMs;
    if (delay === null) {
      // Exponential backoff with jitter: thousands of phones must not come back in step.
      const cap = Math.min(this.options.maxDelayMs,
        this.options.minDelayMs * 2 ** Math.min(this.attempt, 10));
      delay = cap / 2 + Math.random() * cap / 2;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), Math.max(delay, floorMs));
  }

  // The network is back, or the phone woke up: do not sit out the backoff.
  reconnectNow() {
    if (this.closed || this.socket || this.opening) return;
    if (this.state === "stopped" || this.state === "gone") return;
    this.attempt = 0;
    clearTimeout(this.timer);
    this.open();
  }
}
