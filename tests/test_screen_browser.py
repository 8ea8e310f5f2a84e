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
from zoneinfo import ZoneInfo

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

    def put(self, path: str, body: dict) -> dict:
        response = self.http.put(path, json=body)
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


def _register(server, email: str) -> httpx.Client:
    http = httpx.Client(base_url=server.url(""), timeout=10)
    registered = http.post("/api/accounts/register/", json={
        "email": email, "password": "attendee-password-42", "first_name": "Buyer",
        "last_name": email.split("@")[0],
    })
    assert registered.status_code == 201, registered.text
    http.headers["Authorization"] = f"Bearer {registered.json()['access']}"
    return http


def _buyer_joins(server, event_id: int, email: str) -> None:
    joined = _register(server, email).post(f"/api/events/{event_id}/queue/")
    assert joined.status_code == 201, joined.text


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


LANDSCAPE, PORTRAIT = {"width": 1600, "height": 900}, {"width": 1080, "height": 1920}
SERVER_ENV = {
    # Up to 8 buyers register in the run (and the count survives the restart on Redis).
    "THROTTLE_REGISTER": "100/min",
    # The line's progress is published by the scheduler's admission job: inside the
    # server on embedded defaults, a separate process with Redis unless told so.
    "RUN_SCHEDULER_IN_PROCESS": "1",
}


def test_screen_shows_the_queue_length_and_keeps_it_across_a_dropped_socket(tmp_path):
    with running_server(tmp_path, **SERVER_ENV) as server:
        manage(server.env, "createsuperuser", "--no-input",
               DJANGO_SUPERUSER_EMAIL=STAFF_EMAIL, DJANGO_SUPERUSER_PASSWORD=STAFF_PASSWORD)
        staff = Organiser(server)
        now = datetime.now(UTC)
        plain = staff.post("/api/events/", {"title": "Friendly", "starts_at": _iso(now),
                                            "status": "live"})
        # Starting within the hour: check-in is open (the code shows), and the line still
        # moves (a room rests once its event started: nothing is sold after the start).
        event = staff.post("/api/events/", {
            "title": "Cup final", "starts_at": _iso(now + timedelta(hours=1)), "status": "live",
            "checkin_code_required": True,
        })
        staff.post(f"/api/events/{event['id']}/draws/", {
            "title": "Half-time raffle", "kind": "raffle", "eligibility": "registered",
            "scheduled_at": _iso(now + timedelta(minutes=10)),
            "prizes": [{"name": "Signed ball", "quantity": 1, "rank": 1}],
        })
        room = f"/api/events/{event['id']}/waiting-room/"
        # One buyer a minute, paused while the line fills: nobody is admitted during
        # the test, so the figures on the screen are exact.
        staff.put(room, {"rate_per_minute": 1})
        staff.post(room + "pause/")
        for n in range(6):
            _buyer_joins(server, event["id"], f"buyer{n}@example.com")
        keys = {e["id"]: staff.post(f"/api/events/{e['id']}/screen-keys/", {"label": "hall"})[
            "key"] for e in (plain, event)}
        port = server.port

        def screen(e):
            return server.url(f"/screen/events/{e['id']}/?key={keys[e['id']]}")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # No waiting room: its queue stream closes with 4404, which hides the
            # line's figures and does not stop the screen.
            page = browser.new_page(viewport=LANDSCAPE)
            page.goto(screen(plain))
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            page.wait_for_timeout(1500)
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            expect(page.locator("#queue")).to_be_hidden()
            page.close()

            page = browser.new_page(viewport=LANDSCAPE)
            page.goto(screen(event))
            queue, length = page.locator("#queue"), page.locator("#queue-length")
            detail = page.locator("#queue-detail")
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            expect(queue).to_contain_text("6 in the queue")
            expect(detail).to_have_text("admission paused")
            staff.post(room + "resume/")
            expect(detail).to_have_text("admitting 1 a minute · 0 served")
            expect(page.locator("#checkin-code")).to_have_text(re.compile(r"^\d{6}$"))
            page.wait_for_function("document.getElementById('checkin-qr').complete && "
                                   "document.getElementById('checkin-qr').naturalWidth > 0")
            _screenshot(page, tmp_path, "screen-queue.png")
            _buyer_joins(server, event["id"], "buyer6@example.com")
            expect(length).to_have_text("7")
            staff.post(room + "close/")  # the sale is direct: nothing to show
            expect(queue).to_be_hidden()
            staff.post(room + "open/")
            expect(queue).to_contain_text("7 in the queue")
            staff.post(room + "pause/")
            expect(detail).to_have_text("admission paused")

            portrait = browser.new_page(viewport=PORTRAIT)
            portrait.goto(screen(event))
            expect(portrait.locator("#queue")).to_contain_text("7 in the queue")
            expect(portrait.locator("#queue")).to_be_in_viewport()
            portrait.screenshot(path=str(tmp_path / "screen-queue-portrait.png"))
            portrait.close()

            server.stop()  # every socket drops
            expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
            with running_server(tmp_path, port=port, **SERVER_ENV) as again:
                expect(page.locator("#connection")).to_have_attribute(
                    "data-state", "live", timeout=15_000)
                # The line survives in Redis; the embedded store is the server's memory and
                # starts empty. Either way the screen shows the line as it is now, and a
                # buyer joining after the resume moves it live.
                _buyer_joins(again, event["id"], "buyer7@example.com")
                line = httpx.get(again.url(f"/api/events/{event['id']}/queue/")).json()
                assert line["status"] == "paused" and line["length"] >= 1
                expect(length).to_have_text(str(line["length"]), timeout=10_000)
                expect(detail).to_have_text("admission paused")
                expect(page.locator("#winners")).to_be_attached()
            browser.close()


