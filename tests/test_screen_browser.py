"""The venue screen in a real browser (headless Chromium driven by Playwright).

A real daphne serves the page and its WebSockets; the test acts as the
organiser over the REST API. It checks what a person in the hall sees: the
countdown, the winners grouped by draw (newest first, a lottery's numbers, an
external draw's imported winners under their own heading), the winner moment,
the seat panel moving live, the waiting room's line, the event's language and
local time; in landscape (1080p, 4K) and portrait, with no panel overlapping
another and no serious axe-core violation; and recovery after the server drops
the socket (here: the server process restarts).

One server and one browser serve the whole module (`hall`); the server restarts
on its port where a test needs a drop. On the embedded run the server keeps its
own SQLite file for the module, so every test registers its own people
(`Organiser.person`); on the server run the tables are emptied after each test
and the staff account is made again when missing.

Screenshots go to the module's tmp folder, and to docs/screens/ when
UPDATE_SCREENSHOTS=1 (that is how the README's pictures were made).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher

from core.models import User
from tests.servers import ROOT, manage, running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - requirements.txt installs it
    sync_playwright = None

# Every browser test module's skip (the server run fails on it: .ci/run installs both).
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None or sync_playwright is None,
    reason="needs Chromium (apt-get install chromium; .ci/run installs it) and playwright",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    NEEDS_CHROMIUM,
]

STAFF_EMAIL, STAFF_PASSWORD = "screen-staff@example.com", "a-long-staff-password-42"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
AXE = ROOT / "tests" / "vendor" / "axe-4.14.1.min.js"
FULL_HD, UHD = {"width": 1920, "height": 1080}, {"width": 3840, "height": 2160}
PORTRAIT = {"width": 1080, "height": 1920}
LAYOUTS = {"landscape-1080p": FULL_HD, "landscape-4k": UHD, "portrait": PORTRAIT}
SERVER_ENV = {
    # Every test registers its own attendees and buyers on the module's one server.
    "THROTTLE_REGISTER": "1000/min",
    # The line's progress is published by the scheduler's admission job: inside the
    # server on embedded defaults, a separate process with Redis unless told so.
    "RUN_SCHEDULER_IN_PROCESS": "1",
}
_people = itertools.count(1)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class Organiser:
    """The staff side, over the real server's REST API."""

    def __init__(self, server):
        self.server = server
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

    def person(self, first: str, last: str) -> tuple[int, httpx.Client]:
        """A newly registered attendee: (user id, their signed-in client)."""
        return _register(self.server, first, last)

    def screen_url(self, event_id: int, **query: str) -> str:
        key = self.post(f"/api/events/{event_id}/screen-keys/", {"label": "hall"})["key"]
        extra = "".join(f"&{name}={value}" for name, value in query.items())
        return self.server.url(f"/screen/events/{event_id}/?key={key}{extra}")


def _register(server, first: str = "Buyer", last: str = "") -> tuple[int, httpx.Client]:
    http = httpx.Client(base_url=server.url(""), timeout=10)
    email = f"person.{next(_people)}.{os.getpid()}@example.com"
    registered = http.post("/api/accounts/register/", json={
        "email": email, "password": "attendee-password-42", "first_name": first,
        "last_name": last})
    assert registered.status_code == 201, registered.text
    http.headers["Authorization"] = f"Bearer {registered.json()['access']}"
    return registered.json()["user"]["id"], http


def _enter(http: httpx.Client, event_id: int, draw_id: int, numbers=None) -> None:
    entered = http.post(f"/api/events/{event_id}/draws/{draw_id}/participate/",
                        json={"numbers": numbers} if numbers else {})
    assert entered.status_code == 201, entered.text


def _attendee_enters(staff: Organiser, event_id: int, draw_id: int, first: str, last: str):
    _enter(staff.person(first, last)[1], event_id, draw_id)


