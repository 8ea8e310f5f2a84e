"""Scanning signed tickets at the gates: every answer, the gate role, the racing gates."""

from __future__ import annotations

import base64
import threading

import pytest
from django.db import connection

from tests.conftest import client_for
from tests.factories import make_event as make_plain_event
from tests.gate_helpers import grant_scan, make_gate, scan, sell
from tests.ticketing_helpers import committed, seats
from ticketing import ticket_code_format as fmt
from ticketing.errors import TicketNotRefundable
from ticketing.models import Gate, Ticket, TicketRedemption
from ticketing.services.orders import ticket_cancel
from ticketing.services.ticket_codes import ticket_code

pytest_plugins = ["tests.ticketing_fixtures"]


@pytest.fixture
def gatekeeper(make_user):
    user = make_user(email="gate@example.com")
    grant_scan(user)
    return user


@pytest.fixture
def gate_api(gatekeeper):
    return client_for(gatekeeper)


@pytest.fixture
def tickets(sale, user):
    make_gate(sale, "Main")
    make_gate(sale, "VIP", sections=("A",))
    return sell(sale, user, seats(sale, "A", "1", 1, 2) + seats(sale, "B", "1", 1))


def test_a_valid_ticket_comes_in_once(gate_api, sale, tickets):
    code = ticket_code(tickets[0])
    first = committed(scan, gate_api, sale, code)
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["result"] == "valid" and body["gate"] == "Main"
    assert body["ticket"] == {"id": tickets[0].pk, "section": "A", "row": "1", "seat": "1"}
    again = scan(gate_api, sale, code, gate="VIP").json()
    assert again["result"] == "already_used"
    assert (again["used_gate"], again["used_at"]) == ("Main", body["used_at"])
    redemption = TicketRedemption.objects.get()
    assert (redemption.ticket_id, redemption.gate.name, redemption.source) == (
        tickets[0].pk, "Main", "online")
    assert Gate.objects.get(name="Main").scanned == 1


def test_a_refunded_ticket_is_refused(gate_api, user, sale, tickets):
    ticket_cancel(ticket_id=tickets[1].pk, user=user)
    body = scan(gate_api, sale, ticket_code(tickets[1])).json()
    assert body["result"] == "refunded"
    assert not TicketRedemption.objects.exists()


def test_another_events_ticket_is_wrong_event(gate_api, user, sale, tickets):
    other = make_plain_event(title="Other night")
    Gate.objects.create(event=other, name="Main")
    body = scan(gate_api, other, ticket_code(tickets[0])).json()
    assert body["result"] == "wrong_event"


@pytest.mark.parametrize("code", ["hello", "TKT1:AAAA", "TKT1:" + "A" * 120])
def test_junk_and_forgeries_are_invalid(gate_api, sale, tickets, code):
    assert scan(gate_api, sale, code).json()["result"] == "invalid"


def test_a_changed_seat_is_invalid(gate_api, sale, tickets):
    claims, _, signature = fmt.decode(ticket_code(tickets[0]))
    forged = fmt.PREFIX + base64.b32encode(
        fmt.payload_bytes(claims._replace(seat_id=tickets[1].seat_id)) + signature
    ).decode().rstrip("=")
    assert scan(gate_api, sale, forged).json()["result"] == "invalid"


def test_the_vip_gate_admits_its_sections_only(gate_api, sale, tickets):
    vip = scan(gate_api, sale, ticket_code(tickets[0]), gate="VIP").json()
    assert vip["result"] == "valid"
    refused = scan(gate_api, sale, ticket_code(tickets[2]), gate="VIP").json()
    assert refused["result"] == "wrong_gate" and refused["admitting_gates"] == ["Main"]
    assert scan(gate_api, sale, ticket_code(tickets[2]), gate="Main").json()["result"] == "valid"


def test_only_the_gate_role_scans(api, user_api, bare_staff, gate_api, sale, tickets):
    code = ticket_code(tickets[0])
    assert scan(api, sale, code).status_code == 401
    assert scan(user_api, sale, code).status_code == 403
    assert scan(client_for(bare_staff), sale, code).status_code == 403
    assert not TicketRedemption.objects.exists()


def test_bad_requests_answer_json(gate_api, sale, tickets):
    missing = gate_api.post(f"/api/events/{sale.pk}/scan/", {"gate": "Main"}, format="json")
    assert missing.status_code == 400 and "code" in missing.json()["fields"]
    unknown = scan(gate_api, sale, ticket_code(tickets[0]), gate="Side door")
    assert unknown.status_code == 404 and unknown.json()["code"] == "gate_not_found"
    nowhere = gate_api.post("/api/events/999999/scan/", {"code": "x", "gate": "Main"},
                            format="json")
    assert nowhere.status_code == 404 and nowhere.json()["code"] == "event_not_found"


