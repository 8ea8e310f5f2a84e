"""The attendee app (/app/) on a phone, in a real browser (headless Chromium, Playwright).

A real daphne serves the app, its API and its WebSockets; the test acts as the
organiser over the staff REST API, as tests/test_screen_browser.py does. One
attendee goes through the first slice of issue 16 at 390x844 with touch:
register from a referral link, sign out and in, open the event, watch the
countdown, enter the raffle, see "You won!" the moment staff perform the draw
(the only entry, so the winner is known), claim; then the server process
restarts mid-countdown and the page, without a reload, shows the next win;
my entries; the waiting room up to "your turn".

Every main screen is checked with axe-core (tests/vendor/, injected by the
test: the app does not ship it) for serious and critical violations.
Screenshots go to the test's tmp folder, and to docs/screens/ with
UPDATE_SCREENSHOTS=1 (the README's pictures).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.servers import manage, running_server
from tests.test_screen_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    STAFF_EMAIL,
    STAFF_PASSWORD,
    Organiser,
    _assert_accessible,
    _iso,
    _screenshot,
    sync_playwright,
)

if sync_playwright is not None:
    from playwright.sync_api import expect

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None or sync_playwright is None,
        reason="needs Chromium (apt-get install chromium; .ci/run installs it) and playwright",
    ),
]

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
SERVER_ENV = {
    "THROTTLE_REGISTER": "100/min",
    # The waiting room's line moves with the scheduler's admission job: inside the
    # server on embedded defaults, a separate process with Redis unless told so.
    "RUN_SCHEDULER_IN_PROCESS": "1",
}
EMAIL, PASSWORD = "ana.lopez@example.com", "ana-long-password-42"


def _register_referrer(server) -> str:
    answer = httpx.post(server.url("/api/accounts/register/"), json={
        "email": "referrer@example.com", "password": "referrer-password-42",
        "first_name": "Rita"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["referral"]["referral_code"]


def _referrals_of_referrer(server) -> int:
    http = httpx.Client(base_url=server.url(""), timeout=10)
    token = http.post("/api/auth/token/", json={
        "email": "referrer@example.com", "password": "referrer-password-42"}).json()["access"]
    answer = http.get("/api/accounts/me/referrals/", headers={"Authorization": f"Bearer {token}"})
    return answer.json()["count"]


def _buyer_joins(server, event_id: int, email: str) -> None:
    http = httpx.Client(base_url=server.url(""), timeout=10)
    registered = http.post("/api/accounts/register/", json={
        "email": email, "password": "buyer-password-42", "first_name": "Buyer"})
    assert registered.status_code == 201, registered.text
    http.headers["Authorization"] = f"Bearer {registered.json()['access']}"
    assert http.post(f"/api/events/{event_id}/queue/").status_code == 201


def test_attendee_registers_wins_claims_and_keeps_watching_across_a_server_restart(tmp_path):
    with running_server(tmp_path, **SERVER_ENV) as server:
        manage(server.env, "createsuperuser", "--no-input",
               DJANGO_SUPERUSER_EMAIL=STAFF_EMAIL, DJANGO_SUPERUSER_PASSWORD=STAFF_PASSWORD)
        staff = Organiser(server)
        now = datetime.now(UTC)
        # Like the demo's meetup: live now, a raffle a few minutes ahead.
        event = staff.post("/api/events/", {
            "title": "Community meetup", "starts_at": _iso(now), "status": "live",
            "description": "Talks, pizza and a raffle.",
        })
        staff.post("/api/events/", {"title": "Spring match", "status": "published",
                                    "starts_at": _iso(now + timedelta(days=3))})
        draws = f"/api/events/{event['id']}/draws/"
        raffle = staff.post(draws, {
            "title": "Demo raffle", "kind": "raffle", "eligibility": "registered",
            "scheduled_at": _iso(now + timedelta(minutes=10)),
            "prizes": [{"name": "Headphones", "quantity": 1, "rank": 1}],
        })
        code = _register_referrer(server)
        port, secret = server.port, server.env["SECRET_KEY"]

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # bypass_csp: the test injects axe-core; the app's own policy forbids that.
            context = browser.new_context(**PHONE, bypass_csp=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # --- register from a referral link -----------------------------------------
            page.goto(server.url(f"/app/?ref={code}"))
            expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
            assert "ref=" not in page.url
            expect(page.get_by_label("Referral code (optional)")).to_have_value(code)
            expect(page.locator("#referral-notice")).to_contain_text(code)
            _assert_accessible(page, "register")
            _screenshot(page, tmp_path, "app-register.png")
            page.get_by_label("First name").fill("Ana")
            page.get_by_label("Last name").fill("Lopez")
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill("short")
            page.get_by_role("button", name="Create account").tap()
            # The server's own words, next to the field they are about.
            expect(page.locator(".form-error")).to_be_visible()
            expect(page.locator("#field-password-error")).to_be_visible()
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Create account").tap()
            expect(page.get_by_role("heading", name="Events")).to_be_visible()
            assert _referrals_of_referrer(server) == 1

            # --- sign out, sign in ------------------------------------------------------
            page.get_by_role("button", name="Sign out").tap()
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            expect(page.get_by_role("link", name="Forgot your password?")).to_have_attribute(
                "href", "/reset-password")
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill("not-the-password")
            page.get_by_role("button", name="Sign in").tap()
            expect(page.locator(".form-error")).to_contain_text(re.compile(r"\w"))
            _assert_accessible(page, "sign in")
            _screenshot(page, tmp_path, "app-signin.png")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").tap()
            expect(page.get_by_role("heading", name="Events")).to_be_visible()
            expect(page.get_by_role("link", name="Sign in")).to_be_hidden()
            live = page.get_by_role("region", name="Live now")
            expect(live.get_by_role("link", name=re.compile("Community meetup"))).to_be_visible()
            expect(page.get_by_role("region", name="Upcoming")).to_contain_text("Spring match")
            _assert_accessible(page, "events")
            _screenshot(page, tmp_path, "app-events.png")

            # --- the event: countdown, enter, win, claim ---------------------------------
            live.get_by_role("link", name=re.compile("Community meetup")).tap()
            expect(page.get_by_role("heading", name="Community meetup")).to_be_visible()
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            countdown = page.locator("#countdown")
            expect(page.locator("#next-draw-title")).to_have_text("Demo raffle")
            expect(countdown).to_have_text(re.compile(r"^(09|10):\d\d$"))
            first = countdown.inner_text()
            page.wait_for_timeout(1300)
            assert countdown.inner_text() != first, "the countdown must tick"
            card = page.locator(f"[data-draw-id='{raffle['id']}']")
            expect(card).to_contain_text("Headphones")
            card.get_by_role("button", name="Enter the raffle").tap()
            expect(card).to_contain_text("You are in this draw.")
            expect(card).to_contain_text("1 entry")  # the stream's draw.entries
            _assert_accessible(page, "event")
            _screenshot(page, tmp_path, "app-event.png")

            staff.post(draws + f"{raffle['id']}/perform/")
            won = page.locator("#my-wins .won-card")
            expect(won).to_contain_text("You won!")
            expect(won).to_contain_text("Headphones")
            expect(won).to_contain_text("Claim by")
            expect(card.locator(".winner-list")).to_contain_text("Ana L.")
            expect(countdown).to_have_text("Drawn")
            expect(page.locator("#announce-assertive")).to_contain_text("You won Headphones")
            page.wait_for_timeout(600)  # the card's entrance animation
            _assert_accessible(page, "you won")
            _screenshot(page, tmp_path, "app-you-won.png")
            won.get_by_role("button", name="Claim your prize").tap()
            expect(won).to_contain_text("Claimed")

            # --- the server restarts mid-countdown; the next win still arrives ----------
            later = staff.post(draws, {
                "title": "Closing raffle", "kind": "raffle", "eligibility": "registered",
                "scheduled_at": _iso(datetime.now(UTC) + timedelta(minutes=5)),
                "prizes": [{"name": "Concert tickets", "quantity": 1, "rank": 1}],
            })
            expect(page.locator("#next-draw-title")).to_have_text("Closing raffle")  # live
            expect(countdown).to_have_text(re.compile(r"^0[45]:\d\d$"))
            later_card = page.locator(f"[data-draw-id='{later['id']}']")
            later_card.get_by_role("button", name="Enter the raffle").tap()
            expect(later_card).to_contain_text("You are in this draw.")

            server.stop()  # every socket drops
            expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
            expect(countdown).to_have_text(re.compile(r"^0[45]:\d\d$"))  # still counting
            # The same signing key: the phone's tokens outlive the restart, as in production.
            with running_server(tmp_path, port=port, SECRET_KEY=secret, **SERVER_ENV) as again:
                # Performed at once, most likely before the page is back: the winner then
                # comes with the resume (a replay on Redis, a reset snapshot on the
                # embedded defaults, whose stream history was in the old process).
                Organiser(again).post(draws + f"{later['id']}/perform/")
                expect(page.locator("#connection")).to_have_attribute(
                    "data-state", "live", timeout=20_000)
                expect(page.locator("#my-wins [data-winner-id]")).to_have_count(2)
                expect(page.locator("#my-wins")).to_contain_text("Concert tickets")
                expect(later_card.locator(".winner-list")).to_contain_text("Ana L.")

                # --- my entries ---------------------------------------------------------
                page.get_by_role("link", name="My entries").tap()
                entries = page.locator("#entries")
                expect(entries.locator("[data-state='won']")).to_have_count(2)
                expect(entries).to_contain_text("Claimed")
                expect(entries.get_by_role("button", name="Claim your prize")).to_have_count(1)
                _assert_accessible(page, "my entries")
                _screenshot(page, tmp_path, "app-entries.png")

                # --- the waiting room ---------------------------------------------------
                staff = Organiser(again)
                sale = staff.post("/api/events/", {
                    "title": "Cup final", "status": "published",
                    "starts_at": _iso(datetime.now(UTC) + timedelta(days=7))})
                room = f"/api/events/{sale['id']}/waiting-room/"
                staff.put(room, {"rate_per_minute": 600})
                staff.post(room + "pause/")
                for n in range(2):
                    _buyer_joins(again, sale["id"], f"buyer{n}@example.com")
                page.goto(again.url(f"/app/#/events/{sale['id']}/queue"))
                expect(page.get_by_role("heading", name="Waiting room")).to_be_visible()
                page.get_by_role("button", name="Join the line").tap()
                expect(page.locator("#queue-number")).to_have_text("3")
                expect(page.locator("#queue-position")).to_have_text("3")
                expect(page.locator("#queue-eta")).to_contain_text("paused")
                expect(page.locator("#connection")).to_have_attribute("data-state", "live")
                _assert_accessible(page, "waiting room")
                _screenshot(page, tmp_path, "app-queue.png")
                staff.post(room + "resume/")
                expect(page.locator("#your-turn")).to_be_visible(timeout=15_000)
                page.get_by_role("link", name="Choose your seats").tap()
                expect(page.get_by_role("heading", name="Choose your seats")).to_be_visible()
                expect(page.locator("#queue-pass-note")).to_be_visible()

                # The app shell is kept by a service worker whose scope covers /app/.
                scope = page.evaluate(
                    "navigator.serviceWorker.ready.then(r => r.scope)")
                assert scope == again.url("/app/")
            assert errors == [], errors
            browser.close()


def test_api_client_retries_with_one_idempotency_key_and_refreshes_an_expired_session(tmp_path):
    """The app's REST client (core/web/app/api.js), driven inside the page: a top-up
    whose answer is lost is retried with the same Idempotency-Key and credited once; a
    double tap sends one request; a refused token is refreshed once; errors carry the
    server's detail. The server credits top-ups at once (the demo payment provider, which
    needs DEBUG), so the balance shows what was credited."""
    with running_server(tmp_path, **SERVER_ENV, DEBUG="1", PAYMENT_PROVIDER="demo") as server, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Requests from a page a service worker controls would bypass page.route().
        context = browser.new_context(**PHONE, service_workers="block")
        page = context.new_page()
        page.goto(server.url("/app/#/register"))
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").tap()
        expect(page.get_by_role("heading", name="Events")).to_be_visible()

        keys: list[str] = []

        def lose_the_first_answer(route):
            keys.append(route.request.headers.get("idempotency-key", ""))
            if len(keys) == 1:
                route.fetch()  # the server credits the wallet ...
                route.abort("connectionreset")  # ... and the phone never hears it
            else:
                route.continue_()

        page.route("**/api/wallet/top-up/", lose_the_first_answer)
        result = page.evaluate("""async () => {
                const { api } = await import("/assets/app/api.js");
                const first = await api.topUp(500);
                const [a, b] = await Promise.all([api.topUp(300), api.topUp(300)]);
                const wallet = await api.wallet();
                let refused = null;
                try { await api.topUp(-5); } catch (error) {
                    refused = { status: error.status, code: error.code, detail: error.detail,
                                fields: error.fieldMessages() };
                }
                const session = api.session();
                const stale = Object.assign({}, session, { access: session.access + "x" });
                localStorage.setItem("tombola.session", JSON.stringify(stale));
                const me = await api.get("/accounts/me/");
                return { first, same: a === b, balance: wallet.balance, refused, me: me.email,
                         refreshed: api.session().access !== stale.access };
            }""")
        assert len(keys) == 4, keys  # lost + retried, the double tap's one, the -5
        assert keys[0] and keys[0] == keys[1] and keys[2] not in (keys[0], keys[3])
        assert result["same"] is True
        assert result["balance"] == 800, result
        assert result["refused"]["status"] == 400
        assert result["refused"]["code"] == "invalid" and result["refused"]["detail"]
        assert result["refused"]["fields"]["amount"], result["refused"]
        assert result["me"] == EMAIL and result["refreshed"] is True
        browser.close()
