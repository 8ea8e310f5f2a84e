"""Who may call what: every REST operation x {anonymous, user, other user, staff, bare staff}.

The table below has one row per operation of the OpenAPI schema; a new
endpoint without a row fails `test_every_operation_has_a_row`. Each cell is
the status that role gets against a real target (an event, a draw, a hold,
an order and a ticket owned by `user`, ...), built fresh for every test.

Conventions (docs/ARCHITECTURE, common rules): anonymous -> 401 where an
account is needed; a non-staff caller of a staff action -> 403; another
user's object -> 404 (its existence is not revealed). `staff` holds the
organiser's model permissions (tests/conftest.py); `bare` is a staff account
without any (core/permissions.py): every staff action answers it 403, as the
admin does, and elsewhere it is just another user. Superusers get what `staff`
gets (test_superusers_keep_every_staff_action). Where a 2xx would need
a body that has nothing to do with access, the owner's cell may be 400: it
proves the request got past the permission checks into validation.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.test import TestCase
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from live.services.checkin import screen_key_issue
from live.services.draws import draw_enter
from live.services.performing import draw_perform
from tests.conftest import client_for
from tests.factories import make_draw
from tests.ticketing_helpers import fund, hold, make_event, seats
from ticketing.services import layout
from ticketing.services.payments import payment_confirm_received, payment_start

pytestmark = pytest.mark.django_db

ROLES = ("anon", "user", "other", "staff", "bare")

EVENT = "/api/events/{event}/"
DRAW = EVENT + "draws/{draw}/"
# Request bodies; "{name}" strings are filled from the `world` fixture.
RENAME_ME = {"first_name": "Z"}
RETITLE = {"title": "Renamed"}
LABEL = {"label": "Hall"}
PAUSE = {"is_active": False}
NAME = {"name": "Hall"}
BAD_SALE = {"max_seats_per_order": "x"}
FREE_SEATS = {"seat_ids": "{free_seats}"}
SAME_SEATS = {"seat_ids": "{hold_seats}"}
AMOUNT = {"amount": 1000}
BALLOT = {"draw": "{lottery_draw}", "numbers": [1, 2, 3]}
BAD_ROOM = {"rate_per_minute": 0}
BAD_LIST = {"offer_seconds": 0}
WEBHOOK = EVENT.replace("{event}", "{event_id}") + "webhooks/{webhook}/"


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # the schema's path with {placeholders} filled from the world
    anon: int
    user: int
    other: int
    staff: int
    bare: int
    body: dict[str, Any] | None = field(default=None, hash=False)

    def expected(self, role: str) -> int:
        return getattr(self, role)


def row(method, path, anon, user, other, staff, bare, body=None) -> Row:
    return Row(method, path, anon, user, other, staff, bare, body)


# fmt: off
TABLE = [
    # Accounts and auth.                                   anon user other staff bare
    row("GET",    "/api/accounts/me/",                         401, 200, 200, 200, 200),
    # "Mine": every account sees its own (an empty list for the others).
    row("GET",    "/api/accounts/me/entries/",                 401, 200, 200, 200, 200),
    row("GET",    "/api/accounts/me/holds/",                   401, 200, 200, 200, 200),
    row("GET",    "/api/accounts/me/referrals/",               401, 200, 200, 200, 200),
    row("GET",    "/api/accounts/me/tickets/",                 401, 200, 200, 200, 200),
    row("GET",    "/api/accounts/me/payments/",                401, 200, 200, 200, 200),
    row("PATCH",  "/api/accounts/me/",                         401, 200, 200, 200, 200, RENAME_ME),
    row("POST",   "/api/accounts/phone/verification/",         401, 400, 400, 400, 400, {}),
    row("POST",   "/api/accounts/phone/verification/confirm/", 401, 400, 400, 400, 400, {}),
    row("POST",   "/api/accounts/register/",                   400, 400, 400, 400, 400, {}),
    row("POST",   "/api/auth/logout/",                         400, 400, 400, 400, 400, {}),
    row("POST",   "/api/auth/token/",                          400, 400, 400, 400, 400, {}),
    row("POST",   "/api/auth/token/refresh/",                  400, 400, 400, 400, 400, {}),
    row("POST",   "/api/auth/token/verify/",                   400, 400, 400, 400, 400, {}),
    # Account flows (core/api/account_flows.py). Deleting: client_for logs in just now
    # (a recent login needs no password); `user` still has money in the wallet, staff
    # accounts are not deleted through the API: 409 proves the request got through.
    row("POST",   "/api/accounts/password/reset/",             400, 400, 400, 400, 400, {}),
    row("POST",   "/api/accounts/password/reset/confirm/",     400, 400, 400, 400, 400, {}),
    row("POST",   "/api/accounts/password/change/",            401, 400, 400, 400, 400, {}),
    row("POST",   "/api/accounts/email/resend/",               400, 202, 202, 202, 202, {}),
    row("POST",   "/api/accounts/email/change/",               401, 400, 400, 400, 400, {}),
    row("POST",   "/api/accounts/email/change/confirm/",       400, 400, 400, 400, 400, {}),
    row("GET",    "/api/accounts/me/export/",                  401, 200, 200, 200, 200),
    row("POST",   "/api/accounts/me/delete/",                  401, 409, 204, 409, 409, {}),
    row("POST",   "/api/auth/logout/all/",                     401, 204, 204, 204, 204),
    # Events (staff organise; everyone reads published ones).
    row("GET",    "/api/events/",                              200, 200, 200, 200, 200),
    row("POST",   "/api/events/",                              401, 403, 403, 400, 403, {}),
    row("GET",    EVENT,                                       200, 200, 200, 200, 200),
    row("PATCH",  EVENT,                                       401, 403, 403, 200, 403, RETITLE),
    row("POST",   EVENT + "checkin/",                          401, 201, 201, 201, 201, {}),
    row("GET",    EVENT + "checkins.csv/",                     401, 403, 403, 200, 403),
    row("GET",    EVENT + "checkins.xlsx/",                    401, 403, 403, 200, 403),
    row("POST",   EVENT + "operator/forward/",                 401, 403, 403, 400, 403, {}),
    row("GET",    EVENT + "screen-keys/",                      401, 403, 403, 200, 403),
    row("POST",   EVENT + "screen-keys/",                      401, 403, 403, 201, 403, LABEL),
    row("POST",   EVENT + "screen-keys/{key}/revoke/",         401, 403, 403, 200, 403),
    # Webhooks of an event: staff only.
    row("GET",    "/api/events/{event_id}/webhooks/",          401, 403, 403, 200, 403),
    row("POST",   "/api/events/{event_id}/webhooks/",          401, 403, 403, 400, 403, {}),
    row("GET",    WEBHOOK,                                     401, 403, 403, 200, 403),
    row("PUT",    WEBHOOK,                                     401, 403, 403, 400, 403, {}),
    row("PATCH",  WEBHOOK,                                     401, 403, 403, 200, 403, PAUSE),
    row("DELETE", WEBHOOK,                                     401, 403, 403, 204, 403),
    row("GET",    WEBHOOK + "deliveries/",                     401, 403, 403, 200, 403),
    # Draws.
    row("GET",    EVENT + "draws/",                            200, 200, 200, 200, 200),
    row("POST",   EVENT + "draws/",                            401, 403, 403, 400, 403, {}),
    row("GET",    DRAW,                                        200, 200, 200, 200, 200),
    row("PATCH",  DRAW,                                        401, 403, 403, 200, 403, RETITLE),
    row("POST",   DRAW + "participate/",                       401, 201, 201, 201, 201, {}),
    row("POST",   DRAW + "perform/",                           401, 403, 403, 200, 403, {}),
    row("POST",   DRAW + "claim/",                             401, 409, 409, 409, 409, {}),
    row("POST",   DRAW + "redraw/",                            401, 403, 403, 409, 403, {}),
    row("POST",   DRAW + "notify/",                            401, 403, 403, 409, 403, {}),
    row("GET",    DRAW + "proof/",                             200, 200, 200, 200, 200),
    row("GET",    DRAW + "results/?phone_last4=1234",          200, 200, 200, 200, 200),
    row("GET",    DRAW + "participants.csv/",                  401, 403, 403, 200, 403),
    row("GET",    DRAW + "participants.xlsx/",                 401, 403, 403, 200, 403),
    # Lottery ballots: each user's own.
    row("GET",    "/api/lotteries/",                           401, 200, 200, 200, 200),
    # `user` already holds the one ballot a lottery allows: 409 shows the request got through.
    row("POST",   "/api/lotteries/",                           401, 409, 201, 201, 201, BALLOT),
    row("GET",    "/api/lotteries/{ballot}/",                  401, 200, 404, 404, 404),
    row("GET",    "/api/winning-ballots/",                     200, 200, 200, 200, 200),
    row("GET",    "/api/winning-ballots/{winner}/",            200, 200, 200, 200, 200),
    # Ticketing: venues (public fields for all, layouts for staff), sale settings (read by
    # all, set by staff), seats (public, as the seat stream), holds (owner).
    row("GET",    "/api/venues/",                              200, 200, 200, 200, 200),
    row("POST",   "/api/venues/",                              401, 403, 403, 201, 403, NAME),
    row("GET",    "/api/venues/{venue}/",                      200, 200, 200, 200, 200),
    row("GET",    "/api/venues/{venue}/layout/",               401, 403, 403, 200, 403),
    row("POST",   "/api/venues/{venue}/layout/",               401, 403, 403, 400, 403, {}),
    row("GET",    EVENT + "prices/",                           200, 200, 200, 200, 200),
    row("PUT",    EVENT + "prices/",                           401, 403, 403, 400, 403, {}),
    row("GET",    EVENT + "sale/",                             200, 200, 200, 200, 200),
    row("PUT",    EVENT + "sale/",                             401, 403, 403, 400, 403, BAD_SALE),
    row("GET",    EVENT + "seats/",                            200, 200, 200, 200, 200),
    row("GET",    EVENT + "seats/{seat}/history/",             401, 403, 403, 200, 403),
    row("POST",   EVENT + "holds/",                            401, 201, 201, 201, 201, FREE_SEATS),
    # The waiting room: this event has none (a room would gate the holds above), so a
    # request that gets through answers queue_not_found; staff settings are staff-only.
    row("GET",    EVENT + "queue/",                            404, 404, 404, 404, 404),
    row("POST",   EVENT + "queue/",                            401, 404, 404, 404, 404),
    row("DELETE", EVENT + "queue/",                            401, 404, 404, 404, 404),
    row("GET",    EVENT + "waiting-list/",                     401, 404, 404, 404, 404),
    row("POST",   EVENT + "waiting-list/",                     401, 409, 409, 409, 409),
    row("DELETE", EVENT + "waiting-list/",                     401, 404, 404, 404, 404),
    row("GET",    EVENT + "waiting-list/staff/",               401, 403, 403, 200, 403),
    row("PUT",    EVENT + "waiting-list/staff/",               401, 403, 403, 400, 403, BAD_LIST),
    row("GET",    EVENT + "waiting-room/",                     401, 403, 403, 404, 403),
    row("PUT",    EVENT + "waiting-room/",                     401, 403, 403, 400, 403, BAD_ROOM),
    row("PATCH",  EVENT + "waiting-room/",                     401, 403, 403, 404, 403, BAD_ROOM),
    row("POST",   EVENT + "waiting-room/pause/",               401, 403, 403, 404, 403),
    row("POST",   EVENT + "waiting-room/resume/",              401, 403, 403, 404, 403),
    row("POST",   EVENT + "waiting-room/open/",                401, 403, 403, 404, 403),
    row("POST",   EVENT + "waiting-room/close/",               401, 403, 403, 404, 403),
    row("GET",    "/api/holds/{hold}/",                        401, 200, 404, 404, 404),
    row("PATCH",  "/api/holds/{hold}/",                        401, 200, 404, 404, 404, SAME_SEATS),
    row("DELETE", "/api/holds/{hold}/",                        401, 204, 404, 404, 404),
    row("POST",   "/api/holds/{hold}/purchase/",               401, 201, 404, 404, 404),
    row("GET",    "/api/orders/",                              401, 200, 200, 200, 200),
    row("GET",    "/api/orders/{order}/",                      401, 200, 404, 404, 404),
    row("GET",    "/api/tickets/",                             401, 200, 200, 200, 200),
    row("POST",   "/api/tickets/{ticket}/cancel/",             401, 200, 404, 404, 404),
    row("GET",    "/api/tickets/{ticket}/",                    401, 200, 404, 404, 404),
    row("GET",    "/api/tickets/{ticket}/qr/",                 401, 200, 404, 404, 404),
    row("GET",    "/api/tickets/{ticket}/pdf/",                401, 200, 404, 404, 404),
    row("GET",    "/api/orders/{order}/pdf/",                  401, 200, 404, 404, 404),
    row("GET",    "/api/wallet/",                              401, 200, 200, 200, 200),
    row("POST",   "/api/wallet/top-up/",                       401, 201, 201, 201, 201, AMOUNT),
    row("GET",    "/api/wallet/transactions/",                 401, 200, 200, 200, 200),
    # Payments: staff confirm bank transfers and refund (each its own model permission);
    # Stripe's webhook has no account, only its signature: none here, so 400 for all.
    row("GET",    "/api/payments/",                            401, 403, 403, 200, 403),
    row("POST",   "/api/payments/{pending_payment}/confirm/",  401, 403, 403, 200, 403),
    row("POST",   "/api/payments/{paid_payment}/refund/",      401, 403, 403, 200, 403),
    row("POST",   "/api/payments/stripe/webhook/",             400, 400, 400, 400, 400, {}),
    # Waitlist and public stats.
    row("GET",    "/api/waitlist/{code}/",                     200, 200, 200, 200, 200),
    row("POST",   "/api/waitlist/confirm-email/",              400, 400, 400, 400, 400, {}),
    row("POST",   "/api/waitlist/confirm-email/resend/",       400, 400, 400, 400, 400, {}),
    row("POST",   "/api/waitlist/join/",                       400, 400, 400, 400, 400, {}),
    row("POST",   "/api/waitlist/join/{code}/",                400, 400, 400, 400, 400, {}),
    row("GET",    "/api/waitlist/lookup/",                     401, 403, 403, 400, 403),
    row("GET",    "/api/waitlist/me/",                         401, 200, 200, 200, 200),
    row("GET",    "/api/stats/",                               200, 200, 200, 200, 200),
    row("GET",    "/api/stats/chart/",                         200, 200, 200, 200, 200),
]
# fmt: on


def _schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }


def _table_key(r: Row) -> tuple[str, str]:
    # Back to the schema's placeholder names, e.g. {event} -> {id}.
    path = r.path.split("?")[0]
    for mine, schemas in (("{event}", "{id}"), ("{draw}", "{draw_id}"), ("{key}", "{key_id}"),
                          ("{seat}", "{seat_id}"), ("{webhook}", "{id}"), ("{ballot}", "{id}"),
                          ("{winner}", "{id}"),
                          ("{venue}", "{id}"), ("{order}", "{id}"), ("{ticket}", "{id}"),
                          ("{hold}", "{token}"), ("{pending_payment}", "{id}"),
                          ("{paid_payment}", "{id}")):
        path = path.replace(mine, schemas)
    return r.method, path


def test_every_operation_has_a_row():
    table = [_table_key(r) for r in TABLE]
    assert len(table) == len(set(table)), "duplicate rows"
    schema = _schema_operations()
    assert sorted(schema - set(table)) == [], "operations without a row in TABLE"
    assert sorted(set(table) - schema) == [], "rows for operations the schema does not have"


@pytest.fixture
def world(user, other_user, staff, settings):
    """One of everything, `user` owning the hold, order and ticket."""
    from core.models import Venue, WebhookEndpoint

    settings.TICKETING_HOLD_BACKEND = "db"
    venue = Venue.objects.create(name="Arena", address="1 Court Street")
    from tests.ticketing_helpers import LAYOUT

    layout.venue_layout_set(venue=venue, sections=LAYOUT)
    event = make_event(venue)
    user_api = client_for(user)
    with TestCase.captureOnCommitCallbacks(execute=True):
        fund(user)
        bought = hold(user_api, event, seats(event, "A", "1", 1)).json()["token"]
        order = user_api.post(f"/api/holds/{bought}/purchase/", format="json").json()
        held = seats(event, "A", "1", 2)
        token = hold(user_api, event, held).json()["token"]
    from ticketing.models import Ticket

    draw = make_draw(event)
    lottery = make_draw(event, kind="lottery", title="Lotto")
    ballot = draw_enter(draw=lottery, user=user, numbers=[4, 5, 6])
    # A lottery drawn already, whose one ballot (user's) won: a winning ballot to read.
    pot = make_draw(event, kind="lottery", title="Pot", lottery_mode="single_ballot",
                    prizes=[{"name": "Pot", "rank": 1}])
    draw_enter(draw=pot, user=user, numbers=[1, 2, 3])
    with TestCase.captureOnCommitCallbacks(execute=True):
        draw_perform(draw=pot, actor=None, source="test")
    from live.models import Winner
    webhook = WebhookEndpoint.objects.create(event=event, url="https://example.com/hook")
    key, _ = screen_key_issue(event=event, actor=staff)
    # Bank transfers of `user`: one waiting for its money, one received.
    pending_payment = payment_start(user=user, amount=1_000).payment
    paid_payment = payment_start(user=user, amount=2_000).payment
    payment_confirm_received(payment_id=paid_payment.pk, actor=staff, source="test")
    return {
        "event": event.pk, "event_id": event.pk, "draw": draw.pk, "lottery_draw": lottery.pk,
        "ballot": ballot.pk, "winner": Winner.objects.get(draw=pot).pk,
        "venue": venue.pk, "webhook": webhook.pk, "key": key.pk, "seat": held[0],
        "hold": token, "hold_seats": held, "order": order["id"],
        "ticket": Ticket.objects.filter(user=user).values_list("pk", flat=True)[0],
        "free_seats": seats(event, "B", "1", 1), "code": user.referral_code,
        "pending_payment": pending_payment.pk, "paid_payment": paid_payment.pk,
    }


@contextmanager
def _rolled_back():
    """A savepoint rolled back afterwards, marked as TestCase marks its own atomic
    blocks: holds and purchases open a durable transaction (seat_lock_transaction),
    which Django lets run inside a test's blocks only."""
    block = transaction.atomic()
    block._from_testcase = True
    with block:
        yield
        transaction.set_rollback(True)


