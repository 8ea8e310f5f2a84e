"""Offline gates: the bundle they download, the checker that works without a network, the
idempotent upload, first-scan-wins conflicts reported to staff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import AuditEntry
from tests.conftest import assert_error, client_for
from tests.factories import make_event as make_plain_event
from tests.gate_helpers import grant_scan, make_gate, scan, sell
from tests.ticketing_helpers import committed, seats
from ticketing.models import Gate, OfflineScan, ScanConflict, Ticket, TicketRedemption
from ticketing.offline_gate import OfflineGate
from ticketing.services.orders import ticket_cancel
from ticketing.services.ticket_codes import ticket_code

pytest_plugins = ["tests.ticketing_fixtures"]


@pytest.fixture
def gate_api(make_user):
    user = make_user(email="gate@example.com")
    grant_scan(user)
    return client_for(user)


@pytest.fixture
def tickets(sale, user):
    make_gate(sale, "North")
    make_gate(sale, "South")
    make_gate(sale, "VIP", sections=("A",))
    sold = sell(sale, user, seats(sale, "A", "1", 1, 2, 3) + seats(sale, "B", "1", 1))
    # Sold and set up an hour ago: the tests' offline scans, minutes old, came after (a
    # scan is never dated before its ticket's sale or its gate's creation).
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Gate.objects.filter(event=sale).update(created_at=an_hour_ago)
    Ticket.objects.filter(pk__in=[t.pk for t in sold]).update(created_at=an_hour_ago)
    for ticket in sold:
        ticket.refresh_from_db()
    return sold


def bundle(api, event, *, page_size=2) -> dict:
    """Every page, as OfflineGate.download joins them."""
    after, valid, used = 0, [], []
    while True:
        page = api.get(f"/api/events/{event.pk}/gates/offline/",
                       {"after": after, "limit": page_size})
        assert page.status_code == 200, page.content
        body = page.json()
        valid += body["valid"]
        used += body["used"]
        if body["next_after"] is None:
            return {**body, "valid": valid, "used": used}
        after = body["next_after"]


def upload(api, event, gate: OfflineGate):
    results = []
    for body in gate.upload_bodies():
        response = committed(api.post, f"/api/events/{event.pk}/scans/upload/", body,
                             format="json")
        assert response.status_code == 200, response.content
        results += response.json()["results"]
    return results


def test_the_bundle_pages_through_the_valid_tickets(gate_api, user, sale, tickets):
    ticket_cancel(ticket_id=tickets[3].pk, user=user)
    committed(scan, gate_api, sale, ticket_code(tickets[0]), gate="North")
    body = bundle(gate_api, sale)
    assert body["valid"] == [t.pk for t in tickets[:3]]
    assert body["used"] == [tickets[0].pk]
    assert body["issued_up_to"] == tickets[3].pk and body["key_type"] == "ed25519"
    assert {g["name"]: g["section_ids"] for g in body["gates"]} == {
        "North": [], "South": [], "VIP": [tickets[0].seat.row.section_id]}


def test_the_checker_decides_offline(gate_api, user, sale, tickets):
    ticket_cancel(ticket_id=tickets[2].pk, user=user)
    data = bundle(gate_api, sale)
    vip = OfflineGate(bundle=data, gate="VIP")
    codes = [ticket_code(t) for t in tickets]
    assert vip.check(codes[0]).result == "valid"
    assert vip.check(codes[0]).result == "already_used"
    assert vip.check(codes[2]).result == "refunded"
    assert vip.check(codes[3]).result == "wrong_gate"
    assert vip.check(codes[1][:-4] + "AAAA").result == "invalid"
    assert vip.check("nonsense").result == "invalid"
    other = make_plain_event(title="Other")
    Gate.objects.create(event=other, name="Main")
    assert OfflineGate(bundle=bundle(gate_api, other), gate="Main").check(
        codes[0]).result == "wrong_event"
    assert len(vip.queue) == 1 and vip.queue[0]["code"] == codes[0]
    # A ticket sold after the download (an id above issued_up_to) is let in.
    later = sell(sale, user, seats(sale, "A", "2", 1))[0]
    assert vip.check(ticket_code(later)).result == "valid"


def test_the_queue_survives_a_restart(gate_api, sale, tickets, tmp_path):
    gate = OfflineGate(bundle=bundle(gate_api, sale), gate="North")
    gate.check(ticket_code(tickets[0]))
    gate.save(tmp_path / "north.json")
    again = OfflineGate.load(tmp_path / "north.json")
    assert again.queue == gate.queue
    assert again.check(ticket_code(tickets[0])).result == "already_used"


def test_an_upload_redeems_and_a_repeat_changes_nothing(gate_api, sale, tickets):
    north = OfflineGate(bundle=bundle(gate_api, sale), gate="North")
    for ticket in tickets[:2]:
        north.check(ticket_code(ticket))
    first = upload(gate_api, sale, north)
    assert [r["result"] for r in first] == ["valid", "valid"]
    assert upload(gate_api, sale, north) == first  # the same scans again: same answers
    assert TicketRedemption.objects.filter(source="offline").count() == 2
    assert OfflineScan.objects.count() == 2
    assert Gate.objects.get(name="North").scanned == 2
    north.accept_results(first)
    assert north.queue == [] and north.upload_bodies() == []


def test_the_first_scan_wins_and_staff_see_the_conflict(gate_api, staff_api, sale, tickets):
    code = ticket_code(tickets[0])
    data = bundle(gate_api, sale)
    north, south = OfflineGate(bundle=data, gate="North"), OfflineGate(bundle=data, gate="South")
    now = timezone.now()
    north.check(code, now=now - timedelta(minutes=5))
    south.check(code, now=now - timedelta(minutes=2))
    # The later scan arrives first: it redeems, until the earlier one comes.
    assert [r["result"] for r in upload(gate_api, sale, south)] == ["valid"]
    assert [r["result"] for r in upload(gate_api, sale, north)] == ["valid"]
    redemption = TicketRedemption.objects.get()
    assert redemption.gate.name == "North"
    assert {g.name: g.scanned for g in Gate.objects.filter(event=sale)} == {
        "North": 1, "South": 0, "VIP": 0}
    conflicts = staff_api.get(f"/api/events/{sale.pk}/scan-conflicts/").json()
    assert conflicts["count"] == 1
    conflict = conflicts["results"][0]
    assert (conflict["ticket_id"], conflict["kept_gate"], conflict["other_gate"]) == (
        tickets[0].pk, "North", "South")
    # Re-uploading both changes nothing, reports nothing new.
    upload(gate_api, sale, north)
    upload(gate_api, sale, south)
    assert ScanConflict.objects.count() == 1
    resolved = staff_api.post(
        f"/api/events/{sale.pk}/scan-conflicts/{conflict['id']}/resolve/")
    assert resolved.status_code == 200 and resolved.json()["resolved_at"]
    assert list(AuditEntry.objects.filter(action__startswith="gate.scan_conflict").order_by(
        "pk").values_list("action", flat=True)) == [
        "gate.scan_conflict", "gate.scan_conflict_resolved"]
    assert staff_api.get(f"/api/events/{sale.pk}/scan-conflicts/",
                         {"resolved": "false"}).json()["count"] == 0


def test_an_offline_scan_after_an_online_one_is_a_conflict(gate_api, sale, tickets):
    code = ticket_code(tickets[1])
    south = OfflineGate(bundle=bundle(gate_api, sale), gate="South")
    committed(scan, gate_api, sale, code, gate="North")
    south.check(code)  # later than the online scan
    assert [r["result"] for r in upload(gate_api, sale, south)] == ["conflict"]
    assert TicketRedemption.objects.get().gate.name == "North"
    conflict = ScanConflict.objects.get()
    assert (conflict.kept_gate.name, conflict.other_gate.name) == ("North", "South")


def test_a_scan_from_a_gates_future_counts_as_uploaded_now(gate_api, sale, tickets):
    """A gate whose clock runs ahead cannot push its scan after everyone else's."""
    code = ticket_code(tickets[1])
    south = OfflineGate(bundle=bundle(gate_api, sale), gate="South")
    south.check(code, now=timezone.now() + timedelta(days=1))
    upload(gate_api, sale, south)
    assert TicketRedemption.objects.get().scanned_at <= timezone.now()


