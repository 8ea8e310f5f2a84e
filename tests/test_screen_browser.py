"""The venue screen in a real browser (headless Chromium driven by Playwright).

A real daphne serves the page and its WebSockets; the test acts as the
organiser over the REST API. It checks what a person in the hall sees: the
countdown, the winner appearing after the draw is performed, and recovery
after the server drops the socket (here: the server process restarts).

Screenshots go to the test's tmp folder, and to docs/ when
UPDATE_SCREENSHOTS=1 (that is how the README's pictures were made).
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, manage, running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - requirements.txt installs it
    sync_playwright = None

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None or sync_playwright is None,
        reason="needs Chromium (apt-get install chromium; .ci/run installs it) and playwright",
    ),
]

STAFF_EMAIL, STAFF_PASSWORD = "screen-staff@example.com", "a-long-staff-password-42"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class Organiser:
    """The staff side, over the real server's REST API."""

    def __init__(self, server):
        self.http = httpx.Client(base_url=server.url(""), timeout=10)
        token = self.http.post("/api/auth/token/", json={
            "email": STAFF_EMAIL, "password": STAFF_PASSWORD}).json()["access"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: dict | None = None) -> dict:
        response = self.http.post(path, json=body or {})
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        return response.json()


def _attendee_enters(server, event_id: int, draw_id: int, first: str, last: str, email: str):
    http = httpx.Client(base_url=server.url(""), timeout=10)
    registered = http.post("/api/accounts/register/", json={
        "email": email, "password": "attendee-password-42", "first_name": first, "last_name": last,
    })
    assert registered.status_code == 201, registered.text
    http.headers["Authorization"] = f"Bearer {registered.json()['access']}"
    entered = http.post(f"/api/events/{event_id}/draws/{draw_id}/participate/", json={})
    assert entered.status_code == 201, entered.text


def _screenshot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copy(path, ROOT / "docs" / name)


def test_screen_shows_countdown_then_winner_and_recovers_after_a_dropped_socket(tmp_path):
    with running_server(tmp_path) as server:
        manage(server.env, "createsuperuser", "--no-input",
               DJANGO_SUPERUSER_EMAIL=STAFF_EMAIL, DJANGO_SUPERUSER_PASSWORD=STAFF_PASSWORD)
        staff = Organiser(server)
        now = datetime.now(UTC)
        event = staff.post("/api/events/", {
            "title": "Cup final", "starts_at": _iso(now), "status": "live",
            "checkin_code_required": True,
        })
        draw = staff.post(f"/api/events/{event['id']}/draws/", {
            "title": "Half-time raffle", "kind": "raffle", "eligibility": "registered",
            "scheduled_at": _iso(now + timedelta(minutes=10)),
            "prizes": [{"name": "Signed ball", "quantity": 1, "rank": 1}],
        })
        _attendee_enters(server, event["id"], draw["id"], "Alice", "Winner", "alice@example.com")
        key = staff.post(f"/api/events/{event['id']}/screen-keys/", {"label": "north stand"})["key"]
        port = server.port

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.goto(server.url(f"/screen/events/{event['id']}/?key={key}"))
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            expect(page.locator("#next-draw-title")).to_have_text("Half-time raffle")
            countdown = page.locator("#countdown")
            expect(countdown).to_have_text(re.compile(r"^(09|10):\d\d$"))
            expect(page.locator("#prizes")).to_contain_text("Signed ball")
            expect(page.locator("#checkin-code")).to_have_text(re.compile(r"^\d{6}$"))
            expect(page.locator("#checkin-qr")).to_have_attribute("src", re.compile("qr.svg"))
            first = countdown.inner_text()
            page.wait_for_timeout(1300)
            assert countdown.inner_text() != first, "the countdown must tick"
            _screenshot(page, tmp_path, "screen-countdown.png")

            staff.post(f"/api/events/{event['id']}/draws/{draw['id']}/perform/")
            expect(page.locator("#winners")).to_contain_text("Signed ball")
            expect(page.locator("#winners")).to_contain_text("Alice W.")
            expect(page.locator("#countdown")).to_have_text("Drawn")
            page.wait_for_timeout(800)  # let the winner's entrance animation finish
            _screenshot(page, tmp_path, "screen-winner.png")

            server.stop()  # the server goes away: every socket drops
            expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")

            with running_server(tmp_path, port=port) as again:
                expect(page.locator("#connection")).to_have_attribute(
                    "data-state", "live", timeout=15_000)
                # What was shown before the drop is still right after the resume ...
                expect(page.locator("#winners")).to_contain_text("Alice W.")
                # ... and what happens after it arrives live.
                staff = Organiser(again)
                second = staff.post(f"/api/events/{event['id']}/draws/", {
                    "title": "Final whistle raffle", "kind": "raffle",
                    "eligibility": "registered",
                    "prizes": [{"name": "Season ticket", "quantity": 1, "rank": 1}],
                })
                _attendee_enters(again, event["id"], second["id"], "Bob", "Second",
                                 "bob@example.com")
                staff.post(f"/api/events/{event['id']}/draws/{second['id']}/perform/")
                expect(page.locator("#winners")).to_contain_text("Season ticket")
                expect(page.locator("#winners")).to_contain_text("Bob S.")
            browser.close()


def test_screen_page_refuses_a_wrong_key(tmp_path):
    with running_server(tmp_path) as server:
        manage(server.env, "createsuperuser", "--no-input",
               DJANGO_SUPERUSER_EMAIL=STAFF_EMAIL, DJANGO_SUPERUSER_PASSWORD=STAFF_PASSWORD)
        staff = Organiser(server)
        event = staff.post("/api/events/", {"title": "Cup", "starts_at": _iso(datetime.now(UTC)),
                                            "status": "live"})
        response = httpx.get(server.url(f"/screen/events/{event['id']}/?key=wrong"))
        assert response.status_code == 403
        assert "not valid" in response.text
        qr = httpx.get(server.url(f"/screen/events/{event['id']}/qr.svg?key=wrong"))
        assert qr.status_code == 403
