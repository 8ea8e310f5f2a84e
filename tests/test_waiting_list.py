"""Waiting lists of sold-out events, on both hold backends: joining (one place per
mailbox, in order), offers of returned seats (refund, release, expiry, unblocking), an
offer that expires and passes on, conversions, the staff's figures, the user stream."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from core.streams import Viewer
from tests.conftest import assert_error, client_for
from tests.stream_helpers import verify_action
from tests.ticketing_helpers import committed, fund, one_section_sale
from ticketing.models import (
    SeatHold,
    Ticket,
    WaitingListEntry,
    WaitingListSeat,
    WaitingRoom,
)
from ticketing.services import layout
from ticketing.services.holds import hold_create, hold_release, holds_expire
from ticketing.services.orders import hold_purchase, ticket_cancel
from ticketing.services.waiting_list import waiting_list_offers_make
from ticketing.streams import user_stream

pytest_plugins = ["tests.ticketing_fixtures"]


@pytest.fixture
def make_user(db):
    """conftest's make_user with a confirmed email: joining a list needs one."""
    from core.models import User

    emails = iter(range(1, 1_000))

    def make(email: str | None = None, password: str = "correct-horse-battery", **fields):
        fields.setdefault("email_verified_at", timezone.now())
        return User.objects.create_user(email=email or f"wl{next(emails)}@example.com",
                                        password=password, **fields)

    return make


@pytest.fixture
def small(backend, db):
    """A published event with three seats, all held by `holder`: sold out."""
    event, seat_ids = one_section_sale(rows=1, seats_per_row=3, price=1_000, name="Club")
    return event, seat_ids


@pytest.fixture
def holder(make_user):
    return make_user(email="holder@example.com")


def hold_all(event, seat_ids, holder):
    return committed(hold_create, event=event, user=holder, seat_ids=seat_ids)


def two_waiting_then_released(event, seat_ids, holder, make_user):
    """Two buyers wait for all three seats; the holder releases them: the first is offered."""
    hold = hold_all(event, seat_ids, holder)
    first, second = make_user(), make_user()
    for waiting in (first, second):
        assert join(client_for(waiting), event, seats=3).status_code == 201
    committed(hold_release, token=hold.token, user=holder)
    return first, second


def join(client, event, **body):
    return client.post(f"/api/events/{event.pk}/waiting-list/", body, format="json")


def entry_of(user) -> WaitingListEntry:
    return WaitingListEntry.objects.select_related("hold").get(user=user)


def test_joining_is_refused_while_seats_are_free(small, user_api):
    event, _ = small
    assert_error(join(user_api, event), 409, "seats_available")


def test_one_place_per_mailbox_and_joining_again_keeps_it(small, holder, make_user):
    event, seat_ids = small
    hold_all(event, seat_ids, holder)
    first = client_for(make_user(email="ann.lee+tickets@gmail.com"))
    same_mailbox = client_for(make_user(email="annlee@googlemail.com"))
    created = join(first, event, seats=2)
    assert created.status_code == 201, created.content
    assert created.json()["position"] == 1 and created.json()["status"] == "waiting"
    again = join(first, event, seats=1)
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert again.json()["seats"] == 2  # the place is kept as it was
    assert_error(join(same_mailbox, event), 409, "waiting_list_mailbox_taken")
    assert WaitingListEntry.objects.count() == 1


def test_an_unconfirmed_address_cannot_take_a_mailboxs_place(small, holder, make_user):
    """Anyone can register a stranger's address with a +tag, unconfirmed: were that
    enough to join, the stranger's mailbox would be taken and its owner locked out."""
    event, seat_ids = small
    hold_all(event, seat_ids, holder)
    squatter = client_for(make_user(email="victim+x@gmail.com", email_verified_at=None))
    assert_error(join(squatter, event), 403, "email_not_verified")
    owner = client_for(make_user(email="victim@gmail.com"))
    assert join(owner, event).status_code == 201


