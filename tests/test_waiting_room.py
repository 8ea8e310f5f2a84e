"""The waiting room through its API, services, scheduler job and streams, on the line
store of the configuration (process memory on embedded defaults, Redis on the
server run). The store's own contract is tests/test_queue_line_contract.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from core.audit import AuditEntry
from core.streams import Viewer
from tests.conftest import assert_error, client_for
from tests.stream_helpers import verify_action
from tests.ticketing_helpers import Clock, fund, make_event, seats
from ticketing.models import WaitingRoom
from ticketing.queue_line import early_score, queue_line
from ticketing.services import holds, waiting_room
from ticketing.services.waiting_room import (
    adapt_rate,
    progress_every,
    waiting_rooms_admit,
)
from ticketing.streams import queue_stream

pytest_plugins = ["tests.ticketing_fixtures"]
# Committed for real: a room reaches its line's store after commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)



@pytest.fixture
def clock():
    """The line store's clock, driven by the test (the store is a process singleton)."""
    import time

    line = queue_line()
    clock = Clock(time.time())
    previous = line.clock
    line.clock = clock
    yield clock
    line.clock = previous



@pytest.fixture
def event(venue):
    return make_event(venue)


def open_room(event, staff, **settings):
    import time

    response = client_for(staff).put(f"/api/events/{event.pk}/waiting-room/",
                                     {"rate_per_minute": 60, **settings}, format="json")
    assert response.status_code in (200, 201), response.content
    clock = queue_line().clock
    if isinstance(clock, Clock):  # the test's clock: from now on, however slow the setup was
        clock.now = max(clock.now, time.time() + 0.5)
    return WaitingRoom.objects.get(event=event)


def tick(clock, seconds: float = 1.0) -> int:
    clock.now += seconds
    return waiting_rooms_admit()


def join(client, event) -> dict:
    response = client.post(f"/api/events/{event.pk}/queue/")
    assert response.status_code in (200, 201), response.content
    return response.json()


def hold_seats(client, event, seat_ids, queue_pass=None):
    headers = {"HTTP_QUEUE_PASS": queue_pass} if queue_pass else {}
    return client.post(f"/api/events/{event.pk}/holds/", {"seat_ids": seat_ids},
                       format="json", **headers)


# --- staff -------------------------------------------------------------------------


def test_staff_put_a_room_in_front_of_the_sale_and_read_its_figures(event, staff, user):
    response = client_for(staff).put(f"/api/events/{event.pk}/waiting-room/",
                                     {"rate_per_minute": 300, "pass_minutes": 5}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open" and body["rate_per_minute"] == 300
    assert body["max_rate_per_minute"] == 3000 and body["pass_minutes"] == 5
    assert body["figures"]["length"] == 0
    assert body["queue"] == {"join": f"/api/events/{event.pk}/queue/",
                             "stream": f"/ws/events/{event.pk}/queue/"}
    again = client_for(staff).put(f"/api/events/{event.pk}/waiting-room/",
                                  {"rate_per_minute": 120}, format="json")
    assert again.status_code == 200 and again.json()["rate_per_minute"] == 120
    assert queue_line().place(event.pk, None).rate_per_minute == 120  # copied to the line
    assert AuditEntry.objects.filter(action="waiting_room.configured").count() == 2
    assert_error(client_for(user).get(f"/api/events/{event.pk}/waiting-room/"), 403,
                 "permission_denied")


def test_staff_patch_some_settings_and_keep_the_others(event, staff, user):
    url = f"/api/events/{event.pk}/waiting-room/"
    assert_error(client_for(staff).patch(url, {"pass_minutes": 5}, format="json"), 404,
                 "queue_not_found")  # no room to change yet
    open_room(event, staff, rate_per_minute=300, pass_minutes=7, mode="adaptive",
              max_rate_per_minute=900)
    changed = client_for(staff).patch(url, {"pass_minutes": 5}, format="json")
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["pass_minutes"], body["rate_per_minute"], body["mode"],
            body["max_rate_per_minute"]) == (5, 300, "adaptive", 900)
    # A rate past the ceiling raises the ceiling with it (as PUT does).
    raised = client_for(staff).patch(url, {"rate_per_minute": 1200}, format="json").json()
    assert (raised["rate_per_minute"], raised["max_rate_per_minute"]) == (1200, 1200)
    assert queue_line().place(event.pk, None).rate_per_minute == 1200  # copied to the line
    for bad in ({"pass_minutes": 0}, {"rate_per_minute": "many"}, ["pass_minutes"],
                {"rate_per_minute": 10, "max_rate_per_minute": 5}):
        response = client_for(staff).patch(url, bad, format="json")
        assert response.status_code == 400, (bad, response.content)
    assert WaitingRoom.objects.get(event=event).pass_minutes == 5  # nothing half-written
    assert_error(client_for(user).patch(url, {"pass_minutes": 9}, format="json"), 403,
                 "permission_denied")