def test_screen_speaks_the_events_language_and_shows_its_local_time(tmp_path):
    # A Russian event in Moscow, watched by a browser set to English in Berlin: the
    # event decides the language and the zone of every text and time on the screen.
    with running_server(tmp_path) as server:
        manage(server.env, "createsuperuser", "--no-input",
               DJANGO_SUPERUSER_EMAIL=STAFF_EMAIL, DJANGO_SUPERUSER_PASSWORD=STAFF_PASSWORD)
        staff = Organiser(server)
        now = datetime.now(UTC)
        event = staff.post("/api/events/", {
            "title": "Кубок", "starts_at": _iso(now), "status": "live",
            "time_zone": "Europe/Moscow", "language": "ru"})
        due = (now + timedelta(minutes=10)).replace(second=0, microsecond=0)
        staff.post(f"/api/events/{event['id']}/draws/", {
            "title": "Розыгрыш в перерыве", "kind": "raffle", "eligibility": "registered",
            "scheduled_at": _iso(due), "prizes": [{"name": "Мяч", "quantity": 1, "rank": 1}]})
        key = staff.post(f"/api/events/{event['id']}/screen-keys/", {})["key"]
        # Moscow keeps UTC+03:00 all year (MSK).
        moscow = due.astimezone(ZoneInfo("Europe/Moscow")).strftime("%H:%M")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(locale="en-GB", timezone_id="Europe/Berlin").new_page()
            page.goto(server.url(f"/screen/events/{event['id']}/?key={key}"))
            expect(page.locator("html")).to_have_attribute("lang", "ru")
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            expect(page.locator("#connection")).to_have_text("в эфире")
            expect(page.locator("#event-start")).to_contain_text("MSK")
            expect(page.locator("#next-draw-title")).to_have_text("Розыгрыш в перерыве")
            expect(page.locator("#next-draw-time")).to_have_text(f"в {moscow} MSK")
            expect(page.locator("#no-winners")).to_have_text(
                "Победители появятся здесь в момент розыгрыша.")
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