def test_places_are_in_join_order_and_validated(small, holder, make_user, api):
    event, seat_ids = small
    hold_all(event, seat_ids, holder)
    clients = [client_for(make_user()) for _ in range(3)]
    for client in clients:
        assert join(client, event).status_code == 201
    assert [c.get(f"/api/events/{event.pk}/waiting-list/").json()["position"]
            for c in clients] == [1, 2, 3]
    assert clients[0].delete(f"/api/events/{event.pk}/waiting-list/").status_code == 204
    assert clients[2].get(f"/api/events/{event.pk}/waiting-list/").json()["position"] == 2
    assert_error(clients[0].get(f"/api/events/{event.pk}/waiting-list/"), 404,
                 "not_on_waiting_list")
    late = client_for(make_user())
    assert_error(join(late, event, seats=5), 400, "too_many_seats")
    assert_error(join(late, event, section_id=999_999), 404, "section_not_found")
    assert join(late, event, seats="x").status_code == 400
    assert api.post(f"/api/events/{event.pk}/waiting-list/").status_code == 401


def test_a_refunded_seat_is_offered_once_to_the_first_in_line_and_told_everywhere(
        small, holder, make_user, mailoutbox, sms_outbox, settings):
    settings.TICKETING_WAITLIST_OFFER_SECONDS = 1800
    event, seat_ids = small
    hold = hold_all(event, seat_ids, holder)
    fund(holder)
    order = committed(hold_purchase, token=hold.token, user=holder)
    mailoutbox.clear()  # the holder's order confirmation
    first = make_user(email="first@example.com", phone="+15550000001",
                      phone_verified_at=timezone.now())
    second = make_user(email="second@example.com")
    assert join(client_for(first), event).status_code == 201
    assert join(client_for(second), event).status_code == 201
    ticket = order.tickets.all()[0]

    # The refund's commit makes the offer at once (the scheduler would within a second).
    messages = verify_action(kind="user", object_id=first.pk, viewer=Viewer(user=first),
                             action=lambda: ticket_cancel(ticket_id=ticket.pk, user=holder))

    offered = entry_of(first)
    assert offered.status == "offered" and offered.hold.seat_ids == [ticket.seat_id]
    assert offered.hold.user == first and offered.hold.status == "active"
    assert 1790 <= (offered.hold.expires_at - timezone.now()).total_seconds() <= 1800
    first_api = client_for(first)
    assert_error(first_api.patch(f"/api/holds/{offered.hold.token}/"), 409,
                 "hold_lifetime_exceeded")  # an offer lasts its time, no longer
    assert entry_of(second).status == "waiting"
    assert [(m["type"], m["data"]["status"], m["data"]["offer"]["hold"]) for m in messages] == [
        ("waiting_list.entry", "offered", offered.hold.token)]
    assert [m.to for m in mailoutbox] == [["first@example.com"]]
    assert "Club" in mailoutbox[0].body and f"/app/#/events/{event.pk}" in mailoutbox[0].body
    assert offered.hold.token not in mailoutbox[0].body  # the token stays in the app
    assert [m.to for m in sms_outbox] == ["+15550000001"]
    # Exactly once: the returned seat is done, a second run offers nothing.
    returned = WaitingListSeat.objects.get()
    assert (returned.seat_id, returned.entry_id, returned.reason) == (
        ticket.seat_id, offered.pk, "refunded")
    assert returned.done_at is not None
    assert committed(waiting_list_offers_make) == 0
    assert SeatHold.objects.filter(user=second).count() == 0
    assert len(mailoutbox) == 1


