"""Signed ticket codes: the owner sees them, nobody else; forged or moved codes fail."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag

from tests.factories import make_event as make_plain_event
from tests.gate_helpers import sell
from tests.ticketing_helpers import seats
from ticketing import ticket_code_format as fmt
from ticketing.models import TicketSigningKey
from ticketing.services import ticket_codes

pytest_plugins = ["tests.ticketing_fixtures"]


def _keys(event) -> dict:
    return {event.pk: fmt.public_key_from_bytes(bytes(event.signing_key.public_key))}


def test_the_owner_reads_the_code_in_the_list_and_the_detail(user_api, user, sale):
    ticket = sell(sale, user, seats(sale, "A", "1", 1))[0]
    listed = user_api.get("/api/tickets/").json()["results"][0]
    mine = user_api.get("/api/accounts/me/tickets/").json()["results"][0]
    detail = user_api.get(f"/api/tickets/{ticket.pk}/").json()
    assert listed["code"] == mine["code"] == detail["code"] == ticket_codes.ticket_code(ticket)
    assert detail["code"].startswith("TKT1:") and len(detail["code"]) < 140
    claims = fmt.verify(detail["code"], _keys(sale))
    assert claims == (sale.pk, ticket.pk, ticket.seat_id, ticket.seat.row.section_id)
    qr = user_api.get(detail["qr_url"])
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"
    assert qr.content.decode().lstrip().startswith("<svg")


def test_another_account_never_sees_the_code(user, other_api, sale):
    ticket = sell(sale, user, seats(sale, "A", "1", 1))[0]
    for path in (f"/api/tickets/{ticket.pk}/", f"/api/tickets/{ticket.pk}/qr/"):
        response = other_api.get(path)
        assert response.status_code == 404 and response.json()["code"] == "ticket_not_found"
    assert other_api.get("/api/tickets/").json()["count"] == 0


def test_anonymous_callers_get_401(api, user, sale):
    ticket = sell(sale, user, seats(sale, "A", "1", 1))[0]
    assert api.get(f"/api/tickets/{ticket.pk}/qr/").status_code == 401


def test_a_changed_byte_or_another_events_key_fails(user, sale, venue):
    ticket = sell(sale, user, seats(sale, "A", "1", 1))[0]
    code = ticket_codes.ticket_code(ticket)
    claims, _payload, signature = fmt.decode(code)
    # The same signature over another seat: refused.
    forged_payload = fmt.payload_bytes(claims._replace(seat_id=claims.seat_id + 1))
    forged = fmt.PREFIX + base64.b32encode(forged_payload + signature).decode().rstrip("=")
    with pytest.raises(InvalidSignature):
        fmt.verify(forged, _keys(sale))
    # A code signed by another event's key, claiming this event: refused.
    other = make_plain_event()
    other_private = ticket_codes.key_pair(ticket_codes.event_key_row(other))[0]
    with pytest.raises(InvalidSignature):
        fmt.verify(fmt.encode(claims, other_private), _keys(sale))
    for junk in ("", "hello", "TKT1:!!!", "TKT1:AAAA", "X" * 500):
        with pytest.raises(fmt.MalformedCode):
            fmt.decode(junk)


def test_each_event_has_its_own_key_stored_encrypted(sale, settings, venue):
    other = make_plain_event()
    rows = {row.event_id: row for row in TicketSigningKey.objects.all()}
    assert {sale.pk, other.pk} <= set(rows)
    assert bytes(rows[sale.pk].public_key) != bytes(rows[other.pk].public_key)
    row = rows[sale.pk]
    private, _public = ticket_codes.key_pair(row)
    raw = private.private_bytes(ticket_codes._RAW, ticket_codes.serialization.PrivateFormat.Raw,
                                ticket_codes.serialization.NoEncryption())
    assert raw not in bytes(row.private_key_encrypted)
    # Another secret (a stolen database without the environment) opens nothing...
    settings.TICKET_SIGNING_SECRET = "another secret"
    with pytest.raises(InvalidTag):
        ticket_codes._open(row)
    # ...nor does this event's sealed key moved to the other event's row.
    settings.TICKET_SIGNING_SECRET = ticket_codes.settings.SECRET_KEY
    moved = TicketSigningKey(event_id=other.pk, public_key=row.public_key,
                             private_key_encrypted=row.private_key_encrypted)
    with pytest.raises(InvalidTag):
        ticket_codes._open(moved)


def test_codes_are_stable(user, sale):
    ticket = sell(sale, user, seats(sale, "A", "1", 1))[0]
    assert ticket_codes.ticket_code(ticket) == ticket_codes.ticket_code(ticket)
    assert "<svg" in ticket_codes.ticket_qr_svg(ticket)