def _buyer_joins(server, event_id: int) -> None:
    joined = _register(server)[1].post(f"/api/events/{event_id}/queue/")
    assert joined.status_code == 201, joined.text


class Hall:
    """The module's server (restartable on its port) and browser."""

    def __init__(self, tmp_path: Path, browser):
        self.tmp_path, self.browser, self.port = tmp_path, browser, None
        self._running = None
        self.server = None

    def start(self):
        self._running = running_server(self.tmp_path, port=self.port, **SERVER_ENV)
        self.server = self._running.__enter__()
        self.port = self.server.port
        return self.server

    def stop(self):
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None

    def page(self, url: str, viewport=FULL_HD, **context):
        page = self.browser.new_context(viewport=viewport, **context).new_page()
        page.goto(url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        return page


@pytest.fixture(scope="module")
def hall(tmp_path_factory, django_db_setup, django_db_blocker):
    tmp_path = tmp_path_factory.mktemp("screen")
    # Playwright's sync API keeps an event loop in this thread for the whole module, so
    # Django takes every ORM call here (the tables emptied after each test) for one made
    # from async code; nothing of ours runs on that loop.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    with django_db_blocker.unblock(), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        hall = Hall(tmp_path, browser)
        hall.start()
        try:
            yield hall
        finally:
            hall.stop()
            browser.close()
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def staff(hall) -> Organiser:
    """Signed in as staff; the account is made when this test's database lacks it."""
    answer = httpx.post(hall.server.url("/api/auth/token/"), timeout=10,
                        json={"email": STAFF_EMAIL, "password": STAFF_PASSWORD})
    if answer.status_code != 200 and settings.USING_POSTGRES:
        # The server reads this test's database: made here, hashed as the server checks
        # (this process hashes with MD5 for speed), without starting a command.
        hasher = Argon2PasswordHasher()
        user = User.objects.create_superuser(STAFF_EMAIL, password=None)
        user.password = hasher.encode(STAFF_PASSWORD, hasher.salt())
        user.save(update_fields=["password"])
    elif answer.status_code != 200:  # its own SQLite file, kept for the module
        manage(hall.server.env, "createsuperuser", "--no-input",
               DJANGO_SUPERUSER_EMAIL=STAFF_EMAIL, DJANGO_SUPERUSER_PASSWORD=STAFF_PASSWORD)
    return Organiser(hall.server)


def _screenshot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    # JPEG for the pictures with gradients (the winner moment): a tenth of the PNG's size.
    page.screenshot(path=str(path), **({"quality": 85} if name.endswith(".jpg") else {}))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screens"
        target.mkdir(exist_ok=True)
        shutil.copy(path, target / name)


def _assert_accessible(page, what: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ["violations"]});
        return result.violations.filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
    }""")
    assert violations == [], f"{what}: {violations}"


# The blocks of the screen: none may overlap another or leave the viewport, and none
# may be wider than its box (text running out of it).
BLOCKS = [".heading", "#queue", "#entry", ".clock", "#connection", ".countdown-panel",
          ".winners-panel", "#checkin", "#seats"]


def _assert_laid_out(page, what: str) -> None:
    # As it rests: an entrance animation may move a block for a moment.
    page.wait_for_function("document.getAnimations().every((a) => a.playState !== 'running')")
    report = page.evaluate("""(selectors) => {
        const boxes = [];
        for (const selector of selectors) {
            const node = document.querySelector(selector);
            if (!node || node.closest("[hidden]")) continue;
            const r = node.getBoundingClientRect();
            if (!r.width || !r.height) continue;
            boxes.push({selector, left: r.left, top: r.top, right: r.right, bottom: r.bottom,
                        overflow: node.scrollWidth - node.clientWidth});
        }
        const problems = [];
        const [w, h] = [innerWidth, innerHeight];
        for (const b of boxes) {
            if (b.left < 0 || b.top < 0 || b.right > w + 0.5 || b.bottom > h + 0.5)
                problems.push(`${b.selector} leaves the ${w}x${h} viewport`);
            if (b.overflow > 1) problems.push(`${b.selector} is ${b.overflow}px too wide`);
        }
        boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => {
            const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
            const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
            if (x > 0.5 && y > 0.5) problems.push(`${a.selector} overlaps ${b.selector}`);
        }));
        return {problems, shown: boxes.map((b) => b.selector)};
    }""", BLOCKS)
    assert report["problems"] == [], f"{what}: {report['problems']}"
    return report["shown"]


def _venue_event(staff: Organiser, title: str, *, starts_in: timedelta) -> tuple[dict, dict]:
    """An event at a new venue with three priced sections, on sale now: (event, layout)."""
    now = datetime.now(UTC)
    venue = staff.post("/api/venues/", {"name": f"{title} hall", "address": "1 Main St"})
    layout = staff.post(f"/api/venues/{venue['id']}/layout/", {"sections": [
        {"name": name, "rows": [{"label": row, "seats": 10} for row in "ABC"]}
        for name in ("North stand", "South stand", "Balcony")]})
    event = staff.post("/api/events/", {
        "title": title, "starts_at": _iso(now + starts_in), "status": "live",
        "venue": venue["id"], "checkin_code_required": True})
    staff.put(f"/api/events/{event['id']}/prices/", {"prices": [
        {"section_id": section["id"], "amount": 0} for section in layout["sections"]]})
    staff.put(f"/api/events/{event['id']}/sale/", {
        "sale_starts_at": _iso(now - timedelta(minutes=5)), "max_seats_per_order": 6})
    return event, layout


def _seats_of(layout: dict, section: int, count: int) -> list[int]:
    seats = [seat["id"] for row in layout["sections"][section]["rows"] for seat in row["seats"]]
    return seats[:count]


def _buy(http: httpx.Client, event_id: int, seat_ids: list[int]) -> None:
    hold = http.post(f"/api/events/{event_id}/holds/", json={"seat_ids": seat_ids})
    assert hold.status_code == 201, hold.text
    bought = http.post(f"/api/holds/{hold.json()['token']}/purchase/", json={},
                       headers={"Idempotency-Key": f"buy-{hold.json()['token']}"})
    assert bought.status_code == 201, bought.text


def _three_kinds_performed(staff: Organiser, event_id: int) -> dict:
    """A raffle, a lottery and an external draw, performed in that order: their answers."""
    raffle = staff.post(f"/api/events/{event_id}/draws/", {
        "title": "Half-time raffle", "kind": "raffle", "eligibility": "registered",
        "prizes": [{"name": "Signed ball", "quantity": 1, "rank": 1},
                   {"name": "Scarf", "quantity": 2, "rank": 2}]})
    for first, last in (("Alice", "Winner"), ("Bob", "Second"), ("Chen", "Li")):
        _attendee_enters(staff, event_id, raffle["id"], first, last)
    lottery = staff.post(f"/api/events/{event_id}/draws/", {
        "title": "Lucky numbers", "kind": "lottery", "eligibility": "registered",
        "numbers_count": 3, "numbers_max": 5, "max_ballots": 10, "lottery_mode": "tiers",
        "prizes": [{"name": "Jackpot", "quantity": 1, "rank": 1, "matches": 3},
                   {"name": "Drinks voucher", "quantity": 10, "rank": 2, "matches": 2}]})
    # Every ballot of 3 out of 5 is played, so one of them matches all three numbers.
    ballots = [[a, b, c] for a in range(1, 6) for b in range(a + 1, 6) for c in range(b + 1, 6)]
    for (first, last), share in zip((("Dana", "Jones"), ("Emil", "Novak")),
                                    (ballots[:5], ballots[5:]), strict=True):
        player = staff.person(first, last)[1]
        for numbers in share:
            _enter(player, event_id, lottery["id"], numbers)
    external = staff.post(f"/api/events/{event_id}/draws/", {
        "title": "Partner draw", "kind": "external", "eligibility": "registered",
        "prizes": [{"name": "City bike", "quantity": 1, "rank": 1}]})
    winner_id = staff.person("Farah", "Khan")[0]
    performed = {"raffle": staff.post(f"/api/events/{event_id}/draws/{raffle['id']}/perform/"),
                 "lottery": staff.post(f"/api/events/{event_id}/draws/{lottery['id']}/perform/")}
    performed["external"] = staff.post(
        f"/api/events/{event_id}/draws/{external['id']}/perform/",
        {"winners": [{"prize_id": external["prizes"][0]["id"], "user_id": winner_id}]})
    return performed


def _tier_names(winners: list[dict], prize: str) -> str:
    """How the screen names a tier's winners: "Dana J. ×4, Emil N. ×2", in draw order."""
    times = Counter(w["winner"] for w in sorted(winners, key=lambda w: w["id"])
                    if w["prize"] == prize)
    return ", ".join(f"{name} ×{n}" if n > 1 else name for name, n in times.items())


