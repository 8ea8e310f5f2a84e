"""200 buyers over HTTP against real daphne processes race for 50 seats.

Invariants afterwards: no seat sold twice, every sold seat has exactly one
ticket, and money adds up: sum(balances) + sales == sum(top-ups).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from contextlib import ExitStack

import httpx
import pytest
from django.db.models import Count, Sum
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import AccessToken

from core.models import User
from tests.servers import running_server
from tests.ticketing_helpers import one_section_sale
from ticketing.models import Order, SeatStatusChange, Ticket, Wallet, WalletTransaction
from ticketing.services import wallets

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BUYERS, ROWS, SEATS_PER_ROW, PRICE, SERVERS = 200, 5, 10, 1_000, 2
# Daphne runs each in-flight sync request in its own thread with its own database
# connection; PostgreSQL allows 100 connections on this box, shared with other runs.
IN_FLIGHT = 40


def _setup_sale():
    return one_section_sale(rows=ROWS, seats_per_row=SEATS_PER_ROW, price=PRICE,
                            name="Race Arena")


def _buyers(secret_key: str) -> list[tuple[User, str]]:
    users = User.objects.bulk_create(
        User(email=f"racer{i}@example.com", password="!") for i in range(BUYERS)
    )
    rng = random.Random(7)
    signer = TokenBackend("HS256", signing_key=secret_key)
    out = []
    for user in users:
        # Some buyers cannot afford what they hold: their purchase must change nothing.
        wallets.wallet_credit(user=user, amount=rng.choice([500, 2_000, 5_000]),
                              reference="test funds", actor=None)
        out.append((user, signer.encode(AccessToken.for_user(user).payload)))
    return out


async def _race(servers, event_id: int, seat_ids: list[int], tokens: list[str]) -> list[tuple]:
    rng = random.Random(11)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        # Gate buyers here: httpcore's pool slows down with many queued requests.
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def buyer(i: int, token: str):
            async with gate:
                return await one_buyer(i, token)

        async def one_buyer(i: int, token: str):
            base = servers[i % len(servers)].url("")
            auth = {"Authorization": f"Bearer {token}"}
            if i % 5 == 0:
                body = {"best_available": {"count": rng.randint(1, 3)}}
            else:
                count = rng.randint(1, 4)
                start = rng.randrange(len(seat_ids) - count + 1)
                body = {"seat_ids": seat_ids[start : start + count]}
            held = await client.post(f"{base}/api/events/{event_id}/holds/", json=body,
                                     headers=auth)
            if held.status_code != 201:
                return ("hold", held.status_code, held.json())
            bought = await client.post(
                f"{base}/api/holds/{held.json()['token']}/purchase/",
                headers={**auth, "Idempotency-Key": secrets.token_hex(8)},
            )
            return ("purchase", bought.status_code, bought.json())

        return await asyncio.gather(*(buyer(i, t) for i, t in enumerate(tokens)))


@pytest.mark.parametrize("backend", ["db", pytest.param("redis", marks=pytest.mark.redis)])
def test_200_buyers_racing_for_50_seats_never_oversell(tmp_path, backend):
    secret_key = "race-" + secrets.token_hex(16)
    event, seat_ids = _setup_sale()
    buyers = _buyers(secret_key)
    with ExitStack() as stack:
        servers = [
            stack.enter_context(running_server(
                tmp_path, SECRET_KEY=secret_key, TICKETING_HOLD_BACKEND=backend,
                THROTTLE_SEAT_HOLDS="1000/min",
            ))
            for _ in range(SERVERS)
        ]
        results = asyncio.run(_race(servers, event.pk, seat_ids, [t for _, t in buyers]))

    assert not [r for r in results if r[1] >= 500], [r for r in results if r[1] >= 500][:3]
    purchases = [body for step, status, body in results if step == "purchase" and status == 201]
    assert purchases, "somebody must have bought something"
    assert any(step == "hold" and status == 409 for step, status, _ in results)
    assert any(status == 402 for _, status, _ in results)

    valid = Ticket.objects.filter(event=event, status="valid")
    per_seat = valid.values("seat_id").annotate(n=Count("id"))
    assert all(row["n"] == 1 for row in per_seat), "a seat was sold twice"
    sold_in_history = set(
        SeatStatusChange.objects.filter(event=event, to_status="sold").values_list("seat_id",
                                                                                 flat=True)
    )
    assert sold_in_history == set(valid.values_list("seat_id", flat=True))
    assert Order.objects.filter(event=event).count() == len(purchases)
    assert valid.count() == sum(len(p["tickets"]) for p in purchases)

    top_ups = WalletTransaction.objects.filter(kind="top_up").aggregate(s=Sum("amount"))["s"]
    balances = Wallet.objects.aggregate(s=Sum("balance"))["s"]
    sales = Order.objects.aggregate(s=Sum("total"))["s"]
    assert balances + sales == top_ups