def test_an_earlier_offline_scan_takes_an_online_entry_over(gate_api, sale, tickets):
    code = ticket_code(tickets[1])
    south = OfflineGate(bundle=bundle(gate_api, sale), gate="South")
    south.check(code, now=timezone.now() - timedelta(minutes=1))
    committed(scan, gate_api, sale, code, gate="North")
    assert [r["result"] for r in upload(gate_api, sale, south)] == ["valid"]
    assert TicketRedemption.objects.get().gate.name == "South"
    assert ScanConflict.objects.get().other_gate.name == "North"


def test_uploads_are_checked(gate_api, user_api, staff_api, sale, tickets):
    url = f"/api/events/{sale.pk}/scans/upload/"
    assert user_api.post(url, {"gate": "North", "scans": []}, format="json").status_code == 403
    bad = gate_api.post(url, {"gate": "North", "scans": [
        {"scan_id": "x", "code": "y", "scanned_at": "yesterday"}]}, format="json")
    assert bad.status_code == 400
    too_many = gate_api.post(url, {"gate": "North", "scans": [
        {"scan_id": str(i), "code": "y", "scanned_at": timezone.now().isoformat()}
        for i in range(501)]}, format="json")
    assert too_many.status_code == 400
    junk = gate_api.post(url, {"gate": "North", "scans": [
        {"scan_id": "j", "code": "junk", "scanned_at": timezone.now().isoformat()}]},
        format="json")
    assert junk.json()["results"] == [{"scan_id": "j", "result": "invalid", "ticket_id": None}]
    # Conflicts are staff's, not the gate role's.
    assert gate_api.get(f"/api/events/{sale.pk}/scan-conflicts/").status_code == 403
    assert user_api.get(f"/api/events/{sale.pk}/gates/offline/").status_code == 403


