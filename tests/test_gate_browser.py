"""The gate scanner (/app/#/scan) and the venue screen's entry count in a real browser
(headless Chromium driven by Playwright, a real daphne).

Chromium on Linux has no BarcodeDetector, so the camera path runs with a fake camera
(Chromium's --use-file-for-fake-video-capture) that films the ticket's rendered QR code,
and a BarcodeDetector backed by jsQR (tests/vendor/, Apache-2.0) that the test injects:
the code the page reads comes from the QR image's pixels. The manual path runs without
either, as on a browser that cannot read codes.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import segno

from tests.servers import ROOT, manage, running_server
from tests.test_app_browser import PHONE
from tests.test_screen_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NEEDS_CHROMIUM,
    _assert_accessible,
    _screenshot,
    sync_playwright,
)

if sync_playwright is not None:
    from playwright.sync_api import expect

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    NEEDS_CHROMIUM,
]

JSQR = ROOT / "tests" / "vendor" / "jsQR-1.4.0.js"
GATE_EMAIL, GATE_PASSWORD = "gate-north@example.com", "gate-long-password-42"
# A BarcodeDetector that reads the video's pixels with jsQR (Chromium on Linux has none).
DETECTOR = """
window.BarcodeDetector = class {
  static async getSupportedFormats() { return ["qr_code"]; }
  constructor() { this.canvas = document.createElement("canvas"); }
  async detect(source) {
    const w = source.videoWidth, hgt = source.videoHeight;
    if (!w || !hgt) return [];
    this.canvas.width = w; this.canvas.height = hgt;
    const ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(source, 0, 0);
    const found = jsQR(ctx.getImageData(0, 0, w, hgt).data, w, hgt);
    return found ? [{ rawValue: found.data, format: "qr_code" }] : [];
  }
};
"""
# Everything the server needs, made in its database by one management shell: a venue, an
# event on sale, three sold tickets, a gate, a gate account; prints the codes.
SETUP = f"""
import json
from datetime import timedelta
from django.contrib.auth.models import Permission
from django.utils import timezone
from core.models import Event, User, Venue
from live.services.checkin import screen_key_issue
from ticketing.services import layout, wallets
from ticketing.services.gates import gate_create
from ticketing.services.holds import hold_create
from ticketing.services.orders import hold_purchase
from ticketing.services.ticket_codes import ticket_code

venue = Venue.objects.create(name="Stadium")
layout.venue_layout_set(venue=venue, sections=[
    {{"name": "Main", "rows": [{{"label": "1", "seats": 5}}]}}])
event = Event.objects.create(title="Cup final", status="published", venue=venue,
                             starts_at=timezone.now() + timedelta(hours=2))
layout.event_prices_set(event=event, prices={{venue.sections.get().pk: 1000}})
layout.sale_configure(event=event, max_seats_per_order=5)
buyer = User.objects.create_user(email="fan@example.com", password="fan-long-password-42")
wallets.wallet_credit(user=buyer, amount=10_000, reference="test", actor=None)
seat_ids = list(venue.sections.get().rows.get().seats.order_by("number")
                .values_list("pk", flat=True))
order = hold_purchase(token=hold_create(event=event, user=buyer, seat_ids=seat_ids[:3]).token,
                      user=buyer)
gate_create(event=event, name="North", section_ids=[], actor=None)
gatekeeper = User.objects.create_user(email="{GATE_EMAIL}", password="{GATE_PASSWORD}")
gatekeeper.user_permissions.add(Permission.objects.get(codename="scan_ticket"))
key = screen_key_issue(event=event, actor=None, label="hall")[1]
tickets = sorted(order.tickets.all(), key=lambda t: t.pk)
print("SETUP" + json.dumps({{"event": event.pk, "key": key,
                            "codes": [ticket_code(t) for t in tickets]}}))
"""


def qr_video(code: str, path: Path, *, width: int = 640, height: int = 480) -> Path:
    """A few frames of a Y4M video filming `code`'s QR code (what the phone would see)."""
    matrix = segno.make(code, error="m", micro=False).matrix
    scale, border = 6, 4
    size = (len(matrix) + 2 * border) * scale
    assert size <= height, size
    luma = bytearray([255]) * (width * height)
    left, top = (width - size) // 2, (height - size) // 2
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                for y in range(top + (r + border) * scale, top + (r + border + 1) * scale):
                    start = y * width + left + (c + border) * scale
                    luma[start:start + scale] = bytes(scale)
    chroma = bytes([128]) * (width * height // 4)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            out.write(b"FRAME\n" + bytes(luma) + chroma + chroma)
    return path


def _setup(server) -> dict:
    done = manage(server.env, "shell", "-c", SETUP)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("SETUP"))
    return json.loads(line.removeprefix("SETUP"))


