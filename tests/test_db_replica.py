"""Reads from a real PostgreSQL streaming replica (core/replica.py), never stale.

Run where a replica streams from the test run's primary (.ci/run starts one with
scripts/pg_replica and sets DATABASE_REPLICA_URL and PG_REPLICA_DIR); deselected
elsewhere. The tests commit (transaction=True): the replica only ever sees
committed writes, replayed from the primary's WAL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from core import replica
from live.models import Entry
from tests.factories import draw_url, make_draw
from tests.ticketing_helpers import hold, one_section_sale

pytestmark = [pytest.mark.postgres, pytest.mark.replica,
              pytest.mark.django_db(transaction=True, databases=["default", "replica"])]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _replica_in_use(settings):
    # Generous: on a loaded machine replay can trail by more than the default 0.2 s, and
    # these tests check where a fresh read is served, not how long the wait may be.
    settings.REPLICA_MAX_WAIT_SECONDS = 5
    replica.reset()
    yield
    replica.reset()


def on_replica(queries: CaptureQueriesContext, table: str) -> bool:
    return any(table in query["sql"] for query in queries.captured_queries)


def replica_sql(statement: str) -> None:
    with connections["replica"].cursor() as cursor:
        cursor.execute(statement)


def wait_until_the_replica_serves(timeout: float = 30) -> None:
    """Until the replica (back, or replaying again) has caught up with the primary."""
    deadline = time.monotonic() + timeout
    while True:
        replica.reset()
        if replica.read_alias() == replica.REPLICA:
            return
        assert time.monotonic() < deadline, "the replica never caught up again"
        time.sleep(0.2)


def seat_statuses(api, event) -> dict[int, str]:
    response = api.get(f"/api/events/{event.pk}/seats/")
    assert response.status_code == 200, response.content
    return {seat["id"]: seat["status"] for seat in response.json()["seats"]}


def test_the_replica_is_a_streaming_standby_of_the_primary():
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_database()")
        in_recovery, name = cursor.fetchone()
    assert in_recovery
    assert name == connections["default"].settings_dict["NAME"]


def test_a_hold_then_the_seat_map_at_once_shows_it_held_read_from_the_replica(user_api):
    event, seat_ids = one_section_sale(rows=2, seats_per_row=5, price=100)
    assert hold(user_api, event, seat_ids[:2]).status_code == 201
    with CaptureQueriesContext(connections["replica"]) as queries:
        statuses = seat_statuses(user_api, event)  # immediately: no sleep, no retry
    assert [statuses[s] for s in seat_ids[:3]] == ["held", "held", "free"]
    assert on_replica(queries, "ticketing_seat")


def test_a_lagging_replica_sends_the_read_to_the_primary_and_is_left_alone(user_api, settings):
    settings.REPLICA_MAX_WAIT_SECONDS = 0.1
    event, seat_ids = one_section_sale(rows=1, seats_per_row=4, price=100)
    replica_sql("SELECT pg_wal_replay_pause()")
    try:
        assert hold(user_api, event, seat_ids[:1]).status_code == 201
        with CaptureQueriesContext(connections["replica"]) as queries:
            assert seat_statuses(user_api, event)[seat_ids[0]] == "held"  # fresh, from the primary
        assert not on_replica(queries, "ticketing_seat")
        with CaptureQueriesContext(connections["replica"]) as queries:
            assert seat_statuses(user_api, event)[seat_ids[0]] == "held"
        assert queries.captured_queries == []  # not even asked while left alone
    finally:
        replica_sql("SELECT pg_wal_replay_resume()")
    settings.REPLICA_MAX_WAIT_SECONDS = 5
    wait_until_the_replica_serves()
    with CaptureQueriesContext(connections["replica"]) as queries:
        assert seat_statuses(user_api, event)[seat_ids[0]] == "held"
    assert on_replica(queries, "ticketing_seat")  # caught up: back on the replica


def test_reads_inside_a_transaction_on_the_primary_stay_on_the_primary():
    from django.db import transaction

    with transaction.atomic():
        assert replica.read_alias() == replica.PRIMARY
    assert replica.read_alias() == replica.REPLICA


def test_a_participants_export_streams_from_the_replica_past_one_chunk(staff_api, make_user):
    from live.exports import EXPORT_CHUNK

    draw = make_draw()
    users = [make_user(email=f"r{i}@example.com") for i in range(3)]
    Entry.objects.bulk_create([Entry(draw=draw, user=users[i % 3], ballot_no=i // 3 + 1,
                                     position=i + 1)
                               for i in range(EXPORT_CHUNK + 5)])
    with CaptureQueriesContext(connections["replica"]) as queries:
        response = staff_api.get(draw_url(draw, "participants.csv"))
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert response.status_code == 200
    lines = body.strip().splitlines()
    assert len(lines) == EXPORT_CHUNK + 6  # the header and every entry, in order
    assert [line.split(",")[1] for line in lines[1:4]] == ["1", "2", "3"]
    assert on_replica(queries, "live_entry")


def _replica_script(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "pg_replica"), *args], check=True,
                   timeout=120, capture_output=True)


def test_a_replica_that_is_down_sends_reads_to_the_primary_until_it_is_back(user_api, settings):
    where = os.environ.get("PG_REPLICA_DIR")
    if not where:
        pytest.skip("needs PG_REPLICA_DIR (scripts/pg_replica start) to stop the replica")
    event, seat_ids = one_section_sale(rows=1, seats_per_row=4, price=100)
    connections["replica"].close()
    _replica_script("stop", "--keep", where)
    try:
        assert hold(user_api, event, seat_ids[:1]).status_code == 201
        assert seat_statuses(user_api, event)[seat_ids[0]] == "held"
        assert replica.read_alias() == replica.PRIMARY  # left alone: no new attempt
    finally:
        _replica_script("restart", where)
    connections["replica"].close()
    wait_until_the_replica_serves()
    with CaptureQueriesContext(connections["replica"]) as queries:
        assert seat_statuses(user_api, event)[seat_ids[0]] == "held"
    assert on_replica(queries, "ticketing_seat")
