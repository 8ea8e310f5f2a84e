"""The venue screen's page settings (core/screen.py); the page in a browser:
tests/test_screen_browser.py."""

from __future__ import annotations

import json
import re

import pytest

from live.services.checkin import screen_key_issue
from tests.factories import make_event

pytestmark = pytest.mark.django_db


def _config(client, event, key, query=""):
    page = client.get(f"/screen/events/{event.pk}/?key={key}{query}").content.decode()
    return json.loads(re.search(r'id="screen-config"[^>]*>(.*?)</script>', page).group(1))


@pytest.mark.parametrize(("query", "moment_ms"), [
    ("", 8000), ("&moment=3", 3000), ("&moment=0", 0), ("&moment=600", 60000),
    ("&moment=-1", 8000), ("&moment=2.5", 8000), ("&moment=%D9%A3", 8000), ("&moment=x", 8000),
])
def test_the_winner_moment_lasts_what_the_screen_link_asks_within_bounds(
        client, staff, query, moment_ms):
    event = make_event()
    _, key = screen_key_issue(event=event, actor=staff)
    assert _config(client, event, key, query)["moment_ms"] == moment_ms


def test_the_page_loads_its_styles_and_modules_from_the_shared_assets(client, staff):
    event = make_event()
    _, key = screen_key_issue(event=event, actor=staff)
    page = client.get(f"/screen/events/{event.pk}/?key={key}").content.decode()
    for asset in ("/assets/screen/screen.css", "/assets/screen/main.js"):
        assert asset in page
        assert client.get(asset).status_code == 200
    for module in ("local.js", "winners.js", "seats.js"):
        assert client.get(f"/assets/screen/{module}").status_code == 200