def test_room_settings_are_validated(event, staff):
    api = client_for(staff)
    url = f"/api/events/{event.pk}/waiting-room/"
    body = assert_error(api.put(url, {"rate_per_minute": 0}, format="json"), 400, "invalid")
    assert "rate_per_minute" in body["fields"]
    body = assert_error(api.put(url, {"rate_per_minute": 100, "max_rate_per_minute": 10},
                                format="json"), 400, "invalid")
    assert "max_rate_per_minute" in body["fields"]
    assert_error(api.put(url, {"mode": "turbo"}, format="json"), 400, "invalid")
    assert not WaitingRoom.objects.exists()
    assert_error(api.post(f"{url}pause/"), 404, "queue_not_found")


# --- the pass at the sale ----------------------------------------------------------------


def test_without_a_pass_holding_is_refused_with_the_way_in(event, staff, user):
    open_room(event, staff)
    body = assert_error(hold_seats(client_for(user), event, seats(event, "A", "1", 1)), 403,
                        "queue_required")
    assert body["reason"] == "missing"
    assert body["queue"]["join"] == f"/api/events/{event.pk}/queue/"
    assert not holds.SeatHold.objects.exists()


def test_a_buyer_joins_waits_is_admitted_holds_and_buys_with_the_pass(event, staff, user,
                                                                      clock):
    open_room(event, staff)
    api = client_for(user)
    fund(user)
    first = api.post(f"/api/events/{event.pk}/queue/")
    assert first.status_code == 201
    assert first.json()["me"]["state"] == "waiting" and first.json()["admission"] is None
    again = api.post(f"/api/events/{event.pk}/queue/")
    assert again.status_code == 200 and again.json()["me"] == first.json()["me"]
    tick(clock)
    tick(clock)
    place = api.get(f"/api/events/{event.pk}/queue/").json()
    assert place["me"]["state"] == "admitted" and place["served"] == 1
    token = place["admission"]["token"]
    held = hold_seats(api, event, seats(event, "A", "1", 1, 2), token)
    assert held.status_code == 201, held.content
    bought = api.post(f"/api/holds/{held.json()['token']}/purchase/", {}, format="json",
                      HTTP_QUEUE_PASS=token)
    assert bought.status_code == 201, bought.content
    figures = waiting_room.room_figures(event.pk)
    assert (figures["admitted"], figures["used"], figures["purchases"]) == (1, 1, 1)
    assert api.get(f"/api/events/{event.pk}/queue/").json()["admission"]["used"] is True


def test_a_pass_is_bound_to_its_account_and_event(event, staff, user, other_user, venue, clock):
    open_room(event, staff)
    join(client_for(user), event)
    tick(clock)
    tick(clock)
    token = client_for(user).get(f"/api/events/{event.pk}/queue/").json()["admission"]["token"]
    seat_ids = seats(event, "A", "1", 1)
    body = assert_error(hold_seats(client_for(other_user), event, seat_ids, token), 403,
                        "queue_required")
    assert body["reason"] == "invalid"
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert assert_error(hold_seats(client_for(user), event, seat_ids, tampered), 403,
                        "queue_required")["reason"] == "invalid"
    other_event = make_event(venue, starts_in=timedelta(days=30))
    open_room(other_event, staff)
    assert assert_error(hold_seats(client_for(user), other_event, seat_ids, token), 403,
                        "queue_required")["reason"] == "invalid"


def test_buying_needs_the_pass_too_unless_the_hold_came_before_the_room(event, staff, user,
                                                                      clock):
    fund(user)
    api = client_for(user)
    before = hold_seats(api, event, seats(event, "B", "1", 1))
    assert before.status_code == 201
    open_room(event, staff)
    join(api, event)
    tick(clock)
    tick(clock)
    token = api.get(f"/api/events/{event.pk}/queue/").json()["admission"]["token"]
    during = hold_seats(api, event, seats(event, "A", "1", 1), token)
    assert during.status_code == 201
    assert_error(api.post(f"/api/holds/{during.json()['token']}/purchase/", {}, format="json"),
                 403, "queue_required")
    assert api.post(f"/api/holds/{before.json()['token']}/purchase/", {},
                    format="json").status_code == 201  # held before the room existed