def test_screen_groups_winners_by_draw_in_landscape_4k_and_portrait(hall, staff):
    event, layout = _venue_event(staff, "Cup final", starts_in=timedelta(hours=1))
    now = datetime.now(UTC)
    staff.post(f"/api/events/{event['id']}/draws/", {
        "title": "Final whistle raffle", "kind": "raffle", "eligibility": "registered",
        "scheduled_at": _iso(now + timedelta(minutes=10)),
        "prizes": [{"name": "Season ticket", "quantity": 1, "rank": 1}]})
    performed = _three_kinds_performed(staff, event["id"])
    buyer = staff.person("Gil", "Buyer")[1]
    _buy(buyer, event["id"], _seats_of(layout, 0, 6))
    # A gate lets two of Gil's six tickets in: the header counts them.
    staff.post(f"/api/events/{event['id']}/gates/", {"name": "Main"})
    for ticket in buyer.get("/api/tickets/").json()["results"][:2]:
        scanned = staff.post(f"/api/events/{event['id']}/scan/",
                             {"code": ticket["code"], "gate": "Main"})
        assert scanned["result"] == "valid", scanned
    url = staff.screen_url(event["id"])
    numbers = performed["lottery"]["winning_numbers"]
    assert len(numbers) == 3

    for name, viewport in LAYOUTS.items():
        page = hall.page(url, viewport)
        groups = page.locator("#winners .draw-group")
        expect(groups).to_have_count(3)
        # Newest draw first, each under its name with its prizes.
        assert [groups.nth(i).get_attribute("data-kind") for i in range(3)] == [
            "external", "lottery", "raffle"]
        raffle = page.locator('.draw-group[data-kind="raffle"]')
        expect(raffle.locator("h3")).to_have_text("Half-time raffle")
        expect(raffle.locator(".group-prizes")).to_have_text("Signed ball · 2 × Scarf")
        expect(raffle.locator(".winner-list li")).to_have_count(3)
        expect(raffle.locator(".winner-list li").first).to_contain_text("Signed ball")
        assert {w["winner"] for w in performed["raffle"]["winners"]} == set(
            raffle.locator(".winner-list .name").all_inner_texts())
        # The lottery: its winning numbers as numbers, its winners by tier.
        lottery = page.locator('.draw-group[data-kind="lottery"]')
        expect(lottery.locator(".ball")).to_have_text([str(n) for n in numbers])
        jackpot = lottery.locator('.tier[data-matches="3"]')
        expect(jackpot).to_contain_text("Matches: 3 · Jackpot")
        jackpot_winner = next(w["winner"] for w in performed["lottery"]["winners"]
                              if w["prize"] == "Jackpot")
        expect(jackpot.locator(".name")).to_have_text(jackpot_winner)
        # 6 ballots match two numbers: each player is named once, with their count.
        expect(lottery.locator('.tier[data-matches="2"] .name')).to_have_text(_tier_names(
            performed["lottery"]["winners"], "Drinks voucher"))
        # The external draw's imported winners under their own heading.
        external = page.locator('.draw-group[data-kind="external"]')
        expect(external.locator(".imported")).to_have_text("Imported winners")
        expect(external.locator(".winner-list")).to_contain_text("City bike")
        expect(external.locator(".winner-list")).to_contain_text("Farah K.")
        # The next draw's countdown, the check-in code and the seat panel share the screen.
        expect(page.locator("#next-draw-title")).to_have_text("Final whistle raffle")
        expect(page.locator("#checkin-code")).to_have_text(re.compile(r"^\d{6}$"))
        page.wait_for_function("document.getElementById('checkin-qr').complete && "
                               "document.getElementById('checkin-qr').naturalWidth > 0")
        north = f'.section[data-section-id="{layout["sections"][0]["id"]}"]'
        expect(page.locator(f"#seat-sections {north} .section-sold")).to_have_text("6 of 30 sold")
        expect(page.locator("#entry")).to_have_text("2 of 6 in")
        shown = _assert_laid_out(page, name)
        assert {".countdown-panel", ".winners-panel", "#checkin", "#seats", "#entry"} <= set(
            shown), shown
        _assert_accessible(page, name)
        _screenshot(page, hall.tmp_path, f"screen-{name}.png")
        page.context.close()


