"""Backing services failing under a running service (issue 7, "Faults").

Real processes only: a daphne server (tests/servers.py), a redis-server of the
test's own that is killed and started again empty, and a TCP proxy between the
server and PostgreSQL that is cut. What each test asserts: docs/faults.md.
"""

from __future__ import annotations

import json
import secrets
import threading

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client
from django.db.models import Count, Sum
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import AccessToken

from core.models import Event, User
from tests.faults import REDIS_SERVER, redis_process, tcp_proxy, wait_for
from tests.servers import running_server
from tests.ticketing_helpers import one_section_sale
from ticketing.models import Order, SeatHold, Ticket, Wallet, WalletTransaction
from ticketing.services import wallets

PRICE = 1_000
needs_redis_server = pytest.mark.skipif(
    REDIS_SERVER is None, reason="needs the redis-server binary to start a Redis it may kill"
)


def _sale(rows: int = 2, seats_per_row: int = 10) -> tuple[Event, list[int]]:
    return one_section_sale(rows=rows, seats_per_row=seats_per_row, price=PRICE,
                            name="Fault Arena")


def _buyers(n: int, secret_key: str, funds: int = 10_000) -> list[dict[str, str]]:
    signer = TokenBackend("HS256", signing_key=secret_key)
    headers = []
    for i in range(n):
        user = User.objects.create_user(email=f"buyer{i}-{secrets.token_hex(3)}@example.com",
                                        password=None)
        wallets.wallet_credit(user=user, amount=funds, reference="test funds", actor=None)
        token = signer.encode(AccessToken.for_user(user).payload)
        headers.append({"Authorization": f"Bearer {token}"})
    return headers


def _assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    return body


def _assert_money_and_seats_add_up(event: Event) -> None:
    """No seat sold twice; every order has its tickets and its one ledger row."""
    valid = Ticket.objects.filter(event=event, status="valid")
    assert not valid.values("seat_id").annotate(n=Count("id")).filter(n__gt=1).exists(), \
        "a seat was sold twice"
    for order in Order.objects.filter(event=event):
        assert order.tickets.count() >= 1, f"order {order.pk} has no tickets"
        assert sum(order.tickets.values_list("price", flat=True)) == order.total
        ledger = WalletTransaction.objects.filter(reference=f"order:{order.pk}")
        assert list(ledger.values_list("amount", flat=True)) == [-order.total]
    top_ups = WalletTransaction.objects.filter(kind="top_up").aggregate(s=Sum("amount"))["s"]
    balances = Wallet.objects.aggregate(s=Sum("balance"))["s"]
    sales = Order.objects.aggregate(s=Sum("total"))["s"] or 0
    assert balances + sales == top_ups
    tickets_without_ledger = Ticket.objects.filter(event=event).exclude(
        order__in=Order.objects.filter(
            pk__in=[int(r.split(":")[1]) for r in WalletTransaction.objects.filter(
                reference__startswith="order:").values_list("reference", flat=True)]
        )
    )
    assert not tickets_without_ledger.exists()


def _metric(server, name: str) -> float:
    text = httpx.get(server.url("/metrics"), timeout=10).text
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(name) and not line.startswith("#")]
    return sum(values)


# --- Redis restarted in the middle of a sale --------------------------------------


@pytest.mark.postgres
@needs_redis_server
@pytest.mark.django_db(transaction=True)
def test_redis_restart_mid_sale_answers_503_then_recovers_from_the_database(tmp_path):
    secret_key = "faults-" + secrets.token_hex(16)
    event, seat = _sale()
    alice, bob, carol, dave = _buyers(4, secret_key)
    with redis_process(tmp_path) as redis, running_server(
        tmp_path, SECRET_KEY=secret_key, REDIS_URL=redis.url, REDIS_PREFIX="faults-redis",
        TICKETING_HOLD_BACKEND="redis", THROTTLE_SEAT_HOLDS="1000/min",
    ) as server, httpx.Client(base_url=server.url(""), timeout=30) as http:
        holds_url = f"/api/events/{event.pk}/holds/"

        def hold(headers, seat_ids):
            return http.post(holds_url, json={"seat_ids": seat_ids}, headers=headers)

        # Before the crash: Alice bought two seats, Bob and Carol hold one each.
        alice_hold = hold(alice, seat[0:2]).json()["token"]
        assert http.post(f"/api/holds/{alice_hold}/purchase/", headers=alice).status_code == 201
        bob_hold = hold(bob, [seat[2]]).json()["token"]
        carol_hold = hold(carol, [seat[3]]).json()["token"]

        redis.stop()
        # During the outage every call that needs the seat locks says so, and writes nothing.
        for response in (
            hold(dave, [seat[4]]),
            http.patch(f"/api/holds/{carol_hold}/", headers=carol),
            http.delete(f"/api/holds/{carol_hold}/", headers=carol),
            http.post(f"/api/holds/{carol_hold}/purchase/",
                      headers={**carol, "Idempotency-Key": "carol-1"}),
            http.get(f"/api/events/{event.pk}/seats/", headers=dave),
        ):
            body = _assert_error(response, 503, "seat_locks_unavailable")
            assert "try again" in body["detail"]
        assert SeatHold.objects.get(token=carol_hold).status == "active"
        assert not Order.objects.filter(hold_token=carol_hold).exists()
        assert SeatHold.objects.filter(event=event).count() == 3
        _assert_error(http.get("/readyz"), 503, "not_ready")

        redis.start()  # same port, no keys at all
        # The service's pool reconnects by itself: no restart.
        wait_for(lambda: hold(dave, [seat[4]]).status_code == 201, timeout=30,
                 what="a hold to succeed after Redis came back")
        assert http.get("/readyz").status_code == 200
        # The seat map came back from the database: sold and held seats are not free.
        for taken in ([seat[0]], [seat[1]], [seat[2]], [seat[3]]):
            body = _assert_error(hold(dave, taken), 409, "seats_unavailable")
            assert body["seats"] == taken
        seat_map = http.get(f"/api/events/{event.pk}/seats/", headers=dave)
        assert seat_map.status_code == 200, seat_map.text
        statuses = {s["id"]: s["status"] for s in seat_map.json()["seats"]}
        assert [statuses[s] for s in seat[:6]] == ["sold", "sold", "held", "held", "held", "free"]
        # Holds that were live when Redis died still belong to their owners.
        assert http.patch(f"/api/holds/{carol_hold}/", headers=carol).status_code == 200
        assert http.post(f"/api/holds/{bob_hold}/purchase/", headers=bob).status_code == 201
        assert http.post(f"/api/holds/{carol_hold}/purchase/",
                         headers={**carol, "Idempotency-Key": "carol-1"}).status_code == 201
        assert _metric(server, "tombola_seat_map_restores_total") >= 1

    sold = Ticket.objects.filter(event=event, status="valid").values_list("seat_id", flat=True)
    assert sorted(sold) == seat[0:4]
    _assert_money_and_seats_add_up(event)


