"""The attendee app's files as the server serves them (core/attendee_app.py).

The app itself is exercised in a real browser by tests/test_app_browser.py.
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.django_db


def test_app_shell_is_served_with_a_strict_content_security_policy(client):
    response = client.get("/app/")
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<script type="module" src="/assets/app/main.js\?v=[0-9a-f]{16}">', html)
    assert '<link rel="manifest" href="/app/manifest.webmanifest">' in html
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "connect-src 'self' ws://testserver wss://testserver" in policy  # streams: this host
    assert response["Cache-Control"] == "no-cache"


def test_service_worker_covers_the_app_and_lists_every_shell_file(client):
    response = client.get("/app/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/app/"
    assert "no-cache" in response["Cache-Control"]
    body = response.content.decode()
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", body).group(1))
    assert "/app/" in shell
    assert {"/assets/stream.js", "/assets/draws.js", "/assets/app/main.js",
            "/assets/app/app.css"} <= set(shell)
    for url in shell[1:]:
        assert client.get(url).status_code == 200, url


def test_manifest_starts_and_scopes_the_app(client):
    response = client.get("/app/manifest.webmanifest")
    assert response["Content-Type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["start_url"] == manifest["scope"] == "/app/"
    assert manifest["display"] == "standalone" and manifest["icons"]


def test_assets_have_their_types_and_nothing_else_is_served(client):
    script = client.get("/assets/stream.js")
    assert script["Content-Type"] == "text/javascript; charset=utf-8"
    assert script["X-Content-Type-Options"] == "nosniff"
    assert client.get("/assets/app/app.css")["Content-Type"].startswith("text/css")
    assert client.get("/assets/app/missing.js").status_code == 404
    assert client.get("/assets/../attendee_app.py").status_code == 404
    assert client.get("/assets/app/").status_code == 404
    assert client.head("/assets/stream.js").status_code == 200


def test_app_shell_names_the_deployments_currency_for_prices(client, settings):
    settings.PAYMENT_CURRENCY = "chf"
    html = client.get("/app/").content.decode()
    assert '<meta name="tombola-currency" content="chf">' in html


def test_every_app_module_is_in_the_service_workers_shell(client):
    """A screen added under core/web/app/ is cached for offline use without a list to edit."""
    body = client.get("/app/sw.js").content.decode()
    shell = set(json.loads(re.search(r"const SHELL = (\[.*?\]);", body).group(1)))
    for name in ("seatmap.js", "live.js", "views/seats.js", "views/tickets.js",
                 "views/take-part.js", "views/waitlist.js"):
        assert f"/assets/app/{name}" in shell, name