def test_winner_moment_fills_the_screen_then_settles_into_the_list(hall, staff):
    event = staff.post("/api/events/", {"title": "Quiz night", "status": "live",
                                        "starts_at": _iso(datetime.now(UTC))})
    raffle = staff.post(f"/api/events/{event['id']}/draws/", {
        "title": "Door prize", "kind": "raffle", "eligibility": "registered",
        "prizes": [{"name": "Hamper", "quantity": 1, "rank": 1}]})
    _attendee_enters(staff, event["id"], raffle["id"], "Ivy", "Moment")
    lottery = staff.post(f"/api/events/{event['id']}/draws/", {
        "title": "Number game", "kind": "lottery", "eligibility": "registered",
        "numbers_count": 4, "numbers_max": 20, "max_ballots": 1, "lottery_mode": "tiers",
        "prizes": [{"name": "Jackpot", "quantity": 1, "rank": 1, "matches": 4}]})
    _enter(staff.person("Jon", "Ballot")[1], event["id"], lottery["id"], [1, 2, 3, 4])

    for name, viewport in (("landscape", FULL_HD), ("portrait", PORTRAIT)):
        page = hall.page(staff.screen_url(event["id"], moment="2"), viewport)
        moment = page.locator("#moment")
        expect(moment).to_be_hidden()  # what was drawn before the screen opened is no moment
        if name == "landscape":
            staff.post(f"/api/events/{event['id']}/draws/{raffle['id']}/perform/")
        else:
            numbers = staff.post(
                f"/api/events/{event['id']}/draws/{lottery['id']}/perform/")["winning_numbers"]
        expect(moment).to_be_visible()
        page.wait_for_timeout(600)  # its entrance (a zoom) has played
        box = moment.bounding_box()
        assert box == {"x": 0, "y": 0, **viewport}, box  # the whole screen
        if name == "landscape":
            expect(page.locator("#moment-draw")).to_have_text("Door prize")
            expect(page.locator("#moment-title")).to_have_text("Winner")
            expect(page.locator("#moment-winners")).to_contain_text("Ivy M.")
            expect(page.locator("#moment-winners")).to_contain_text("Hamper")
            _screenshot(page, hall.tmp_path, "screen-moment.jpg")
        else:
            expect(page.locator("#moment-numbers .ball")).to_have_text([str(n) for n in numbers])
            _screenshot(page, hall.tmp_path, "screen-moment-portrait.jpg")
        _assert_accessible(page, f"winner moment, {name}")
        # After its seconds it gives the screen back, and the draw is marked in the list.
        expect(moment).to_be_hidden(timeout=5_000)
        drawn = raffle if name == "landscape" else lottery
        group = page.locator(f'.draw-group[data-draw-id="{drawn["id"]}"]')
        expect(group).to_have_class(re.compile("just-drawn"))
        expect(page.locator("#winners .draw-group").first).to_have_attribute(
            "data-draw-id", str(drawn["id"]))
        if name == "landscape":
            expect(group).to_contain_text("Ivy M.")
        _assert_laid_out(page, f"after the moment, {name}")
        page.context.close()

    # Seven winners at once, on the narrow screen: six are named, side by side, and the
    # announcement still fits it.
    big = staff.post(f"/api/events/{event['id']}/draws/", {
        "title": "Grand raffle", "kind": "raffle", "eligibility": "registered",
        "prizes": [{"name": "Voucher", "quantity": 7, "rank": 1}]})
    for n in range(7):
        _attendee_enters(staff, event["id"], big["id"], f"Guest{n}", "Many")
    page = hall.page(staff.screen_url(event["id"], moment="3"), PORTRAIT)
    staff.post(f"/api/events/{event['id']}/draws/{big['id']}/perform/")
    winners = page.locator("#moment-winners")
    expect(winners.locator("li")).to_have_count(7)
    expect(winners.locator("li").last).to_have_text("and 1 more")
    expect(page.locator("#moment-title")).to_have_text("Winners")
    page.wait_for_timeout(600)
    card = page.locator(".moment-card").bounding_box()
    assert card["y"] >= 0 and card["y"] + card["height"] <= PORTRAIT["height"], card
    page.context.close()