def test_an_offer_that_expires_passes_on_to_the_next_in_line(
        small, holder, make_user, mailoutbox, settings):
    event, seat_ids = small
    hold = hold_all(event, seat_ids, holder)
    first, second = make_user(), make_user()
    assert join(client_for(first), event, seats=2).status_code == 201
    assert join(client_for(second), event, seats=2).status_code == 201
    staff_api = client_for(make_user(is_staff=True, is_superuser=True))
    assert staff_api.put(f"/api/events/{event.pk}/waiting-list/staff/",
                         {"offer_seconds": 1}, format="json").status_code == 200
    committed(hold_release, token=hold.token, user=holder)
    first_offer = entry_of(first)
    assert first_offer.status == "offered" and len(first_offer.hold.seat_ids) == 2
    assert entry_of(second).status == "waiting"  # one seat left: not enough for two

    time.sleep(1.1)
    # The sweep frees the offer's seats; its commit closes the offer and passes them on.
    messages = verify_action(kind="user", object_id=first.pk, viewer=Viewer(user=first),
                             action=holds_expire)
    assert [m["data"]["status"] for m in messages] == ["expired"]
    assert entry_of(first).status == "expired"
    second_offer = entry_of(second)
    assert second_offer.status == "offered"
    # The oldest returned seats first: the one left over, then the first of the offer's.
    left_over = (set(seat_ids) - set(first_offer.hold.seat_ids)).pop()
    assert second_offer.hold.seat_ids == sorted([left_over, min(first_offer.hold.seat_ids)])
    figures = staff_api.get(f"/api/events/{event.pk}/waiting-list/staff/").json()
    assert figures == {"event_id": event.pk, "offer_seconds": 1, "waiting": 0,
                       "offers_out": 1, "converted": 0, "expired": 1, "left": 0}
    assert len(mailoutbox) == 2
    assert committed(waiting_list_offers_make) == 0


def test_the_scheduler_closes_an_expired_offer_and_offers_its_seats_once_swept(
        small, holder, make_user, settings):
    settings.TICKETING_WAITLIST_OFFER_SECONDS = 1
    event, seat_ids = small
    first, second = two_waiting_then_released(event, seat_ids, holder, make_user)
    time.sleep(1.1)
    # Before the sweep: its hold may be in a purchase that locked it in time, so the
    # offer stays open; its seats are not free yet (no offer).
    assert committed(waiting_list_offers_make) == 0
    assert entry_of(first).status == "offered" and entry_of(second).status == "waiting"
    with_sweep = committed(holds_expire)  # the commit closes it and passes the seats on
    assert with_sweep == 1 and entry_of(second).status == "offered"
    assert entry_of(first).status == "expired"


def test_an_offer_bought_as_it_expires_counts_as_converted_not_expired(
        small, holder, make_user, mailoutbox):
    """The buyer's purchase locked the offer's hold just before its expiry; the run that
    closes offers comes while that purchase is in flight (here, at the purchase's
    failpoint, a clock past the offer). The buyer bought: never told 'expired'."""
    from datetime import timedelta

    from core.failpoints import armed
    from ticketing.services.waiting_list import _offers_close

    event, seat_ids = small
    first, _ = two_waiting_then_released(event, seat_ids, holder, make_user)
    offer = entry_of(first)
    fund(first)

    def scheduler_past_the_offer(hold):
        _offers_close(event.pk, offer.offer_expires_at + timedelta(seconds=1))

    with armed("hold.purchase.verified", scheduler_past_the_offer):
        committed(hold_purchase, token=offer.hold.token, user=first)
    assert committed(waiting_list_offers_make) == 0
    assert entry_of(first).status == "converted"


def test_an_offer_is_bought_without_a_queue_pass_and_counts_as_converted(
        small, holder, user, user_api, other_api, settings):
    event, seat_ids = small
    hold = hold_all(event, seat_ids, holder)
    assert join(user_api, event).status_code == 201
    WaitingRoom.objects.create(event=event)  # from now on holds need an admission pass
    committed(hold_release, token=hold.token, user=holder)
    offer = user_api.get(f"/api/events/{event.pk}/waiting-list/").json()
    assert offer["status"] == "offered" and offer["position"] is None
    token = offer["offer"]["hold"]
    assert_error(other_api.post(f"/api/holds/{token}/purchase/"), 404, "hold_not_found")
    fund(user)
    bought = user_api.post(f"/api/holds/{token}/purchase/")
    assert bought.status_code == 201, bought.content
    assert committed(waiting_list_offers_make) == 0  # nobody else waits
    assert entry_of(user).status == "converted"
    assert Ticket.objects.filter(user=user).count() == 1
    assert not WaitingListSeat.objects.filter(done_at__isnull=True).exists()  # general sale