def test_an_unused_pass_expires_and_the_next_buyer_gets_in(event, staff, make_user, clock):
    room = open_room(event, staff, pass_minutes=1)
    buyers = [make_user(f"b{i}@example.com") for i in range(3)]
    for buyer in buyers:
        join(client_for(buyer), event)
    tick(clock)
    tick(clock)
    queue_line().set_rate(event.pk, 0.01)  # from now on only an expiry lets anyone in
    first = client_for(buyers[0]).get(f"/api/events/{event.pk}/queue/").json()
    token = first["admission"]["token"]
    tick(clock, 30)
    assert client_for(buyers[1]).get(f"/api/events/{event.pk}/queue/").json()["me"][
        "state"] == "waiting"
    tick(clock, room.pass_minutes * 60)
    assert client_for(buyers[0]).get(f"/api/events/{event.pk}/queue/").json()["me"][
        "state"] == "expired"
    assert client_for(buyers[1]).get(f"/api/events/{event.pk}/queue/").json()["me"][
        "state"] == "admitted"
    assert assert_error(hold_seats(client_for(buyers[0]), event, seats(event, "A", "1", 1),
                                   token), 403, "queue_required")["reason"] == "expired"
    assert waiting_room.room_figures(event.pk)["expired"] == 1


def test_closing_the_room_opens_the_sale_to_everyone(event, staff, user):
    open_room(event, staff)
    response = client_for(staff).post(f"/api/events/{event.pk}/waiting-room/close/")
    assert response.status_code == 200 and response.json()["status"] == "closed"
    assert hold_seats(client_for(user), event, seats(event, "A", "1", 1)).status_code == 201
    assert_error(client_for(user).post(f"/api/events/{event.pk}/queue/"), 409, "queue_closed")
    assert AuditEntry.objects.filter(action="waiting_room.closed").exists()


# --- the line ----------------------------------------------------------------------------


def test_a_few_hundred_buyers_are_shuffled_at_the_opening_then_first_come(venue, staff,
                                                                          make_user, clock):
    starts = timezone.now() + timedelta(minutes=20)
    event = make_event(venue, sale_starts_at=starts)
    room = open_room(event, staff, rate_per_minute=6000, opens_minutes_before_sale=30)
    early = [make_user(f"early{i}@example.com") for i in range(240)]
    for buyer in reversed(early):  # arrival order must not matter
        body = join(client_for(buyer), event)
        assert body["me"]["number"] is None and body["sale_started"] is False
    clock.now = starts.timestamp() + 0.5
    late = [make_user(f"late{i}@example.com") for i in range(60)]
    for buyer in late:
        clock.now += 0.001
        assert join(client_for(buyer), event)["me"]["state"] == "waiting"
    # Numbers are known from the opening on: positions follow from them.
    numbers = {b.pk: client_for(b).get(f"/api/events/{event.pk}/queue/").json()["me"]["number"]
               for b in early[:5] + late[:5]}
    assert sorted(numbers.values())[-5:] == [241, 242, 243, 244, 245]
    admitted: list[int] = []
    for _ in range(20):
        tick(clock)
        admitted = queue_line().admitted_log(event.pk)
        if len(admitted) == 300:
            break
    expected = sorted((b.pk for b in early), key=lambda pk: early_score(room.secret, pk))
    assert admitted == expected + [b.pk for b in late]  # nobody twice, nobody skipped
    assert expected != sorted(b.pk for b in early)


def test_one_place_per_mailbox(event, staff, make_user):
    open_room(event, staff)
    first = make_user("anna.smith+one@gmail.com")
    second = make_user("annasmith+two@gmail.com")
    join(client_for(first), event)
    assert_error(client_for(second).post(f"/api/events/{event.pk}/queue/"), 409,
                 "queue_mailbox_taken")


