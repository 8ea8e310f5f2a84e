"""The attendee app (issue 16): a plain HTML/CSS/JS web app served by Django, no build step.

    /app/                       the app shell; a hash router (#/events/12) does the rest
    /app/sw.js                  the service worker (scope /app/): caches the app shell
    /app/manifest.webmanifest   the web app manifest (add to home screen)
    /assets/<path>              the scripts, styles and icons, from core/web/

The app uses only the public REST API and the WebSocket protocol
(docs/websocket-protocol.md), so it also proves them. The stream client
(core/web/stream.js) is shared with the venue screen (templates/screen/).

Every file is served by Django whatever DEBUG says (daphne has no static handler
of its own and the app must work on a bare `make run` and in the browser tests);
each answer can be revalidated (Last-Modified, `Cache-Control: no-cache`), and the
service worker keeps a copy for a bad network. The service worker's text carries
a digest of the files it caches, so any change to them installs a new worker.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from django.views.static import serve

WEB_ROOT = Path(__file__).resolve().parent / "web"
# What the service worker caches at install: the shell and every file it loads.
SHELL_URL = "/app/"
ASSET_URL = "/assets/"
ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json"}

# The shell loads nothing from elsewhere and has no inline script or style: a strict
# policy costs nothing and keeps an injected script from reading the stored tokens.
def content_security_policy(host: str) -> str:
    # The streams are on this host too; `'self'` covers ws: only in newer browsers.
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        f"connect-src 'self' ws://{host} wss://{host}", "manifest-src 'self'",
        "worker-src 'self'", "base-uri 'none'", "form-action 'self'",
        "frame-ancestors 'none'", "object-src 'none'",
    ])


def _asset_files() -> list[Path]:
    return sorted(p for p in WEB_ROOT.rglob("*") if p.is_file() and p.suffix in ASSET_TYPES)


def _digest() -> str:
    digest = hashlib.sha256()
    for path in _asset_files():
        digest.update(path.relative_to(WEB_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update((Path(settings.BASE_DIR) / "templates" / "app" / "index.html").read_bytes())
    return digest.hexdigest()[:16]


# Files do not change under a running server, except while developing.
_cached_digest = lru_cache(maxsize=1)(_digest)


def app_version() -> str:
    return _digest() if settings.DEBUG else _cached_digest()


def _no_store_cache(response: HttpResponse) -> HttpResponse:
    # Revalidate every time (a 304 is cheap); the service worker is the offline copy.
    response["Cache-Control"] = "no-cache"
    return response


@require_safe
def app_shell(request):
    response = render(request, "app/index.html", {
        "version": app_version(),
        # Prices are minor units; the app formats them in the deployment's currency.
        "currency": getattr(settings, "PAYMENT_CURRENCY", "eur"),
    })
    # get_host() is checked against ALLOWED_HOSTS: nothing foreign gets into the header.
    response["Content-Security-Policy"] = content_security_policy(request.get_host())
    # Reset links carry tokens in the URL of pages linked from here: never a Referer.
    response["Referrer-Policy"] = "same-origin"
    return _no_store_cache(response)


@require_safe
def service_worker(request):
    assets = [SHELL_URL] + [ASSET_URL + p.relative_to(WEB_ROOT).as_posix()
                            for p in _asset_files()]
    response = render(request, "app/sw.js", {
        "version": app_version(), "assets": json.dumps(assets),
    }, content_type="text/javascript; charset=utf-8")
    # Served from /app/, so its default scope is /app/ already; said out loud for proxies
    # that rewrite paths. A worker script must never come from the HTTP cache stale.
    response["Service-Worker-Allowed"] = SHELL_URL
    response["Cache-Control"] = "no-cache, max-age=0"
    return response


@require_safe
def manifest(request):
    body = {
        "name": "Tombola", "short_name": "Tombola",
        "description": "Watch draws live, enter raffles and see when you win.",
        "id": SHELL_URL, "start_url": SHELL_URL, "scope": SHELL_URL,
        "display": "standalone", "orientation": "portrait",
        "background_color": "#101522", "theme_color": "#101522",
        "icons": [
            {"src": ASSET_URL + "app/icon.svg", "sizes": "any", "type": "image/svg+xml",
             "purpose": "any maskable"},
        ],
    }
    response = HttpResponse(json.dumps(body), content_type="application/manifest+json")
    return _no_store_cache(response)


@require_safe
def asset(request, path: str):
    if Path(path).suffix not in ASSET_TYPES:
        raise Http404("No such file.")
    response = serve(request, path, document_root=WEB_ROOT)  # refuses `..` and folders
    response["Content-Type"] = ASSET_TYPES[Path(path).suffix]
    response["X-Content-Type-Options"] = "nosniff"
    return _no_store_cache(response)
