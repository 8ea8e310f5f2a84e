"""Purchase, orders, tickets and refunds, on both hold backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import failpoints
from tests.ticketing_helpers import PRICE_A, PRICE_B, committed, fund, hold, seat, seats, statuses
from ticketing.models import (
    IdempotencyKey,
    Order,
    SeatFence,
    SeatHold,
    SeatStatusChange,
    Ticket,
    Wallet,
    WalletTransaction,
)

pytest_plugins = ["tests.ticketing_fixtures"]


def purchase(client, token, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/holds/{token}/purchase/", format="json", **headers)


def held_token(client, event, seat_ids) -> str:
    response = hold(client, event, seat_ids)
    assert response.status_code == 201, response.json()
    return response.json()["token"]


def nothing_changed(user, balance):
    assert Wallet.objects.get(user=user).balance == balance
    assert not Order.objects.exists() and not Ticket.objects.exists()
    assert WalletTransaction.objects.filter(kind="purchase").count() == 0


def test_purchase_turns_the_hold_into_an_order(user_api, user, sale):
    fund(user, 20_000)
    wanted = seats(sale, "A", "1", 1, 2) + seats(sale, "B", "1", 1)
    token = held_token(user_api, sale, wanted)
    response = committed(purchase, user_api, token)
    assert response.status_code == 201, response.json()
    body = response.json()
    total = 2 * PRICE_A + PRICE_B
    assert body["total"] == total and body["status"] == "paid"
    assert sorted(t["seat_id"] for t in body["tickets"]) == sorted(wanted)
    assert Wallet.objects.get(user=user).balance == 20_000 - total
    entry = WalletTransaction.objects.get(kind="purchase")
    assert (entry.amount, entry.balance_after, entry.reference) == (
        -total, 20_000 - total, f"order:{body['id']}")
    assert {statuses(sale)[s] for s in wanted} == {"sold"}
    assert SeatHold.objects.get(token=token).status == "purchased"
    assert SeatStatusChange.objects.filter(reason="sold").count() == 3


def test_purchase_with_too_little_money_is_402_and_changes_nothing(user_api, user, sale):
    fund(user, PRICE_A - 1)
    token = held_token(user_api, sale, seats(sale, "A", "1", 1))
    response = purchase(user_api, token)
    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_funds"
    assert (response.json()["balance"], response.json()["total"]) == (PRICE_A - 1, PRICE_A)
    nothing_changed(user, PRICE_A - 1)
    assert SeatHold.objects.get(token=token).status == "active"


def test_purchase_of_an_expired_hold_is_410_and_changes_nothing(user_api, user, sale):
    fund(user)
    token = held_token(user_api, sale, seats(sale, "A", "1", 1))
    SeatHold.objects.filter(token=token).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = purchase(user_api, token)
    assert response.status_code == 410
    assert response.json()["code"] == "hold_expired"
    nothing_changed(user, 100_000)


def test_purchase_of_someone_elses_hold_is_404_and_changes_nothing(user_api, other_api, user,
                                                                  other_user, sale):
    fund(other_user)
    token = held_token(user_api, sale, seats(sale, "A", "1", 1))
    response = purchase(other_api, token)
    assert response.status_code == 404
    assert response.json()["code"] == "hold_not_found"
    nothing_changed(other_user, 100_000)


def test_purchasing_a_hold_twice_is_409(user_api, user, sale):
    fund(user)
    token = held_token(user_api, sale, seats(sale, "A", "1", 1))
    purchase(user_api, token)
    again = purchase(user_api, token)
    assert again.status_code == 409
    assert again.json()["code"] == "hold_already_purchased"
    assert Order.objects.count() == 1


def test_purchase_of_unknown_token_is_404(user_api, sale):
    assert purchase(user_api, "nope").status_code == 404


def test_purchase_with_the_same_key_replays_the_order(user_api, user, sale):
    fund(user)
    token = held_token(user_api, sale, seats(sale, "A", "1", 1))
    first = purchase(user_api, token, key="buy-1")
    second = purchase(user_api, token, key="buy-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert Order.objects.count() == 1
    assert Wallet.objects.get(user=user).balance == 100_000 - PRICE_A


def test_the_same_key_on_another_hold_is_422(user_api, user, sale):
    fund(user)
    purchase(user_api, held_token(user_api, sale, seats(sale, "A", "1", 1)), key="buy-2")
    other = held_token(user_api, sale, seats(sale, "A", "1", 2))
    response = purchase(user_api, other, key="buy-2")
    assert response.status_code == 422
    assert Order.objects.count() == 1


def test_a_duplicate_sent_while_the_purchase_runs_is_409(user_api, user, sale):
    fund(user)
    token = held_token(user_api, sale, seats(sale, "A", "1", 1))
    duplicates = []

    def send_duplicate(hold):
        # The first request is inside its transaction: its key row is claimed.
        duplicates.append(purchase(user_api, token, key="buy-3"))

    with failpoints.armed("hold.purchase.verified", send_duplicate):
        first = purchase(user_api, token, key="buy-3")
    assert first.status_code == 201
    assert duplicates[0].status_code == 409
    assert duplicates[0].json()["code"] == "idempotency_request_in_progress"
    assert Order.objects.count() == 1
    assert IdempotencyKey.objects.get(key="buy-3").response_status == 201


def test_a_hold_with_a_stale_fence_cannot_buy(user_api, user, sale):
    # A newer hold already bought this seat once (Redis lost the old hold's keys).
    fund(user)
    wanted = seat(sale, "A", "1", 1)
    token = held_token(user_api, sale, [wanted])
    stale = SeatHold.objects.get(token=token)
    SeatFence.objects.create(event=sale, seat_id=wanted, fence=stale.fence + 1)
    response = purchase(user_api, token)
    assert response.status_code == 409
    assert response.json()["code"] == "hold_lost"
    nothing_changed(user, 100_000)


def test_a_hold_whose_seat_was_removed_from_the_layout_cannot_buy(user_api, user, sale):
    from ticketing.models import Seat

    fund(user)
    gone = seat(sale, "B", "2", 6)
    token = held_token(user_api, sale, [gone])
    Seat.objects.filter(pk=gone).delete()
    response = purchase(user_api, token)
    assert response.status_code == 409
    assert response.json()["seats"] == [gone]
    nothing_changed(user, 100_000)


def test_the_database_refuses_a_second_valid_ticket_for_a_seat(user, sale):
    from ticketing.services.holds import hold_create
    from ticketing.services.orders import hold_purchase

    fund(user)
    sold = seat(sale, "A", "1", 1)
    order = hold_purchase(token=hold_create(event=sale, user=user, seat_ids=[sold]).token,
                          user=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.create(order=order, user=user, event=sale, seat_id=sold, price=1)


def test_orders_and_tickets_list_only_mine(user_api, other_api, user, other_user, sale):
    fund(user)
    fund(other_user)
    purchase(user_api, held_token(user_api, sale, seats(sale, "A", "1", 1, 2)))
    purchase(other_api, held_token(other_api, sale, seats(sale, "A", "2", 1)))
    orders = user_api.get("/api/orders/").json()
    assert orders["count"] == 1 and len(orders["results"][0]["tickets"]) == 2
    tickets = user_api.get(f"/api/tickets/?event={sale.pk}").json()
    assert tickets["count"] == 2
    assert {t["section"] for t in tickets["results"]} == {"A"}
    mine = orders["results"][0]["id"]
    assert user_api.get(f"/api/orders/{mine}/").status_code == 200
    assert other_api.get(f"/api/orders/{mine}/").status_code == 404


def test_cancel_refunds_the_ticket_and_frees_the_seat(user_api, user, staff_api, sale):
    fund(user, 20_000)
    wanted = seats(sale, "A", "1", 1, 2)
    order = purchase(user_api, held_token(user_api, sale, wanted)).json()
    ticket = order["tickets"][0]
    response = committed(user_api.post, f"/api/tickets/{ticket['id']}/cancel/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    assert Wallet.objects.get(user=user).balance == 20_000 - PRICE_A
    refund = WalletTransaction.objects.get(kind="refund")
    assert (refund.amount, refund.reference) == (PRICE_A, f"ticket:{ticket['id']}")
    assert statuses(sale)[ticket["seat_id"]] == "free"
    assert Order.objects.get().status == "partially_refunded"
    history = staff_api.get(f"/api/events/{sale.pk}/seats/{ticket['seat_id']}/history/").json()
    assert history["results"][0]["reason"] == "refunded"


def test_a_refunded_seat_can_be_held_and_sold_again(user_api, other_api, user, other_user, sale):
    fund(user)
    fund(other_user)
    wanted = seats(sale, "A", "1", 1)
    ticket = committed(purchase, user_api, held_token(user_api, sale, wanted)).json()["tickets"][0]
    committed(user_api.post, f"/api/tickets/{ticket['id']}/cancel/")
    response = purchase(other_api, held_token(other_api, sale, wanted))
    assert response.status_code == 201
    assert Ticket.objects.filter(seat_id=wanted[0], status="valid").get().user == other_user


def test_cancelling_every_ticket_refunds_the_order(user_api, user, sale):
    fund(user)
    order = purchase(user_api, held_token(user_api, sale, seats(sale, "B", "1", 1))).json()
    user_api.post(f"/api/tickets/{order['tickets'][0]['id']}/cancel")
    assert Order.objects.get().status == "refunded"
    assert Wallet.objects.get(user=user).balance == 100_000


def test_cancelling_twice_is_409(user_api, user, sale):
    fund(user)
    order = purchase(user_api, held_token(user_api, sale, seats(sale, "B", "1", 1))).json()
    url = f"/api/tickets/{order['tickets'][0]['id']}/cancel/"
    user_api.post(url)
    again = user_api.post(url)
    assert again.status_code == 409 and again.json()["code"] == "ticket_not_refundable"
    assert WalletTransaction.objects.filter(kind="refund").count() == 1


def test_cancelling_after_the_event_started_is_409(user_api, user, sale):
    fund(user)
    order = purchase(user_api, held_token(user_api, sale, seats(sale, "B", "1", 1))).json()
    type(sale).objects.filter(pk=sale.pk).update(starts_at=timezone.now() - timedelta(minutes=1))
    response = user_api.post(f"/api/tickets/{order['tickets'][0]['id']}/cancel/")
    assert response.status_code == 409
    assert Ticket.objects.get().status == "valid"
    assert Wallet.objects.get(user=user).balance == 100_000 - PRICE_B


def test_cancelling_someone_elses_ticket_is_404(user_api, other_api, user, sale):
    fund(user)
    order = purchase(user_api, held_token(user_api, sale, seats(sale, "B", "1", 1))).json()
    response = other_api.post(f"/api/tickets/{order['tickets'][0]['id']}/cancel/")
    assert response.status_code == 404
    assert Ticket.objects.get().status == "valid"


def test_admin_refund_action_uses_the_same_service(client, staff, user, sale):
    from ticketing.services.holds import hold_create
    from ticketing.services.orders import hold_purchase

    staff.is_superuser = True
    staff.save()
    fund(user)
    hold_purchase(token=hold_create(event=sale, user=user, seat_ids=seats(sale, "A", "3", 5)).token,
                  user=user)
    client.force_login(staff)
    ticket = Ticket.objects.get()
    response = client.post(
        "/admin/ticketing/ticket/",
        {"action": "refund_tickets", "_selected_action": [ticket.pk]},
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == "cancelled"
    assert Wallet.objects.get(user=user).balance == 100_000


@pytest.mark.parametrize(
    "url",
    ["/admin/ticketing/order/", "/admin/ticketing/wallet/", "/admin/ticketing/wallettransaction/",
     "/admin/ticketing/ticket/", "/admin/core/venue/1/change/", "/admin/core/event/"],
)
def test_admin_pages_render(client, staff, sale, url):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    url = url.replace("/1/", f"/{sale.venue_id}/")
    assert client.get(url).status_code == 200


def test_a_ticket_holder_may_enter_a_ticket_holders_draw(staff_api, user_api, other_api, user,
                                                         sale):
    fund(user)
    purchase(user_api, held_token(user_api, sale, seats(sale, "A", "1", 1)))
    draw = staff_api.post(
        f"/api/events/{sale.pk}/draws/",
        {"title": "Holders", "eligibility": "ticket_holders",
         "prizes": [{"name": "Ball", "rank": 1}]},
        format="json",
    )
    assert draw.status_code == 201, draw.json()
    url = f"/api/events/{sale.pk}/draws/{draw.json()['id']}/participate/"
    assert user_api.post(url, {}, format="json").status_code == 201
    refused = other_api.post(url, {}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "not_ticket_holder"


def test_staff_without_the_ticket_permission_cannot_refund_from_the_admin(client, bare_staff,
                                                                           user, sale):
    from ticketing.services.holds import hold_create
    from ticketing.services.orders import hold_purchase

    fund(user)
    hold_purchase(token=hold_create(event=sale, user=user, seat_ids=seats(sale, "A", "3", 6)).token,
                  user=user)
    client.force_login(bare_staff)  # is_staff, no model permissions
    ticket = Ticket.objects.get()
    response = client.post(
        "/admin/ticketing/ticket/",
        {"action": "refund_tickets", "_selected_action": [ticket.pk]},
    )
    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == "valid"


def test_a_seat_blocked_after_it_was_held_cannot_be_bought(user, sale):
    # Staff block a seat (a broken chair) while a buyer holds it: no sale.
    from ticketing.errors import SeatsNotForSale
    from ticketing.models import Seat
    from ticketing.services.holds import hold_create
    from ticketing.services.orders import hold_purchase

    fund(user)
    wanted = seats(sale, "A", "2", 4)
    held = hold_create(event=sale, user=user, seat_ids=wanted)
    Seat.objects.filter(pk__in=wanted).update(blocked=True)
    with pytest.raises(SeatsNotForSale):
        hold_purchase(token=held.token, user=user)
    assert not Order.objects.exists()


def test_a_seat_id_past_64_bits_is_a_clear_400(user_api, sale):
    from tests.conftest import assert_error

    response = user_api.post(f"/api/events/{sale.pk}/holds/", {"seat_ids": [2**63]},
                             format="json")
    assert_error(response, 400, "invalid")