def test_joining_is_refused_before_the_room_opens_and_for_events_without_one(venue, staff,
                                                                             user):
    event = make_event(venue, sale_starts_at=timezone.now() + timedelta(hours=3))
    assert_error(client_for(user).post(f"/api/events/{event.pk}/queue/"), 404,
                 "queue_not_found")
    open_room(event, staff, opens_minutes_before_sale=60)
    body = assert_error(client_for(user).post(f"/api/events/{event.pk}/queue/"), 409,
                        "queue_not_open")
    assert body["opens_at"].startswith(str((timezone.now() + timedelta(hours=2)).year))


def test_leaving_and_the_anonymous_view(event, staff, user, api):
    open_room(event, staff)
    join(client_for(user), event)
    public = api.get(f"/api/events/{event.pk}/queue/").json()
    assert (public["length"], public["me"], public["admission"]) == (1, None, None)
    assert_error(api.post(f"/api/events/{event.pk}/queue/"), 401, "not_authenticated")
    assert client_for(user).delete(f"/api/events/{event.pk}/queue/").status_code == 204
    assert_error(client_for(user).delete(f"/api/events/{event.pk}/queue/"), 404, "not_in_line")
    assert api.get(f"/api/events/{event.pk}/queue/").json()["length"] == 0


def test_pause_and_resume_through_the_api(event, staff, make_user, clock):
    open_room(event, staff)
    for i in range(5):
        join(client_for(make_user(f"p{i}@example.com")), event)
    tick(clock)
    assert tick(clock, 2) == 2
    staff_api = client_for(staff)
    assert staff_api.post(f"/api/events/{event.pk}/waiting-room/pause/").json()[
        "status"] == "paused"
    assert tick(clock, 5) == 0
    assert staff_api.post(f"/api/events/{event.pk}/waiting-room/resume/").json()[
        "status"] == "open"
    assert tick(clock, 1) == 1  # a second's worth: no backlog from the pause
    assert AuditEntry.objects.filter(action="waiting_room.paused").exists()


def test_a_line_lost_by_its_store_is_configured_again_from_the_database(event, staff, user):
    open_room(event, staff, rate_per_minute=90)
    queue_line().drop(event.pk)
    assert join(client_for(user), event)["rate_per_minute"] == 90


# --- streams -----------------------------------------------------------------------------


@pytest.fixture
def every_move_told(monkeypatch):
    """Each move's progress at once (the Redis store's ticks pass in real time: these
    tests move the line faster than the cadence test_a_short_line_hears_a_move_once_a_second
    checks)."""
    from ticketing.services import waiting_room

    monkeypatch.setattr(waiting_room, "PROGRESS_MOVED_SECONDS", 0.0)


def test_the_queue_stream_moves_a_waiting_buyer_to_the_front(event, staff, make_user, clock,
                                                            every_move_told):
    open_room(event, staff, rate_per_minute=120)
    buyers = [make_user(f"s{i}@example.com") for i in range(6)]
    for buyer in buyers:
        join(client_for(buyer), event)
    viewer = Viewer(user=buyers[4])
    tick(clock)
    messages = verify_action(kind="queue", object_id=event.pk, viewer=viewer,
                             action=lambda: tick(clock, 2))
    assert messages[-1]["type"] == "queue.progress" and messages[-1]["data"]["served"] == 4
    snapshot = waiting_room_snapshot(event, viewer)
    assert snapshot["me"] == {"state": "waiting", "number": 5, "position": 1, "eta_seconds": 1}
    verify_action(kind="queue", object_id=event.pk, viewer=viewer, action=lambda: tick(clock))
    assert waiting_room_snapshot(event, viewer)["me"]["state"] == "admitted"
    # Anonymous viewers (venue screens) see the line without a place.
    verify_action(kind="queue", object_id=event.pk, viewer=Viewer(user=AnonymousUser()),
                  action=lambda: tick(clock))


def waiting_room_snapshot(event, viewer):
    from ticketing.streams import queue_snapshot

    return queue_snapshot(event.pk, viewer)


def test_the_staff_stream_is_for_staff_and_carries_the_figures(event, staff, user, clock):
    open_room(event, staff)
    join(client_for(user), event)
    from ticketing.streams import queue_staff_snapshot

    assert queue_staff_snapshot(event.pk, Viewer(user=user)) is None
    messages = verify_action(kind="queue_staff", object_id=event.pk, viewer=Viewer(user=staff),
                             action=lambda: (tick(clock), tick(clock)))
    assert messages[-1]["data"]["admitted"] == 1 and messages[-1]["data"]["length"] == 0