def _fill(value, world):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return world[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


def _client(role, users) -> APIClient:
    return APIClient() if role == "anon" else client_for(users[role])


@pytest.mark.parametrize("r", TABLE, ids=lambda r: f"{r.method} {r.path}")
def test_access(r, world, user, other_user, staff, bare_staff):
    """The five roles in turn, each in a savepoint rolled back afterwards, so
    that one role's write (a DELETE, a purchase) does not change the next
    role's target."""
    clients = {"anon": APIClient(), "user": client_for(user),
               "other": client_for(other_user), "staff": client_for(staff),
               "bare": client_for(bare_staff)}
    path, body = r.path.format(**world), _fill(r.body, world)
    got = {}
    for role in ROLES:
        with _rolled_back():
            response = getattr(clients[role], r.method.lower())(path, body, format="json")
        got[role] = response.status_code
        if response.status_code in (401, 403, 404):
            assert {"code", "detail"} <= response.json().keys(), (role, response.json())
    assert got == {role: r.expected(role) for role in ROLES}


STAFF_ACTIONS = [r for r in TABLE if r.user == 403 and r.staff != 403]


@pytest.mark.parametrize("r", STAFF_ACTIONS, ids=lambda r: f"{r.method} {r.path}")
def test_superusers_keep_every_staff_action(r, world, superuser):
    """A superuser holds every permission without being given any."""
    path, body = r.path.format(**world), _fill(r.body, world)
    with _rolled_back():
        response = getattr(client_for(superuser), r.method.lower())(path, body, format="json")
    assert response.status_code == r.staff


def test_the_bare_staff_column_refuses_every_staff_action():
    """Every operation that needs staff needs a model permission too."""
    assert STAFF_ACTIONS and all(r.bare == 403 for r in STAFF_ACTIONS)


def test_schema_paths_are_the_urls_clients_call():
    """api_path's regex once leaked "\\-" into the schema ("/screen\\-keys/")."""
    assert [path for _, path in _schema_operations() if "\\" in path] == []