def test_seat_panel_shows_sold_and_free_by_section_live(hall, staff):
    event, layout = _venue_event(staff, "Concert", starts_in=timedelta(hours=3))
    page = hall.page(staff.screen_url(event["id"]), PORTRAIT)
    north, south = (f'#seat-sections .section[data-section-id="{layout["sections"][i]["id"]}"]'
                    for i in (0, 1))
    expect(page.locator("#seat-sections .section")).to_have_count(3)
    expect(page.locator(north + " .section-sold")).to_have_text("0 of 30 sold")
    expect(page.locator(north + " .section-free")).to_have_text("30 free")
    expect(page.locator("#seat-map rect")).to_have_count(90)

    buyer = staff.person("Kim", "Seats")[1]
    held = _seats_of(layout, 1, 4)
    hold = buyer.post(f"/api/events/{event['id']}/holds/", json={"seat_ids": held})
    assert hold.status_code == 201, hold.text
    expect(page.locator(south + " .section-held")).to_have_text("4 held")
    expect(page.locator(f'#seat-map rect[data-seat-id="{held[0]}"]')).to_have_attribute(
        "data-status", "held")
    _buy(staff.person("Lee", "Buyer")[1], event["id"], _seats_of(layout, 0, 5))
    expect(page.locator(north + " .section-sold")).to_have_text("5 of 30 sold")
    expect(page.locator(north + " .section-free")).to_have_text("25 free")
    expect(page.locator('#seat-map rect[data-status="sold"]')).to_have_count(5)
    assert buyer.delete(f"/api/holds/{hold.json()['token']}/").status_code == 204
    expect(page.locator(south + " .section-held")).to_have_count(0)
    expect(page.locator(south + " .section-free")).to_have_text("30 free")
    _assert_laid_out(page, "seat panel, portrait")
    page.context.close()


