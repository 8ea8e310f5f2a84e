// The attendee app's service worker (scope /app/): keeps the app shell so the app opens
// on a bad network. Served by core/attendee_app.py; VERSION is a digest of the files it
// caches, so a change to any of them installs a new worker and drops the old copy.
// Network first for the shell (a fresh app when online), the cached copy when offline or
// slow. The API and the streams are never cached: their answers are live data.
const VERSION = "{{ version }}";
const CACHE = "tombola-app-" + VERSION;
const SHELL = {{ assets|safe }};
const NETWORK_TIMEOUT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("tombola-app-") && k !== CACHE)
      .map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

function isShell(url) {
  return url.origin === self.location.origin &&
    (url.pathname === "/app/" || url.pathname.startsWith("/assets/"));
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  const key = new URL(request.url);
  key.search = "";
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise((_, reject) => setTimeout(() => reject(new Error("slow network")), NETWORK_TIMEOUT_MS)),
    ]);
    if (response.ok) cache.put(key.href, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(key.href);
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET") return;
  const url = new URL(event.request.url);
  if (event.request.mode === "navigate" && url.pathname === "/app/") {
    event.respondWith(networkFirst(new Request("/app/")));
  } else if (isShell(url)) {
    event.respondWith(networkFirst(event.request));
  }
});