def test_joining_while_the_waiting_room_is_on_needs_an_admission_pass(
        small, holder, user, user_api, staff):
    """Admitted buyers hold nearly every seat while the room is on: the event looks sold
    out. Without the pass anyone could join here and be offered the expiring holds ahead
    of the buyers the room admits in order (the line skipped)."""
    from tests.test_waiting_room_gate import admitted_pass
    from ticketing.services.waiting_room import waiting_room_configure

    event, seat_ids = small
    hold_all(event, seat_ids, holder)
    committed(waiting_room_configure, event=event, actor=staff, rate_per_minute=6000)
    assert_error(join(user_api, event), 403, "queue_required")
    assert not WaitingListEntry.objects.exists()
    token = admitted_pass(event, user)
    response = user_api.post(f"/api/events/{event.pk}/waiting-list/", {}, format="json",
                             HTTP_QUEUE_PASS=token)
    assert response.status_code == 201, response.content


def test_seats_staff_unblock_are_offered(backend, make_user, db):
    from core.models import Venue
    from tests.ticketing_helpers import make_event

    venue = Venue.objects.create(name="Hall")
    spec = [{"name": "A", "rows": [{"label": "1", "seats": [
        {"label": "1"}, {"label": "2", "blocked": True}]}]},
        {"name": "B", "rows": [{"label": "1", "seats": [{"label": "1", "blocked": True}]}]}]
    layout.venue_layout_set(venue=venue, sections=spec)
    event = make_event(venue)
    holder = make_user()
    hold_all(event, [venue.sections.get(name="A").rows.get().seats.get(label="1").pk], holder)
    waiting = make_user()
    assert join(client_for(waiting), event).status_code == 201
    spec[0]["rows"][0]["seats"][1]["blocked"] = False
    committed(layout.venue_layout_set, venue=venue, sections=spec)
    offer = entry_of(waiting)
    assert offer.status == "offered"
    assert offer.hold.seat_ids == [venue.sections.get(name="A").rows.get().seats.get(label="2").pk]


def test_leaving_with_an_offer_passes_it_on(small, holder, make_user):
    event, seat_ids = small
    first, second = two_waiting_then_released(event, seat_ids, holder, make_user)
    assert entry_of(first).status == "offered"
    response = committed(client_for(first).delete, f"/api/events/{event.pk}/waiting-list/")
    assert response.status_code == 204
    assert entry_of(first).status == "left"
    assert entry_of(second).status == "offered"
    assert sorted(entry_of(second).hold.seat_ids) == seat_ids


def test_a_buyer_who_leaves_while_offers_are_made_is_not_offered(small, holder, make_user):
    """The run reads the waiting entries unlocked: the first leaves before its offer is
    written (here at the failpoint, in the run's transaction; a parallel request in
    production). The offer goes to the next in line, not to the leaver."""
    from core.failpoints import armed
    from ticketing.services.waiting_list import waiting_list_leave

    event, seat_ids = small
    hold = hold_all(event, seat_ids, holder)
    first, second = make_user(), make_user()
    for waiting in (first, second):
        assert join(client_for(waiting), event, seats=3).status_code == 201

    def leave(entry):
        if entry.user_id == first.pk:
            waiting_list_leave(event_id=event.pk, user=first)

    with armed("waiting_list.offer.entry", leave):
        committed(hold_release, token=hold.token, user=holder)
    assert entry_of(first).status == "left" and entry_of(first).hold is None
    assert not SeatHold.objects.filter(user=first).exists()
    assert entry_of(second).status == "offered"
    assert sorted(entry_of(second).hold.seat_ids) == seat_ids