def test_screen_shows_countdown_then_winner_and_recovers_after_a_dropped_socket(hall, staff):
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
    _attendee_enters(staff, event["id"], draw["id"], "Alice", "Winner")
    page = hall.page(staff.screen_url(event["id"], moment="1"), FULL_HD)
    expect(page.locator("#next-draw-title")).to_have_text("Half-time raffle")
    countdown = page.locator("#countdown")
    expect(countdown).to_have_text(re.compile(r"^(09|10):\d\d$"))
    expect(page.locator("#prizes")).to_contain_text("Signed ball")
    expect(page.locator("#checkin-code")).to_have_text(re.compile(r"^\d{6}$"))
    expect(page.locator("#checkin-qr")).to_have_attribute("src", re.compile("qr.svg"))
    first = countdown.inner_text()
    page.wait_for_timeout(1300)
    assert countdown.inner_text() != first, "the countdown must tick"
    _screenshot(page, hall.tmp_path, "screen-countdown.png")

    staff.post(f"/api/events/{event['id']}/draws/{draw['id']}/perform/")
    expect(page.locator("#winners")).to_contain_text("Signed ball")
    expect(page.locator("#winners")).to_contain_text("Alice W.")
    expect(page.locator("#countdown")).to_have_text("Drawn")
    expect(page.locator("#moment")).to_be_hidden(timeout=5_000)

    hall.stop()  # the server goes away: every socket drops
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    hall.start()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    # What was shown before the drop is still right after the resume ...
    expect(page.locator("#winners")).to_contain_text("Alice W.")
    # ... and what happens after it arrives live.
    staff = Organiser(hall.server)
    second = staff.post(f"/api/events/{event['id']}/draws/", {
        "title": "Final whistle raffle", "kind": "raffle", "eligibility": "registered",
        "prizes": [{"name": "Season ticket", "quantity": 1, "rank": 1}],
    })
    _attendee_enters(staff, event["id"], second["id"], "Bob", "Second")
    staff.post(f"/api/events/{event['id']}/draws/{second['id']}/perform/")
    expect(page.locator("#moment-winners")).to_contain_text("Bob S.")
    expect(page.locator("#winners .draw-group").first).to_contain_text("Season ticket")
    expect(page.locator("#winners .draw-group").first).to_contain_text("Bob S.")
    page.context.close()


