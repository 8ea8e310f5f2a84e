"""The browser verifier (#/events/<id>/draws/<id>/verify, issue 19) in headless Chromium.

A real daphne serves the attendee app; the proof the page fetches is the public proof of
a tombola-beacon-v2 draw performed in this test (with the recorded quicknet round 3 from
a local relay), handed to the page for the proof's URL. The page must recompute it
(Web Crypto, and the BLS signature with the vendored @noble/curves) and accept it, and
name the failing check when one byte of it is altered.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from live import beacon as drand
from live.models import Draw
from live.services.performing import draw_perform
from live.verify import ProofMismatch, verify_proof
from tests.factories import draw_url, make_draw, make_entrants
from tests.servers import running_server
from tests.test_app_browser import PHONE
from tests.test_beacon import _performed_v2_draw, beacon_settings  # noqa: F401 (fixture)
from tests.test_screen_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NEEDS_CHROMIUM,
    _screenshot,
    sync_playwright,
)

if sync_playwright is not None:
    from playwright.sync_api import expect

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db,
    NEEDS_CHROMIUM,
]


def _flip_hex(text: str, at: int) -> str:
    return text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1:]


def _altered(proof: dict, what: str) -> dict:
    altered = json.loads(json.dumps(proof))
    if what == "seed":
        altered["seed"] = _flip_hex(altered["seed"], 5)
    elif what == "entries":
        first = altered["entries"][0]
        altered["entries"][0] = str(int(first) + 1)
    elif what == "beacon":
        altered["beacon"]["randomness"] = _flip_hex(altered["beacon"]["randomness"], 7)
    elif what == "signature":  # a forged signature with its matching randomness
        forged = _flip_hex(altered["beacon"]["signature"], 20)
        altered["beacon"]["signature"] = forged
        altered["beacon"]["randomness"] = hashlib.sha256(bytes.fromhex(forged)).hexdigest()
    elif what == "winners":
        altered["winners"][0]["entry_id"] = int(altered["entries"][-1]) + 1000
    return altered


def _verifier_page(playwright, server, draw, served: dict, path: str):
    """Chromium on the verifier page, the proof's URL answering `served["proof"]`."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    # Requests from a page a service worker controls would bypass page.route().
    page = browser.new_context(service_workers="block", **PHONE).new_page()
    page.route(f"**/api/events/{draw.event_id}/draws/{draw.pk}/proof/",
               lambda route: route.fulfill(status=200, content_type="application/json",
                                           body=json.dumps(served["proof"])))
    page.goto(server.url("/app/" + path))
    return browser, page


@pytest.fixture
def performed_proof(beacon_settings, api):  # noqa: F811
    draw = _performed_v2_draw(beacon_settings, entrants=15, quantity=2)
    return draw, api.get(draw_url(draw, "proof")).json()


def test_the_browser_recomputes_a_performed_draw_and_names_an_altered_byte(
        performed_proof, tmp_path):
    draw, proof = performed_proof
    served = {"proof": proof}
    path = f"#/events/{draw.event_id}/draws/{draw.pk}/verify?entry={proof['entries'][3]}"
    with running_server(tmp_path) as server, sync_playwright() as playwright:
        browser, page = _verifier_page(playwright, server, draw, served, path)
        verdict = page.locator("#verdict")
        expect(verdict).to_have_attribute("data-result", "ok", timeout=20_000)
        expect(verdict).to_contain_text("the public randomness")
        for key in ("seed", "entries", "beacon", "signature", "winners"):
            expect(page.locator(f'[data-check="{key}"]')).to_have_attribute("data-ok", "true")
        expect(page.locator('[data-check="signature"]')).to_contain_text(
            "BLS12-381 signature of round 3")
        expect(page.locator("#entry-result")).to_have_attribute("data-found", "true")
        page.fill("#entry-id", "999999")
        expect(page.locator("#entry-result")).to_contain_text("is not in this draw's list")
        _screenshot(page, tmp_path, "app-verify.png")

        for what, label in (("seed", "seed commitment"), ("entries", "entries digest"),
                            ("beacon", "beacon round"), ("signature", "beacon signature"),
                            ("winners", "winners")):
            served["proof"] = _altered(proof, what)
            page.goto(server.url("/app/#/"))
            page.goto(server.url("/app/" + path))
            expect(verdict).to_have_attribute("data-result", "failed", timeout=20_000)
            expect(verdict).to_have_attribute("data-failed", what)
            expect(verdict).to_contain_text(f"the {label} check failed")
            expect(page.locator(f'[data-check="{what}"]')).to_have_attribute("data-ok", "false")
        _screenshot(page, tmp_path, "app-verify-failed.png")
        browser.close()


