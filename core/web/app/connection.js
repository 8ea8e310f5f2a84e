// The connection state the header shows: the network as the REST calls and the browser
// see it, and the live stream of the screen on show (if any).

const LABELS = {
  online: "Online", live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…",
  offline: "Offline", stopped: "Live updates stopped",
};

let badge = null;
let network = navigator.onLine ? "online" : "offline";
let stream = null;

function render() {
  if (!badge) return;
  const state = network === "offline" ? "offline" : (stream || "online");
  badge.dataset.state = state;
  badge.textContent = LABELS[state] || state;
}

export function attachBadge(element, api) {
  badge = element;
  window.addEventListener("online", () => { network = "online"; render(); });
  window.addEventListener("offline", () => { network = "offline"; render(); });
  api.on("network", (online) => { network = online ? "online" : "offline"; render(); });
  render();
}

// A view's stream reports here; null when the view has no stream.
export function setStreamState(state) {
  stream = state === "gone" ? null : state;
  if (state === "live") network = "online";
  render();
}
