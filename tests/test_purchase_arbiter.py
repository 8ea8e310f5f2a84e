"""PostgreSQL is the arbiter: Redis losing a hold mid-purchase cannot sell a seat twice."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from core import failpoints
from core.errors import DomainError
from core.redis import get_redis
from tests.ticketing_helpers import PRICE_A, fund, make_event, seat
from ticketing.errors import HoldLost
from ticketing.models import Order, Ticket, Wallet
from ticketing.seat_locks import RedisSeatLocks
from ticketing.services.holds import hold_create
from ticketing.services.orders import hold_purchase

pytest_plugins = ["tests.ticketing_fixtures"]

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def test_no_seat_is_sold_twice_when_redis_loses_keys_mid_purchase(settings, make_user, venue):
    settings.TICKETING_HOLD_BACKEND = "redis"
    event = make_event(venue)
    alice, bob = make_user(), make_user()
    fund(alice, 10_000)
    fund(bob, 10_000)
    contested = seat(event, "A", "1", 5)
    alices_hold = hold_create(event=event, user=alice, seat_ids=[contested])
    bobs_result = {}

    def redis_lies_and_bob_buys(hold):
        if hold.user_id != alice.pk:
            return
        # Alice's purchase has verified her hold in Redis; now Redis forgets it...
        get_redis().delete(RedisSeatLocks.seat_key(event.pk, contested))

        def bob_buys():
            try:
                bobs_hold = hold_create(event=event, user=bob, seat_ids=[contested])
                bobs_result["order"] = hold_purchase(token=bobs_hold.token, user=bob)
            except DomainError as exc:  # pragma: no cover - reported by the assert below
                bobs_result["error"] = exc
            finally:
                connection.close()

        # ...and Bob holds and buys the same seat in another connection meanwhile.
        thread = threading.Thread(target=bob_buys)
        thread.start()
        thread.join(timeout=20)

    with (failpoints.armed("hold.purchase.verified", redis_lies_and_bob_buys),
          pytest.raises(HoldLost)):
        hold_purchase(token=alices_hold.token, user=alice)

    assert "order" in bobs_result, bobs_result
    assert Ticket.objects.filter(event=event, seat_id=contested, status="valid").count() == 1
    assert Ticket.objects.get(seat_id=contested).user == bob
    assert Order.objects.count() == 1
    assert Wallet.objects.get(user=alice).balance == 10_000
    assert Wallet.objects.get(user=bob).balance == 10_000 - PRICE_A