def test_staff_add_gates_and_read_the_lists(staff_api, gate_api, sale, tickets, venue):
    vip_b = venue.sections.get(name="B").pk
    created = staff_api.post(f"/api/events/{sale.pk}/gates/",
                             {"name": "South", "section_ids": [vip_b]}, format="json")
    assert created.status_code == 201, created.content
    assert created.json() == {"id": created.json()["id"], "name": "South", "sections": ["B"],
                              "scanned": 0, "expected": 1}
    taken = staff_api.post(f"/api/events/{sale.pk}/gates/", {"name": "South"}, format="json")
    assert taken.status_code == 409 and taken.json()["code"] == "gate_name_taken"
    assert gate_api.post(f"/api/events/{sale.pk}/gates/", {"name": "X"},
                         format="json").status_code == 403
    committed(scan, gate_api, sale, ticket_code(tickets[0]))
    figures = gate_api.get(f"/api/events/{sale.pk}/gates/").json()
    assert (figures["scanned"], figures["expected"]) == (1, 3)
    assert {g["name"]: (g["scanned"], g["expected"]) for g in figures["gates"]} == {
        "Main": (1, 3), "VIP": (0, 2), "South": (0, 1)}
    main = Gate.objects.get(event=sale, name="Main")
    entries = gate_api.get(f"/api/events/{sale.pk}/gates/{main.pk}/entries/").json()
    assert [(e["ticket_id"], e["seat"], e["gate"]) for e in entries["results"]] == [
        (tickets[0].pk, "1", "Main")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_gates_scanning_one_ticket_at_once_redeem_it_once(make_user, venue):
    """Real connections, one thread per gate, every ticket scanned by all gates at once."""
    from tests.ticketing_helpers import make_event

    event = make_event(venue)
    buyer = make_user(email="buyer@example.com")
    gatekeeper = make_user(email="gate@example.com")
    grant_scan(gatekeeper)
    gate_names = ["North", "South", "East", "West"]
    for name in gate_names:
        make_gate(event, name)
    sold = sell(event, buyer, seats(event, "A", "1", *range(1, 7)))
    codes = [ticket_code(t) for t in sold]
    barrier = threading.Barrier(len(gate_names))
    results: dict[str, list[dict]] = {name: [] for name in gate_names}

    def gate(name: str) -> None:
        client = client_for(gatekeeper)
        try:
            for code in codes:
                barrier.wait(timeout=30)
                results[name].append(scan(client, event, code, gate=name).json())
        finally:
            connection.close()

    threads = [threading.Thread(target=gate, args=(name,)) for name in gate_names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for i in range(len(sold)):
        answers = [results[name][i]["result"] for name in gate_names]
        assert sorted(answers) == ["already_used"] * 3 + ["valid"], answers
        winner = gate_names[answers.index("valid")]
        assert {results[n][i]["used_gate"] for n in gate_names} == {winner}
    assert TicketRedemption.objects.count() == len(sold)
    assert sum(Gate.objects.filter(event=event).values_list("scanned", flat=True)) == len(sold)


def test_a_ticket_used_at_the_gate_cannot_be_refunded(gate_api, user, sale, tickets):
    """Gates open before the event starts: entering, then cancelling for the money back
    (and the seat back on sale) must not work."""
    assert committed(scan, gate_api, sale, ticket_code(tickets[0])).json()["result"] == "valid"
    with pytest.raises(TicketNotRefundable):
        ticket_cancel(ticket_id=tickets[0].pk, user=user)
    with pytest.raises(TicketNotRefundable):
        ticket_cancel(ticket_id=tickets[0].pk, user=user, as_staff=True)
    tickets[0].refresh_from_db()
    assert tickets[0].status == Ticket.Status.VALID


def test_a_code_for_a_seat_the_ticket_left_is_invalid(gate_api, sale, tickets):
    """A genuine code, signed before the ticket moved seats: the old seat's code must not
    come in (test_a_changed_seat_is_invalid forges the payload, which the signature
    check refuses before the seat is ever compared)."""
    code = ticket_code(tickets[0])
    free_seat = seats(sale, "A", "1", 3)[0]
    Ticket.objects.filter(pk=tickets[0].pk).update(seat_id=free_seat)
    assert scan(gate_api, sale, code).json()["result"] == "invalid"
    assert not TicketRedemption.objects.exists()


@pytest.mark.parametrize("field", ["event_id", "ticket_id", "seat_id", "section_id"])
def test_ids_beyond_the_database_range_are_invalid_not_500(gate_api, sale, tickets, field):
    """Varints decode to any size; the event id is looked up before the signature is
    checked, so a huge one must be a malformed code, not a database overflow."""
    claims, _, signature = fmt.decode(ticket_code(tickets[0]))
    forged = fmt.PREFIX + base64.b32encode(
        fmt.payload_bytes(claims._replace(**{field: 2**64 + 5})) + signature
    ).decode().rstrip("=")
    response = scan(gate_api, sale, forged)
    assert response.status_code == 200, response.content
    assert response.json()["result"] == "invalid"


def test_a_seat_sold_again_after_a_refund_admits_the_new_code_only(
        gate_api, user, make_user, sale, tickets):
    """Same event, same seat, same section: only the ticket id tells the refunded code
    from the new buyer's."""
    old_code = ticket_code(tickets[0])
    committed(ticket_cancel, ticket_id=tickets[0].pk, user=user)  # frees the Redis seat
    (resold,) = sell(sale, make_user(email="second@example.com"), [tickets[0].seat_id])
    assert resold.seat_id == tickets[0].seat_id and resold.pk != tickets[0].pk
    assert scan(gate_api, sale, old_code).json()["result"] == "refunded"
    assert committed(scan, gate_api, sale, ticket_code(resold)).json()["result"] == "valid"
    assert scan(gate_api, sale, old_code).json()["result"] == "refunded"
    assert TicketRedemption.objects.get().ticket_id == resold.pk