@pytest.fixture
def fallback_proof(beacon_settings, api):  # noqa: F811
    """A v2 draw staff performed without its round (quicknet; the round came due unserved)."""
    draw = make_draw()
    make_entrants(draw, 6)
    draw = draw_perform(draw=draw, actor=None, source="test")
    assert draw.status == Draw.Status.AWAITING_BEACON
    beacon_settings.BEACON_FALLBACK_AFTER_SECONDS = 0
    due = drand.Chain.from_dict(draw.beacon_chain).round_time(draw.beacon_round)
    time.sleep(max(0.0, due - time.time()) + 0.05)
    draw = draw_perform(draw=draw, actor=None, source="test", beacon_fallback="relays down")
    assert draw.is_performed
    return draw, api.get(draw_url(draw, "proof")).json()


def test_the_browser_says_loudly_that_a_fallback_draw_had_no_public_randomness(
        fallback_proof, tmp_path):
    draw, proof = fallback_proof
    served = {"proof": proof}
    path = f"#/events/{draw.event_id}/draws/{draw.pk}/verify"
    with running_server(tmp_path) as server, sync_playwright() as playwright:
        browser, page = _verifier_page(playwright, server, draw, served, path)
        verdict = page.locator("#verdict")
        # The winners do follow from seed and entries, but the verdict must not claim
        # the public randomness it did not have.
        expect(verdict).to_have_attribute("data-result", "ok", timeout=20_000)
        expect(verdict).to_have_attribute("data-fallback", "true")
        expect(verdict).to_contain_text("WITHOUT public randomness")
        expect(verdict).not_to_contain_text("and the public randomness")
        # A fallback proof carrying a randomness is inconsistent (live/verify.py agrees).
        altered = json.loads(json.dumps(proof))
        altered["beacon"]["randomness"] = "ab" * 32
        served["proof"] = altered
        page.goto(server.url("/app/#/"))
        page.goto(server.url("/app/" + path))
        expect(verdict).to_have_attribute("data-failed", "beacon", timeout=20_000)
        browser.close()
    with pytest.raises(ProofMismatch, match="carries no beacon randomness"):
        verify_proof(altered)


def test_a_slow_answer_for_a_screen_already_left_never_lands_beside_the_new_one(
        performed_proof, tmp_path):
    """The router (core/web/app/router.js) renders each view into its own root: the
    verifier rendered twice in a row, its first proof answering last, shows one verdict
    (CI once found two `#verdict`s after quick hash changes)."""
    draw, proof = performed_proof
    path = f"#/events/{draw.event_id}/draws/{draw.pk}/verify"
    held = []
    with running_server(tmp_path) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(service_workers="block").new_page()
        # Counts every verdict a render produced, attached or not: the stale render's
        # own, in its detached root, included.
        page.add_init_script("""
            window.__verdicts = 0;
            const append = Element.prototype.append;
            Element.prototype.append = function (...nodes) {
              window.__verdicts += nodes.filter((n) => n && n.id === "verdict").length;
              return append.apply(this, nodes);
            };""")
        page.route(f"**/api/events/{draw.event_id}/draws/{draw.pk}/proof/",
                   lambda route: held.append(route))
        page.goto(server.url("/app/" + path))
        page.wait_for_function("() => document.querySelector('h1')")
        page.evaluate("hash => { window.location.hash = hash; }", path + "?entry=1")
        deadline = time.monotonic() + 20
        while len(held) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert len(held) == 2, "both renders asked for the proof"
        for route in reversed(held):  # the newer render's answer first, the stale one last
            route.fulfill(status=200, content_type="application/json", body=json.dumps(proof))
        page.wait_for_function("() => window.__verdicts === 2", timeout=20_000)  # both done
        expect(page.locator("#verdict")).to_have_attribute("data-result", "ok")
        assert page.locator("#verdict").count() == 1
        assert page.locator("h1").count() == 1
        browser.close()