def test_an_offline_scan_is_never_dated_before_its_ticket_was_sold(gate_api, sale, tickets):
    """A gate whose clock says last year: its scan counts from the ticket's sale (or the
    gate's creation), not from last year. First scan wins still (it is before the online
    scan); the recorded entry time is one that could have happened."""
    code = ticket_code(tickets[1])
    south = OfflineGate(bundle=bundle(gate_api, sale), gate="South")
    committed(scan, gate_api, sale, code, gate="North")
    assert south.check(code, now=timezone.now() - timedelta(days=365)).result == "valid"
    assert [r["result"] for r in upload(gate_api, sale, south)] == ["valid"]
    floor = max(tickets[1].created_at, Gate.objects.get(name="South").created_at)
    assert OfflineScan.objects.get().scanned_at == floor
    assert TicketRedemption.objects.get().scanned_at == floor
    assert ScanConflict.objects.get().kept_scanned_at == floor


def test_a_ticket_refunded_after_an_offline_entry_is_reported(gate_api, user, sale, tickets):
    """Let in by an offline gate, then cancelled from the phone before the upload: the
    money went back, so staff must hear of it."""
    code = ticket_code(tickets[1])
    south = OfflineGate(bundle=bundle(gate_api, sale), gate="South")
    south.check(code)
    ticket_cancel(ticket_id=tickets[1].pk, user=user)
    assert [r["result"] for r in upload(gate_api, sale, south)] == ["refunded"]
    entry = AuditEntry.objects.get(action="gate.refunded_after_entry")
    assert entry.object_id == str(tickets[1].pk)
    assert entry.data["gate_id"] == Gate.objects.get(name="South").pk


def test_bundle_pages_and_uploads_are_throttled(gate_api, rates, sale, tickets):
    """Each upload makes the server check up to 500 signatures: a gate account (or a
    script holding its token) is slowed like the online scan is."""
    rates(gate_offline="2/min")
    assert gate_api.get(f"/api/events/{sale.pk}/gates/offline/").status_code == 200
    body = {"gate": "North", "scans": []}
    assert gate_api.post(f"/api/events/{sale.pk}/scans/upload/", body,
                         format="json").status_code == 200
    assert_error(gate_api.post(f"/api/events/{sale.pk}/scans/upload/", body, format="json"),
                 429, "throttled")
    assert_error(gate_api.get(f"/api/events/{sale.pk}/gates/offline/"), 429, "throttled")