def test_a_deactivated_account_is_passed_over(small, holder, make_user):
    event, seat_ids = small
    hold = hold_all(event, seat_ids, holder)
    first, second = make_user(), make_user()
    for waiting in (first, second):
        assert join(client_for(waiting), event, seats=3).status_code == 201
    first.is_active = False  # staff deactivated it: it cannot sign in to buy
    first.save(update_fields=["is_active"])
    committed(hold_release, token=hold.token, user=holder)
    assert entry_of(first).status == "waiting" and entry_of(second).status == "offered"


def test_leaving_after_buying_the_offer_counts_as_converted(small, holder, make_user):
    event, seat_ids = small
    first, _ = two_waiting_then_released(event, seat_ids, holder, make_user)
    fund(first)
    committed(hold_purchase, token=entry_of(first).hold.token, user=first)
    # Left before the next run closed the offer: the buyer bought, that is what counts.
    response = committed(client_for(first).delete, f"/api/events/{event.pk}/waiting-list/")
    assert response.status_code == 204
    assert entry_of(first).status == "converted"


def test_only_staff_see_the_figures(small, user_api, staff_api):
    event, _ = small
    assert user_api.get(f"/api/events/{event.pk}/waiting-list/staff/").status_code == 403
    body = staff_api.get(f"/api/events/{event.pk}/waiting-list/staff/").json()
    assert body["waiting"] == 0 and body["offer_seconds"] == 1800
    assert_error(staff_api.put(f"/api/events/{event.pk}/waiting-list/staff/",
                               {"offer_seconds": 0}, format="json"), 400, "invalid")


def test_nobody_else_sees_a_user_stream(user, other_user):
    from ticketing.streams import user_snapshot

    assert user_snapshot(user.pk, Viewer(user=other_user)) is None
    assert user_snapshot(user.pk, Viewer(user=user))["waiting_list"] == []
    assert user_stream(user.pk) == f"user:{user.pk}"


def test_the_admin_shows_each_lists_figures_and_changes_its_offer_time_audited(
        small, holder, make_user, staff):
    from django.test import Client

    from core.models import AuditEntry
    from ticketing.models import WaitingList

    event, seat_ids = small
    hold_all(event, seat_ids, holder)
    for _ in range(2):
        assert join(client_for(make_user()), event).status_code == 201
    browser = Client()
    browser.force_login(staff)
    page = browser.get("/admin/ticketing/waitinglist/")
    assert page.status_code == 200
    text = page.content.decode().lower()
    assert "conversions" in text and "offers out" in text
    assert '<td class="field-waiting">2</td>' in text
    waiting_list = WaitingList.objects.get()
    changed = browser.post(f"/admin/ticketing/waitinglist/{waiting_list.pk}/change/",
                           {"offer_seconds": 600})
    assert changed.status_code == 302, changed.content
    assert WaitingList.objects.get().offer_seconds == 600
    audit = AuditEntry.objects.get(action="waiting_list.configure")
    assert (audit.actor_id, audit.data) == (staff.pk, {"offer_seconds": 600, "source": "admin"})
    assert browser.get("/admin/ticketing/waitinglistentry/").status_code == 200


def test_a_place_is_in_the_data_export_and_goes_with_the_account(small, holder, user, user_api):
    from core.services.account_data import user_data_export, user_erase

    event, seat_ids = small
    hold_all(event, seat_ids, holder)
    assert join(user_api, event, seats=2).status_code == 201
    exported = user_data_export(user=user)["ticketing"]["waiting_lists"]
    assert [(e["event_id"], e["seats"], e["status"]) for e in exported] == [
        (event.pk, 2, "waiting")]
    committed(user_erase, user=user, password="correct-horse-battery")
    assert not WaitingListEntry.objects.exists()
