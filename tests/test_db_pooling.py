"""PostgreSQL connections through the per-worker pool (DB_POOL, Django's OPTIONS["pool"]).

A real `manage.py serve` worker on the test database: its connections stay within the
pool however many requests its threads serve at once, and an export's server-side
cursor (a WITH HOLD cursor: Django declares one outside a transaction) keeps its
connection, taken from the pool, until the last row is streamed.
"""

from __future__ import annotations

import csv
import io
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from live.exports import EXPORT_CHUNK
from live.models import Entry
from tests.factories import draw_url, make_draw
from tests.servers import running_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

APP = "tombola-pool-test"


def test_the_settings_take_connections_from_a_pool():
    config = settings.DATABASES["default"]
    assert config["OPTIONS"]["pool"]["max_size"] == settings.DB_POOL_OPTIONS["max_size"]
    assert config["CONN_MAX_AGE"] == 0  # Django refuses persistent connections with a pool


class Backends(threading.Thread):
    """The most backends the worker (its application_name) has open at once."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        db = settings.DATABASES["default"]
        with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                             user=db["USER"], dbname="postgres", autocommit=True) as conn:
            while not self.stopped.wait(0.02):
                (count,) = conn.execute("SELECT count(*) FROM pg_stat_activity"
                                        " WHERE application_name = %s", [APP]).fetchone()
                self.peak = max(self.peak, count)


SECRET_KEY = "pool-" + secrets.token_hex(16)


def worker_env(**extra: str) -> dict[str, str]:
    db = settings.DATABASES["default"]
    url = (f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
           f"/{connection.settings_dict['NAME']}?application_name={APP}")
    return {"DATABASE_URL": url, "HTTP_THREADS": "8", "SECRET_KEY": SECRET_KEY, **extra}


def bearer(user) -> dict[str, str]:
    """An access token the worker (signing with SECRET_KEY) accepts."""
    from rest_framework_simplejwt.backends import TokenBackend
    from rest_framework_simplejwt.tokens import AccessToken

    token = TokenBackend("HS256", signing_key=SECRET_KEY).encode(AccessToken.for_user(user).payload)
    return {"Authorization": f"Bearer {token}"}


def test_a_worker_serving_many_requests_at_once_holds_no_more_than_its_pool(tmp_path, user):
    headers = bearer(user)
    backends = Backends()
    with running_server(tmp_path, **worker_env(DB_POOL="1", DB_POOL_MIN_SIZE="1",
                                                DB_POOL_MAX_SIZE="2")) as server:
        backends.start()
        with httpx.Client(timeout=30) as http, ThreadPoolExecutor(24) as pool:
            def me(_):
                return http.get(server.url("/api/accounts/me/"), headers=headers).status_code

            statuses = list(pool.map(me, range(96)))
        backends.stopped.set()
        backends.join(timeout=5)
    assert statuses == [200] * 96
    assert 1 <= backends.peak <= 2  # 8 threads, 24 clients: 2 connections


def test_an_export_streams_every_row_through_a_pooled_connection(tmp_path, staff, make_user):
    draw = make_draw()
    users = [make_user(email=f"p{i}@example.com") for i in range(3)]
    rows = 2 * EXPORT_CHUNK + 7  # three fetches from the cursor
    Entry.objects.bulk_create([Entry(draw=draw, user=users[i % 3], ballot_no=i // 3 + 1,
                                     position=i + 1) for i in range(rows)])
    headers = bearer(staff)
    env = worker_env(DB_POOL="1", DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="1")
    with running_server(tmp_path, **env) as server, httpx.Client(timeout=60) as http:
        url = server.url(draw_url(draw, "participants.csv"))
        with http.stream("GET", url, headers=headers) as answer:
            assert answer.status_code == 200
            body = b"".join(answer.iter_bytes()).decode("utf-8-sig")
        # The one pooled connection went back: the next request gets it.
        again = http.get(server.url("/api/accounts/me/"), headers=headers)
    lines = list(csv.reader(io.StringIO(body)))
    assert len(lines) == rows + 1
    assert [int(line[1]) for line in lines[1:]] == list(range(1, rows + 1))
    assert again.status_code == 200