# --- PostgreSQL unavailable for a moment --------------------------------------------


def _ws_frames_until_close(url: str) -> tuple[list[dict], int | None]:
    frames = []
    with websockets.sync.client.connect(url, open_timeout=30) as ws:
        try:
            while True:
                frames.append(json.loads(ws.recv(timeout=30)))
        except websockets.exceptions.ConnectionClosed as closed:
            return frames, closed.rcvd.code if closed.rcvd else None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_cut_answers_503_writes_nothing_half_way_and_recovers_alone(tmp_path):
    from django.conf import settings
    from django.db import connection

    secret_key = "faults-" + secrets.token_hex(16)
    event, seat = _sale()
    buyers = _buyers(6, secret_key)
    db = settings.DATABASES["default"]
    with tcp_proxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as proxy:
        database_url = (f"postgres://{db['USER']}@127.0.0.1:{proxy.port}"
                        f"/{connection.settings_dict['NAME']}")
        with running_server(tmp_path, SECRET_KEY=secret_key, DATABASE_URL=database_url) as server, \
                httpx.Client(base_url=server.url(""), timeout=60) as http:
            tokens = []
            for i, headers in enumerate(buyers):
                response = http.post(f"/api/events/{event.pk}/holds/",
                                     json={"seat_ids": [seat[i]]}, headers=headers)
                assert response.status_code == 201, response.text
                tokens.append(response.json()["token"])

            # Purchases in flight when PostgreSQL goes away: each commits whole or not at all.
            results: dict[int, httpx.Response] = {}

            def buy(i: int) -> None:
                with httpx.Client(base_url=server.url(""), timeout=60) as own:
                    results[i] = own.post(f"/api/holds/{tokens[i]}/purchase/", headers=buyers[i])

            # Through the pool's open connections or new ones (DB_POOL): any traffic.
            before = proxy.chunks_forwarded
            threads = [threading.Thread(target=buy, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            wait_for(lambda: proxy.chunks_forwarded > before, timeout=30,
                     what="a purchase to reach the database")
            proxy.cut()
            for thread in threads:
                thread.join(timeout=90)
            for i, response in results.items():
                assert response.status_code in (201, 503), (i, response.text)
                if response.status_code == 503:
                    _assert_error(response, 503, "database_unavailable")
            assert proxy.refuses()

            # While it is down: 503 JSON from DRF views, plain Django views, /readyz;
            # a WebSocket gets an error frame and close 4503.
            _assert_error(http.get("/api/wallet/", headers=buyers[5]), 503, "database_unavailable")
            _assert_error(http.post(f"/api/holds/{tokens[5]}/purchase/", headers=buyers[5]),
                          503, "database_unavailable")
            _assert_error(http.get(f"/screen/events/{event.pk}/?key=x"), 503,
                          "database_unavailable")
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"].startswith("unavailable")
            frames, close_code = _ws_frames_until_close(server.ws_url(f"/ws/events/{event.pk}/"))
            assert [f.get("code") for f in frames] == ["database_unavailable"]
            assert close_code == 4503

            proxy.restore()
            # No restart: the next requests open fresh connections.
            wait_for(lambda: http.get("/readyz").status_code == 200, timeout=30,
                     what="/readyz to recover")
            assert http.get("/api/wallet/", headers=buyers[5]).status_code == 200
            for i in range(6):
                response = http.post(f"/api/holds/{tokens[i]}/purchase/", headers=buyers[i])
                if results.get(i) is not None and results[i].status_code == 201:
                    _assert_error(response, 409, "hold_already_purchased")
                else:
                    # Either it now buys, or the cut came after its commit and it had bought.
                    assert response.status_code in (201, 409), response.text
                    if response.status_code == 409:
                        assert response.json()["code"] == "hold_already_purchased"
            with websockets.sync.client.connect(
                    server.ws_url(f"/ws/events/{event.pk}/"), open_timeout=30) as ws:
                assert json.loads(ws.recv(timeout=30))["type"] == "snapshot"

    bought = Order.objects.filter(event=event).values_list("hold_token", flat=True)
    assert sorted(bought) == sorted(tokens)
    assert sorted(Ticket.objects.filter(event=event, status="valid").values_list(
        "seat_id", flat=True)) == seat[:6]
    _assert_money_and_seats_add_up(event)