def test_a_quiet_line_still_reports_every_few_seconds(event, staff, clock):
    open_room(event, staff)
    from core import streams

    before = streams.last_seq(queue_stream(event.pk))
    waiting_rooms_admit()
    waiting_rooms_admit()  # the same period: nothing moved, nothing new to say
    history = streams.history_since(queue_stream(event.pk), before)
    # The first call after the sale's start also says the numbers are final.
    assert [m["type"] for m in history.messages] == ["queue.opened", "queue.progress"]


def test_a_long_line_hears_its_progress_less_often(event, staff, make_user, clock,
                                                  monkeypatch):
    """Each queue.progress goes to every phone in the line: a long line's moves are
    published at most every few seconds (the admitted hear queue.turn at once)."""
    import time

    from core import streams
    from ticketing.services import waiting_room

    monkeypatch.setattr(waiting_room, "PROGRESS_FRAMES_PER_SECOND", 2)  # 8 waiting: 4 s
    monkeypatch.setattr(waiting_room, "PROGRESS_QUIET_SECONDS", 0.01)
    open_room(event, staff)
    tick(clock, 0)  # the opening, while nobody waits: claims 0.01 s
    time.sleep(0.05)  # (the Redis store's claims expire in real time)
    for i in range(10):
        join(client_for(make_user(f"long{i}@example.com")), event)
    before = streams.last_seq(queue_stream(event.pk))
    assert tick(clock, 2) == 2  # moved: published, and the next 4 s claimed
    assert tick(clock) == 1  # moved again within them: not published
    history = streams.history_since(queue_stream(event.pk), before)
    assert [m["data"]["served"] for m in history.messages] == [2]


def test_a_short_line_hears_a_move_once_a_second(event, staff, make_user, clock, monkeypatch):
    """Admission runs ten times a second; a phone hears the line move at most once per
    PROGRESS_MOVED_SECONDS, and a move it was not told is told once that passes, even
    if nothing moves after it."""
    import time

    from core import streams
    from ticketing.services import waiting_room

    # Wider than the defaults (1 s, 2 s) so that a slow machine cannot blur the windows.
    monkeypatch.setattr(waiting_room, "PROGRESS_MOVED_SECONDS", 1.5)
    monkeypatch.setattr(waiting_room, "PROGRESS_QUIET_SECONDS", 30.0)
    open_room(event, staff, rate_per_minute=120)
    for i in range(6):
        join(client_for(make_user(f"short{i}@example.com")), event)
    tick(clock, 0)  # the opening: it moves nobody, yet
    assert tick(clock, 1) == 2  # told: served 2
    before = streams.last_seq(queue_stream(event.pk))
    assert tick(clock, 0.5) == 1  # a move within the window: not told yet
    assert streams.history_since(queue_stream(event.pk), before).messages == []
    time.sleep(1.6)  # (the Redis store's ticks pass in real time)
    clock.now += 1.6
    waiting_room.queue_line().set_rate(event.pk, 0.0001)  # nothing moves from now on
    assert waiting_rooms_admit() == 0  # no move now, yet the untold one is told
    history = streams.history_since(queue_stream(event.pk), before)
    assert [m["data"]["served"] for m in history.messages] == [3]
    assert waiting_rooms_admit() == 0  # and only once: the quiet period restarted
    assert len(streams.history_since(queue_stream(event.pk), before).messages) == 1


@pytest.mark.parametrize(("length", "moved", "seconds"), [
    (10, True, 1.0),  # a short line hears a move within a second (not ten times)
    (10, False, 2.0),  # and every 2 s when it does not move
    (12_000, True, 3.0),  # 4,000 frames a second at most
    (12_000, False, 3.0),
    (200_000, True, 5.0),  # and never less than every 5 s
])
def test_progress_cadence(length, moved, seconds):
    assert progress_every(length, moved=moved) == seconds


# --- the adaptive rate ------------------------------------------------------------------


@pytest.mark.parametrize(("p95", "expected"), [
    (None, 600.0),  # no purchases measured: keep the rate
    (400.0, 420.0),  # over the target: back off
    (100.0, 730.0),  # well under: admit more
    (200.0, 600.0),  # near the target: hold
])
def test_the_adaptive_rate_follows_latency(p95, expected):
    assert adapt_rate(current=600.0, p95_ms=p95, target_ms=250, floor=1,
                      ceiling=6000) == pytest.approx(expected)