def _session_script(server) -> str:
    """Signs the gate account in before the app loads (its stored session)."""
    tokens = httpx.post(server.url("/api/auth/token/"), timeout=10, json={
        "email": GATE_EMAIL, "password": GATE_PASSWORD}).json()
    session = {"access": tokens["access"], "refresh": tokens["refresh"], "email": GATE_EMAIL}
    return f"localStorage.setItem('tombola.session', {json.dumps(json.dumps(session))});"


def test_the_scanner_reads_the_camera_and_typed_codes_and_the_screen_counts(tmp_path):
    with running_server(tmp_path) as server:
        world = _setup(server)
        event, codes = world["event"], world["codes"]
        video = qr_video(codes[0], tmp_path / "qr.y4m")
        scanner = server.url(f"/app/#/scan?event={event}&gate=North")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                *CHROMIUM_ARGS, "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}"])
            errors: list[str] = []

            # The camera path: the fake camera films codes[0]'s QR code.
            # Gate staff scan with a phone.
            camera = browser.new_context(permissions=["camera"], bypass_csp=True, **PHONE)
            camera.add_init_script(path=str(JSQR))
            camera.add_init_script(DETECTOR + _session_script(server))
            page = camera.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(scanner)
            expect(page.locator("#scan-mode")).to_have_attribute("data-mode", "camera")
            expect(page.locator("[data-result=valid]")).to_be_visible(timeout=15_000)
            expect(page.locator("#scan-result")).to_contain_text("Come in")
            expect(page.locator("#scan-result")).to_contain_text("seat 1")
            _assert_accessible(page, "gate scanner")  # contrast included
            _screenshot(page, tmp_path, "app-scan-valid.png")
            # Still in front of the camera after the repeat pause: already used, here.
            expect(page.locator("[data-result=already_used]")).to_be_visible(timeout=15_000)
            expect(page.locator("#scan-result")).to_contain_text("At North")
            camera.close()

            # The manual path: no BarcodeDetector, no camera.
            manual = browser.new_context(**PHONE)
            manual.add_init_script(_session_script(server))
            page = manual.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.url(f"/app/#/scan?event={event}"))
            page.get_by_role("link", name="North").click()
            expect(page.locator("#scan-mode")).to_have_attribute("data-mode", "manual")
            code_field = page.get_by_label("Ticket code")
            code_field.fill(codes[1])
            page.get_by_role("button", name="Check").click()
            expect(page.locator("[data-result=valid]")).to_be_visible()
            code_field.fill(codes[1])
            page.get_by_role("button", name="Check").click()
            expect(page.locator("[data-result=already_used]")).to_be_visible()
            code_field.fill(codes[2][:-6] + "AAAAAA")  # a forged signature
            page.get_by_role("button", name="Check").click()
            expect(page.locator("[data-result=invalid]")).to_be_visible()
            expect(page.locator("#scan-result")).to_contain_text("Not a valid ticket")
            _screenshot(page, tmp_path, "app-scan-invalid.png")

            # The venue screen counts who came in (2 of the 3 tickets).
            screen = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            screen.on("pageerror", lambda exc: errors.append(str(exc)))
            screen.goto(server.url(f"/screen/events/{event}/?key={world['key']}"))
            expect(screen.locator("#entry")).to_have_text("2 of 3 in", timeout=10_000)
            # The third ticket comes in while the screen watches: the count moves live (and
            # the screen's own frames, which come on every socket opened with the key, did
            # not replace the gates' figures).
            code_field.fill(codes[2])
            page.get_by_role("button", name="Check").click()
            expect(page.locator("[data-result=valid]")).to_be_visible()
            expect(screen.locator("#entry")).to_have_text("3 of 3 in", timeout=10_000)
            expect(screen.locator("#entry")).to_be_visible()
            manual.close()
            browser.close()
            assert errors == []
