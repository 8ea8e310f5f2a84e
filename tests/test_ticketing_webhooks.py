"""Organisers' webhooks for ticket sales and refunds: queued with the change, never without it."""

from __future__ import annotations

from core.models import WebhookDelivery, WebhookEndpoint
from tests.ticketing_helpers import PRICE_A, fund, hold, seats

pytest_plugins = ["tests.ticketing_fixtures"]


def _subscribe(event, kinds):
    return WebhookEndpoint.objects.create(event=event, url="https://organiser.example/hook",
                                          kinds=kinds)


def _buy(client, event, seat_ids):
    token = hold(client, event, seat_ids).json()["token"]
    return client.post(f"/api/holds/{token}/purchase/", format="json")


def test_a_purchase_queues_one_ticket_sold_delivery_with_its_tickets(user_api, user, sale):
    _subscribe(sale, ["ticket.sold"])
    fund(user, 10 * PRICE_A)
    wanted = seats(sale, "A", "1", 1, 2)
    order = _buy(user_api, sale, wanted).json()
    delivery = WebhookDelivery.objects.get()
    assert delivery.kind == "ticket.sold" and delivery.status == "pending"
    data = delivery.payload["data"]
    assert (data["order_id"], data["user_id"], data["total"]) == (order["id"], user.pk,
                                                                  2 * PRICE_A)
    assert sorted(t["seat_id"] for t in data["tickets"]) == sorted(wanted)


def test_a_refused_purchase_queues_nothing(user_api, user, sale):
    _subscribe(sale, [])
    fund(user, PRICE_A - 1)
    assert _buy(user_api, sale, seats(sale, "A", "1", 1)).status_code == 402
    assert not WebhookDelivery.objects.exists()


def test_a_cancellation_queues_ticket_refunded(user_api, user, sale):
    _subscribe(sale, ["ticket.refunded"])
    fund(user, 10 * PRICE_A)
    ticket = _buy(user_api, sale, seats(sale, "A", "1", 3)).json()["tickets"][0]
    assert not WebhookDelivery.objects.exists()  # only refunds subscribed
    assert user_api.post(f"/api/tickets/{ticket['id']}/cancel/").status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.kind == "ticket.refunded"
    assert delivery.payload["data"]["ticket_id"] == ticket["id"]
    assert delivery.payload["data"]["amount"] == PRICE_A