def test_an_adaptive_room_slows_down_when_purchases_get_slow(event, staff, clock):
    import time

    open_room(event, staff, mode="adaptive", rate_per_minute=600)
    now = time.time()
    queue_line().latency_add(event.pk, [(now, 900.0)] * 10)
    waiting_rooms_admit()
    assert queue_line().place(event.pk, None).rate_per_minute == pytest.approx(420.0)


def test_hold_and_purchase_latency_under_a_room_is_reported(event, staff, user, clock):
    open_room(event, staff)
    api = client_for(user)
    join(api, event)
    tick(clock)
    tick(clock)
    token = api.get(f"/api/events/{event.pk}/queue/").json()["admission"]["token"]
    assert hold_seats(api, event, seats(event, "A", "1", 1), token).status_code == 201
    waiting_room.latency.drain()
    import time

    assert len(queue_line().latency_since(event.pk, time.time() - 60)) == 1


# --- schedulers killed mid-admission -------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_schedulers_killed_mid_admission_lose_nobody_and_admit_nobody_twice(event, staff,
                                                                              tmp_path):
    """Two real schedulers admit a line of 400 at 3,000 a minute while the test kills them
    in turn with SIGKILL whenever the line has just moved, and starts each again."""
    import random
    import signal
    import subprocess
    import sys
    import time

    from tests.servers import ROOT, server_env

    waiting_room.waiting_room_configure(event=event, actor=staff, rate_per_minute=3000)
    line = queue_line()
    buyers = list(range(10_001, 10_401))
    for user_id in buyers:
        assert line.join(event.pk, user_id, "").outcome == "joined"
    env = server_env(tmp_path, SCHEDULER_TICK_SECONDS="0.2")

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "manage.py", "run_scheduler"], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    schedulers = [start(), start()]
    kills = 0
    rng = random.Random(13)
    deadline = time.monotonic() + 120
    try:
        while len(line.admitted_log(event.pk)) < len(buyers) and time.monotonic() < deadline:
            # Kill while admitting: once the line has moved since the last kill (the
            # processes need a moment to start), at a random moment soon after.
            moved_from = len(line.admitted_log(event.pk))
            while (len(line.admitted_log(event.pk)) == moved_from
                   and time.monotonic() < deadline):
                time.sleep(0.05)
            time.sleep(rng.uniform(0, 0.3))
            victim = kills % 2
            schedulers[victim].send_signal(signal.SIGKILL)
            schedulers[victim].wait(timeout=10)
            kills += 1
            schedulers[victim] = start()
    finally:
        for process in schedulers:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
    admitted = line.admitted_log(event.pk)
    assert kills >= 3
    assert admitted == buyers  # everyone, in line order: nobody lost, skipped or twice
    assert {line.place(event.pk, user_id).state for user_id in buyers} == {"admitted"}
    figures = line.stats(event.pk)
    assert (figures.admitted, figures.served, figures.length) == (400, 400, 0)


def test_a_room_rests_once_its_event_started(event, staff, user, clock):
    from core import streams

    open_room(event, staff)
    join(client_for(user), event)
    type(event).objects.filter(pk=event.pk).update(starts_at=timezone.now() - timedelta(hours=1))
    before = streams.last_seq(queue_stream(event.pk))
    assert tick(clock, 5) == 0
    assert streams.last_seq(queue_stream(event.pk)) == before  # no more progress messages


# --- review (issue 13) ---------------------------------------------------------------------


def test_the_line_of_a_draft_event_is_hidden_from_buyers(event, staff, user, api):
    """A room put in front of a sale still in draft: its line (and the sale's times) is
    no more visible than the event, and nobody but staff can join it."""
    open_room(event, staff)
    event.status = "draft"
    event.save(update_fields=["status"])
    assert_error(api.get(f"/api/events/{event.pk}/queue/"), 404, "queue_not_found")
    assert_error(client_for(user).get(f"/api/events/{event.pk}/queue/"), 404, "queue_not_found")
    assert_error(client_for(user).post(f"/api/events/{event.pk}/queue/"), 404, "queue_not_found")
    assert queue_line().place(event.pk, user.pk).state is None
    assert client_for(staff).get(f"/api/events/{event.pk}/queue/").status_code == 200
    event.status = "published"
    event.save(update_fields=["status"])
    assert client_for(user).post(f"/api/events/{event.pk}/queue/").status_code == 201