def test_screen_shows_the_queue_length_and_keeps_it_across_a_dropped_socket(hall, staff):
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
    for _ in range(6):
        _buyer_joins(hall.server, event["id"])

    # No waiting room: its queue stream closes with 4404, which hides the
    # line's figures and does not stop the screen.
    page = hall.page(staff.screen_url(plain["id"]))
    page.wait_for_timeout(1500)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#queue")).to_be_hidden()
    page.context.close()

    url = staff.screen_url(event["id"])
    page = hall.page(url)
    queue, length = page.locator("#queue"), page.locator("#queue-length")
    detail = page.locator("#queue-detail")
    expect(queue).to_contain_text("6 in the queue")
    expect(detail).to_have_text("admission paused")
    staff.post(room + "resume/")
    expect(detail).to_have_text("admitting 1 a minute · 0 served")
    expect(page.locator("#checkin-code")).to_have_text(re.compile(r"^\d{6}$"))
    page.wait_for_function("document.getElementById('checkin-qr').complete && "
                           "document.getElementById('checkin-qr').naturalWidth > 0")
    _screenshot(page, hall.tmp_path, "screen-queue.png")
    _buyer_joins(hall.server, event["id"])
    expect(length).to_have_text("7")
    staff.post(room + "close/")  # the sale is direct: nothing to show
    expect(queue).to_be_hidden()
    staff.post(room + "open/")
    expect(queue).to_contain_text("7 in the queue")
    staff.post(room + "pause/")
    expect(detail).to_have_text("admission paused")

    portrait = hall.page(url, PORTRAIT)
    expect(portrait.locator("#queue")).to_contain_text("7 in the queue")
    expect(portrait.locator("#queue")).to_be_in_viewport()
    _assert_laid_out(portrait, "queue, portrait")
    portrait.context.close()

    hall.stop()  # every socket drops
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    hall.start()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    # The line survives in Redis; the embedded store is the server's memory and
    # starts empty. Either way the screen shows the line as it is now, and a
    # buyer joining after the resume moves it live.
    _buyer_joins(hall.server, event["id"])
    line = httpx.get(hall.server.url(f"/api/events/{event['id']}/queue/")).json()
    assert line["status"] == "paused" and line["length"] >= 1
    expect(length).to_have_text(str(line["length"]), timeout=10_000)
    expect(detail).to_have_text("admission paused")
    expect(page.locator("#winners")).to_be_attached()
    page.context.close()


