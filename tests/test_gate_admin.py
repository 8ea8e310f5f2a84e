"""The gates' admin: gates with their sections and figures, read-only check-ins and
uploads, conflicts resolved by an action that goes through the gate service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Venue
from tests.gate_helpers import make_gate, sell
from tests.ticketing_helpers import committed, seats
from ticketing.models import Gate, ScanConflict
from ticketing.services import gates, layout
from ticketing.services.ticket_codes import ticket_code

pytest_plugins = ["tests.ticketing_fixtures"]


@pytest.fixture
def browser(superuser_browser):
    return superuser_browser


@pytest.fixture
def conflict(sale, user):
    make_gate(sale, "North")
    make_gate(sale, "South", sections=("A",))
    ticket = sell(sale, user, seats(sale, "A", "1", 1))[0]
    committed(gates.ticket_scan, event=sale, gate=gates.gate_of(event=sale, name="North"),
              code=ticket_code(ticket), actor=None)
    gates.offline_scan_record(
        event=sale, gate=gates.gate_of(event=sale, name="South"), actor=None,
        scan=gates.QueuedScan(scan_id="later", code=ticket_code(ticket),
                              scanned_at=timezone.now() + timedelta(seconds=5)))
    return ScanConflict.objects.get()


def test_the_pages_render(browser, conflict):
    gates_page = browser.get("/admin/ticketing/gate/").content.decode()
    assert "North" in gates_page and "every section" in gates_page and "entries" in gates_page
    for page in ("ticketredemption", "offlinescan", "scanconflict"):
        response = browser.get(f"/admin/ticketing/{page}/")
        assert response.status_code == 200, page
    north = Gate.objects.get(name="North")
    entries = browser.get(f"/admin/ticketing/ticketredemption/?gate__id__exact={north.pk}")
    assert entries.status_code == 200 and "1 ticket redemption" in entries.content.decode()
    assert browser.get(f"/admin/ticketing/gate/{north.pk}/change/").status_code == 200


def test_the_resolve_action_goes_through_the_service(browser, conflict, staff):
    response = browser.post("/admin/ticketing/scanconflict/", {
        "action": "resolve", "_selected_action": [conflict.pk]})
    assert response.status_code == 302
    conflict.refresh_from_db()
    assert conflict.resolved_at is not None and conflict.resolved_by == staff


def test_a_gate_admits_sections_of_its_events_venue_only(browser, sale):
    other = Venue.objects.create(name="Elsewhere")
    layout.venue_layout_set(venue=other, sections=[
        {"name": "Far", "rows": [{"label": "1", "seats": 2}]}])
    response = browser.post("/admin/ticketing/gate/add/", {
        "event": sale.pk, "name": "Odd", "sections": [other.sections.get().pk]})
    assert response.status_code == 200 and "Not sections of the event" in response.content.decode()
    assert not Gate.objects.filter(name="Odd").exists()
    ok = browser.post("/admin/ticketing/gate/add/", {
        "event": sale.pk, "name": "VIP", "sections": [sale.venue.sections.get(name="A").pk]})
    assert ok.status_code == 302
    assert list(Gate.objects.get(name="VIP").sections.values_list("name", flat=True)) == ["A"]