def test_the_staff_stream_needs_the_rooms_view_permission(event, staff, bare_staff):
    """Staff without the waiting room's view permission get 403 on its REST figures:
    the staff stream must not give them the same figures."""
    open_room(event, staff)
    from ticketing.streams import queue_staff_snapshot

    assert_error(client_for(bare_staff).get(f"/api/events/{event.pk}/waiting-room/"), 403,
                 "permission_denied")
    assert queue_staff_snapshot(event.pk, Viewer(user=bare_staff)) is None
    assert queue_staff_snapshot(event.pk, Viewer(user=staff)) is not None


def test_a_refused_hold_does_not_use_the_pass(event, staff, user, clock):
    """A hold that fails (seats taken, unknown seats, too many) must not turn a 10-minute
    pass into a 45-minute one for a buyer who holds nothing: the pass is used by a hold
    that is made."""
    open_room(event, staff, pass_minutes=1)
    api = client_for(user)
    join(api, event)
    tick(clock)
    tick(clock)
    token = api.get(f"/api/events/{event.pk}/queue/").json()["admission"]["token"]
    refused = hold_seats(api, event, [10**9], token)
    assert refused.status_code in (400, 404, 409), refused.content
    place = api.get(f"/api/events/{event.pk}/queue/").json()
    assert place["me"]["state"] == "admitted" and place["admission"]["used"] is False
    held = hold_seats(api, event, seats(event, "A", "1", 1), token)
    assert held.status_code == 201, held.content
    assert api.get(f"/api/events/{event.pk}/queue/").json()["admission"]["used"] is True


def test_pausing_an_adaptive_room_keeps_the_rate_it_reached(event, staff, clock):
    """Pause and resume change the status only: the rate the adaptive room learnt is kept
    (it was put back to the starting rate, a rush right after a pause for overload)."""
    import time

    open_room(event, staff, mode="adaptive", rate_per_minute=600)
    queue_line().latency_add(event.pk, [(time.time(), 900.0)] * 10)
    waiting_rooms_admit()
    assert queue_line().place(event.pk, None).rate_per_minute == pytest.approx(420.0)
    staff_api = client_for(staff)
    staff_api.post(f"/api/events/{event.pk}/waiting-room/pause/")
    staff_api.post(f"/api/events/{event.pk}/waiting-room/resume/")
    assert queue_line().place(event.pk, None).rate_per_minute == pytest.approx(420.0)


def test_a_buyer_who_left_sees_the_same_place_live_and_fresh(event, staff, make_user, clock):
    """The queue stream's contract for a buyer who left: once the line went past their
    place the fresh snapshot has no number; the reduced state must agree."""
    open_room(event, staff, rate_per_minute=120)
    buyers = [make_user(f"l{i}@example.com") for i in range(4)]
    for buyer in buyers:
        join(client_for(buyer), event)
    client_for(buyers[0]).delete(f"/api/events/{event.pk}/queue/")
    tick(clock)
    verify_action(kind="queue", object_id=event.pk, viewer=Viewer(user=buyers[0]),
                  action=lambda: tick(clock, 2))


def test_bad_event_ids_answer_json_errors(api, user):
    for method in ("get", "post", "delete"):
        response = getattr(client_for(user), method)("/api/events/99999999999999999999/queue/")
        assert response.status_code == 404, (method, response.status_code)
        assert response.json()["code"] in ("queue_not_found", "event_not_found", "not_found")


def test_a_pass_that_runs_out_while_the_hold_is_made_refuses_it_and_frees_the_seats(
        event, staff, user, clock, monkeypatch):
    open_room(event, staff, pass_minutes=1)
    api = client_for(user)
    join(api, event)
    tick(clock)
    tick(clock)
    token = api.get(f"/api/events/{event.pk}/queue/").json()["admission"]["token"]
    use = holds.queue_pass_use

    def late_use(**kwargs):
        clock.now += 61  # the pass runs out between its check and its use
        return use(**kwargs)

    monkeypatch.setattr(holds, "queue_pass_use", late_use)
    seat_ids = seats(event, "A", "1", 1)
    assert assert_error(hold_seats(api, event, seat_ids, token), 403,
                        "queue_required")["reason"] == "expired"
    assert not holds.SeatHold.objects.exists()
    monkeypatch.undo()
    client_for(staff).post(f"/api/events/{event.pk}/waiting-room/close/")  # a direct sale
    assert hold_seats(api, event, seat_ids).status_code == 201  # the seat was freed