def test_screen_speaks_the_events_language_and_shows_its_local_time(hall, staff):
    # A Russian event in Moscow, watched by a browser set to English in Berlin: the
    # event decides the language and the zone of every text and time on the screen.
    now = datetime.now(UTC)
    event = staff.post("/api/events/", {
        "title": "Кубок", "starts_at": _iso(now), "status": "live",
        "time_zone": "Europe/Moscow", "language": "ru"})
    due = (now + timedelta(minutes=10)).replace(second=0, microsecond=0)
    staff.post(f"/api/events/{event['id']}/draws/", {
        "title": "Розыгрыш в перерыве", "kind": "raffle", "eligibility": "registered",
        "scheduled_at": _iso(due), "prizes": [{"name": "Мяч", "quantity": 1, "rank": 1}]})
    lottery = staff.post(f"/api/events/{event['id']}/draws/", {
        "title": "Лото", "kind": "lottery", "eligibility": "registered",
        "numbers_count": 2, "numbers_max": 9, "max_ballots": 1, "lottery_mode": "tiers",
        "prizes": [{"name": "Главный приз", "quantity": 1, "rank": 1, "matches": 2}]})
    _enter(staff.person("Иван", "Петров")[1], event["id"], lottery["id"], [1, 2])
    staff.post(f"/api/events/{event['id']}/gates/", {"name": "Главный вход"})
    performed = staff.post(f"/api/events/{event['id']}/draws/{lottery['id']}/perform/")
    # Moscow keeps UTC+03:00 all year (MSK).
    moscow = ZoneInfo("Europe/Moscow")
    drawn_at = datetime.fromisoformat(performed["performed_at"].replace("Z", "+00:00"))

    page = hall.page(staff.screen_url(event["id"]), FULL_HD,
                     locale="en-GB", timezone_id="Europe/Berlin")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#connection")).to_have_text("в эфире")
    expect(page.locator("#event-start")).to_contain_text("MSK")
    expect(page.locator("#clock")).to_have_text(re.compile(r"^\d\d:\d\d MSK$"))
    clock = page.locator("#clock").inner_text()[:5]
    assert clock in {(datetime.now(UTC) - timedelta(minutes=m)).astimezone(moscow).strftime(
        "%H:%M") for m in (0, 1)}, clock
    expect(page.locator("#next-draw-title")).to_have_text("Розыгрыш в перерыве")
    expect(page.locator("#next-draw-time")).to_have_text(f"в {due.astimezone(moscow):%H:%M} MSK")
    group = page.locator(".draw-group")
    expect(group.locator(".group-meta")).to_have_text(
        f"Лотерея · разыграно в {drawn_at.astimezone(moscow):%H:%M} MSK")
    expect(group.locator(".numbers-label")).to_have_text("Выигрышные числа")
    expect(group.locator(".tier-name")).to_have_text("Совпадений: 2 · Главный приз")
    expect(page.locator("#entry")).to_have_text("вошли 0 из 0")
    _screenshot(page, hall.tmp_path, "screen-ru.png")
    page.context.close()


def test_screen_page_refuses_a_wrong_key(hall, staff):
    event = staff.post("/api/events/", {"title": "Cup", "starts_at": _iso(datetime.now(UTC)),
                                        "status": "live"})
    response = httpx.get(hall.server.url(f"/screen/events/{event['id']}/?key=wrong"))
    assert response.status_code == 403
    assert "not valid" in response.text
    qr = httpx.get(hall.server.url(f"/screen/events/{event['id']}/qr.svg?key=wrong"))
    assert qr.status_code == 403
