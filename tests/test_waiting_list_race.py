"""Two schedulers race over one waiting list on real PostgreSQL (and Redis holds on the
server run): every returned seat is offered once, each entry gets at most one offer,
and the offers go to the first in line."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from core.models import User
from tests.ticketing_helpers import one_section_sale
from ticketing.models import SeatHold, WaitingListEntry, WaitingListSeat
from ticketing.services.holds import hold_create, holds_expire
from ticketing.services.waiting_list import waiting_list_join, waiting_list_offers_make

pytest_plugins = ["tests.ticketing_fixtures"]
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HOLDERS, SEATS_EACH, WAITING, ROUNDS = 5, 4, 25, 15


def scheduler(barrier: threading.Barrier, errors: list[BaseException]) -> None:
    """What the scheduler loop runs every second: the hold sweep, then the offers."""
    try:
        barrier.wait()
        for _ in range(ROUNDS):
            holds_expire()
            waiting_list_offers_make()
    except BaseException as exc:  # reported by the test
        errors.append(exc)
    finally:
        connection.close()


def test_two_schedulers_offer_each_returned_seat_once_and_in_order(backend, settings):
    event, seat_ids = one_section_sale(rows=2, seats_per_row=10, price=1_000, name="Race Hall")
    holders = [User.objects.create_user(email=f"holder{n}@example.com", password="x" * 12)
               for n in range(HOLDERS)]
    waiting = [User.objects.create_user(email=f"w{n}@example.com", password="x" * 12,
                                        email_verified_at=timezone.now())
               for n in range(WAITING)]
    settings.TICKETING_HOLD_TTL_SECONDS = 4
    for n, holder in enumerate(holders):
        hold_create(event=event, user=holder,
                    seat_ids=seat_ids[n * SEATS_EACH:(n + 1) * SEATS_EACH])
    settings.TICKETING_HOLD_TTL_SECONDS = 900
    entries = [waiting_list_join(event=event, user=user)[0] for user in waiting]
    last_expiry = max(SeatHold.objects.values_list("expires_at", flat=True))
    # Every holder's hold runs out: 20 seats come back at the sweep.
    time.sleep(max(0.0, (last_expiry - timezone.now()).total_seconds()) + 0.1)

    barrier, errors = threading.Barrier(2), []
    threads = [threading.Thread(target=scheduler, args=(barrier, errors)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors

    offered = list(WaitingListEntry.objects.filter(status="offered").order_by("id"))
    # In order: the first 20 in line, each with one seat; the last 5 still wait.
    assert [e.pk for e in offered] == [e.pk for e in entries[:len(seat_ids)]]
    assert WaitingListEntry.objects.filter(status="waiting").count() == WAITING - len(seat_ids)
    offer_holds = SeatHold.objects.filter(waiting_entry__isnull=False, status="active")
    held = sorted(s for h in offer_holds for s in h.seat_ids)
    assert held == seat_ids  # every seat offered, none twice
    assert all(len(h.seat_ids) == 1 for h in offer_holds)
    assert SeatHold.objects.filter(user__in=waiting).count() == len(seat_ids)
    # Each returned seat row is done exactly once, by the offer that took it.
    returned = list(WaitingListSeat.objects.all())
    assert len(returned) == len(seat_ids)
    assert sorted((r.seat_id, r.entry_id) for r in returned) == sorted(
        (h.seat_ids[0], h.waiting_entry.pk) for h in offer_holds)


def test_a_general_buyer_taking_a_returned_seat_mid_offer_is_never_sold_it_twice(backend):
    """The general sale holds the returned seats while the run is about to offer them (at
    its failpoint, from another connection, committed): the backend refuses one of the
    two, the seats are held once, and the entry keeps its place."""
    from core.failpoints import armed
    from tests.ticketing_helpers import committed
    from ticketing.services.holds import hold_release

    event, seat_ids = one_section_sale(rows=1, seats_per_row=2, price=1_000, name="Duo")
    holder, buyer, waiting = (User.objects.create_user(email=f"{name}@example.com",
                                                       password="x" * 12,
                                                       email_verified_at=timezone.now())
                              for name in ("holder", "buyer", "waiting"))
    first = hold_create(event=event, user=holder, seat_ids=seat_ids)
    waiting_list_join(event=event, user=waiting, seats=2)
    outcome: dict[str, object] = {}

    def general_sale() -> None:
        try:
            outcome["hold"] = hold_create(event=event, user=buyer, seat_ids=seat_ids)
        except BaseException as exc:  # SeatsUnavailable when the offer got there first
            outcome["error"] = exc
        finally:
            connection.close()

    def buyer_first(entry) -> None:
        thread = threading.Thread(target=general_sale)
        thread.start()
        thread.join(30)

    with armed("waiting_list.offer.entry", buyer_first):
        committed(hold_release, token=first.token, user=holder)
    live = list(SeatHold.objects.filter(status="active"))
    assert [h.user_id for h in live] == [buyer.pk], outcome  # the buyer's, not an offer too
    assert sorted(live[0].seat_ids) == seat_ids
    assert WaitingListEntry.objects.get(user=waiting).status == "waiting"
    assert not WaitingListSeat.objects.filter(done_at__isnull=True).exists()
