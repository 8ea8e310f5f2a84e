"""Redis Cluster (issue 18): every multi-key operation in one slot, the relay's sharded
subscriptions, the refusal of channel-layer fan-out, and a master failing over mid-sale.

The slot tests run everywhere (they compute slots the way a cluster does); the relay
test on any Redis; the rest on the cluster run of .ci/run
(`scripts/redis_cluster run -- ...`, REDIS_URL=redis+cluster://...), where the whole
Redis-touching suite also runs under the CROSSSLOT check of tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client
from asgiref.sync import sync_to_async
from django.conf import settings
from redis.crc import key_slot

from core import streams
from core.authentication import deny_key, user_tag
from core.ranking import MODES, Ranking, redis_keys
from core.streams import StreamKind, _RedisBackend
from tests import cluster_checks
from tests.stream_helpers import (
    connected,
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
    swap_stream_kind,
)
from ticketing.models import Ticket
from ticketing.queue_line import _keys as queue_keys
from ticketing.seat_locks import RedisSeatLocks

ROOT = Path(__file__).resolve().parent.parent


def slot(key: str) -> int:
    return key_slot(key.encode())


# --- every key a script or a MULTI touches together shares one slot -----------------


def test_a_streams_seq_and_history_share_a_slot():
    for stream in ("draw:1", "event:12", "seats:7", "screen:3", "queue:9"):
        seq, history = _RedisBackend._keys(stream)
        assert slot(seq) == slot(history), stream
    # ... and streams spread: they are not all on one node.
    assert len({slot(_RedisBackend._keys(f"seats:{n}")[0]) for n in range(50)}) > 40


def test_the_waitlist_rankings_keys_share_a_slot():
    for mode in MODES:
        keys = redis_keys(Ranking(mode=mode, skip=3))
        slots = {slot(k) for k in (keys.ready, keys.live, keys.building, keys.building_marker,
                                   keys.lock)}
        assert len(slots) == 1, keys


def test_a_users_throttle_counter_and_deny_entry_share_a_slot():
    from django.core.cache import cache

    counter = cache.make_key(f"throttle_hold_{user_tag(42)}_w1000")
    assert slot(counter) == slot(cache.make_key(deny_key(42)))
    assert slot(cache.make_key(deny_key(42))) != slot(cache.make_key(deny_key(43)))


def test_an_events_seat_locks_and_line_keys_share_a_slot():
    seat_keys = [RedisSeatLocks.seat_key(5, s) for s in range(1, 30)]
    seat_keys += [RedisSeatLocks.fence_key(5), RedisSeatLocks.loaded_key(5)]
    assert len({slot(k) for k in seat_keys}) == 1
    line = queue_keys(5, "conf", "line", "log", "latency", "tick")
    assert len({slot(k) for k in line}) == 1


def test_relay_channels_are_hash_tagged_per_shard():
    channels = {streams.fanout_channel(streams.fanout_shard(f"seats:{n}")) for n in range(500)}
    assert len(channels) == settings.STREAM_FANOUT_SHARDS
    assert len({slot(c) for c in channels}) == settings.STREAM_FANOUT_SHARDS


@pytest.mark.redis
def test_a_counter_of_another_slot_and_the_deny_entry_are_both_read():
    """An address's counter and a user's deny entry are in different slots: on a cluster
    they go as two commands, and the throttle still counts and still sees the entry."""
    from core.authentication import tokens_deny
    from core.throttles import ScopedThrottle

    tokens_deny(user_id=7)
    counter = "throttle_login_10.1.2.3_w1"
    assert ScopedThrottle.count_in_window(counter, timeout=60, deny_key=deny_key(7))[0] == 1
    count, entry = ScopedThrottle.count_in_window(counter, timeout=60, deny_key=deny_key(7))
    assert count == 2 and int(entry) > 0
    assert ScopedThrottle.count_in_window(counter, timeout=60,
                                          deny_key=deny_key(8)) == (3, None)


# --- the channel layer's fan-out on a cluster is refused at start --------------------


def test_group_fanout_on_a_cluster_is_refused_with_a_clear_error():
    env = {**os.environ, "REDIS_URL": "redis+cluster://127.0.0.1:1", "STREAM_FANOUT": "group",
           "DJANGO_SETTINGS_MODULE": "core.settings"}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode != 0
    assert "STREAM_FANOUT=group needs the channels-redis layer" in done.stderr
    assert "Use STREAM_FANOUT=relay" in done.stderr


def test_cluster_nodes_come_from_either_setting():
    env = {**os.environ, "REDIS_CLUSTER_URLS": "redis://10.0.0.1:7000, redis://10.0.0.2:7001",
           "DJANGO_SETTINGS_MODULE": "core.settings"}
    env.pop("REDIS_URL", None)
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "from core.redis import cluster_nodes; "
            "print(s.REDIS_CLUSTER, cluster_nodes(s.REDIS_URL), s.CHANNEL_LAYERS['default'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "True [('10.0.0.1', 7000), ('10.0.0.2', 7001)]" in done.stdout
    assert "InMemoryChannelLayer" in done.stdout


# --- the relay subscribes to the shards of its sockets' streams only ------------------


def _subscribers(channel: str) -> int:
    """SSUBSCRIBE connections to `channel`, asked of the node that owns it."""
    from core.redis import get_redis

    client = get_redis()
    if settings.REDIS_CLUSTER:
        client = client.get_node_from_key(channel).redis_connection
    return int(client.execute_command("PUBSUB", "SHARDNUMSUB", channel)[1])


@pytest.mark.redis
@pytest.mark.django_db
async def test_a_worker_subscribes_only_to_the_shards_of_its_sockets_streams(settings):
    from consumers.relay import relay

    settings.STREAM_FANOUT = "relay"
    kind = StreamKind(name="event", snapshot=lambda event_id, viewer: {"id": event_id})
    watched, other = "event:11", next(
        f"event:{n}" for n in range(12, 500)
        if streams.fanout_shard(f"event:{n}") != streams.fanout_shard("event:11"))
    watched_channel = streams.fanout_channel(streams.fanout_shard(watched))
    other_channel = streams.fanout_channel(streams.fanout_shard(other))
    subscribers = sync_to_async(_subscribers)
    with swap_stream_kind(kind):
        ws = await connected("/ws/events/11/")
        assert (await receive(ws))["type"] == "snapshot"
        assert relay.channels == {streams.fanout_channel("control"), watched_channel}
        assert await subscribers(watched_channel) == 1
        assert await subscribers(other_channel) == 0
        await sync_to_async(streams.publish)(other, "draw.winner", {"user": 2})
        published = await sync_to_async(streams.publish)(watched, "draw.winner", {"user": 1})
        frame = await receive(ws, timeout=10)
        assert (frame["stream"], frame["seq"]) == (watched, published["seq"])
        await ws.disconnect()
        # The last socket on the shard left: the worker unsubscribes.
        deadline = time.monotonic() + 10
        while await subscribers(watched_channel) != 0:
            assert time.monotonic() < deadline, "the shard stayed subscribed"
            await sync_to_async(time.sleep)(0.05)
    assert relay.channels == {streams.fanout_channel("control")}


# --- the CROSSSLOT check of the cluster run sees a cross-slot command -----------------

# Deselected unless REDIS_URL=redis+cluster://... (tests/conftest.py).
needs_cluster = pytest.mark.redis_cluster


@needs_cluster
def test_the_cluster_run_would_see_a_command_answered_crossslot():
    from core.redis import get_redis

    client = get_redis()
    a, b = "i18-check:{a}", "i18-check:{b}"
    node = client.get_node_from_key(a).redis_connection
    before = cluster_checks.crossslot_answers()
    with pytest.raises(Exception, match="hash to the same slot"):
        node.execute_command("MSET", a, "1", b, "2")
    assert cluster_checks.crossslot_answers() == before + 1
    cluster_checks.provoked += 1  # the session check counts the service's only


# --- a master fails over in the middle of a sale ---------------------------------------


class SeatStreamClient:
    """A seats-stream socket that records every seq it gets, on a thread."""

    def __init__(self, url: str) -> None:
        self.url, self.seqs, self.snapshot_seq, self.ws = url, [], None, None
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.opened.wait(30), f"could not connect to {url}"

    def _read(self) -> None:
        with websockets.sync.client.connect(self.url, subprotocols=["tombola.v1"],
                                            origin="http://127.0.0.1", open_timeout=30) as ws:
            self.ws = ws
            self.opened.set()
            try:
                while True:
                    frame = json.loads(ws.recv(timeout=120))
                    if frame["type"] == "snapshot":
                        self.snapshot_seq = frame["seq"]
                    elif frame.get("seq") is not None and frame["type"] != "heartbeat":
                        self.seqs.append(frame["seq"])
            except (websockets.exceptions.ConnectionClosed, TimeoutError):
                return

    def close(self) -> None:
        self.ws.close()
        self.thread.join(timeout=10)


@needs_cluster
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_master_failing_over_mid_sale_loses_no_hold_no_sale_and_no_message(tmp_path):
    from deploy.redis_cluster import RedisCluster
    from tests.servers import running_server
    from tests.test_faults_backends import _assert_money_and_seats_add_up, _buyers, _sale

    secret_key = "cluster-" + secrets.token_hex(16)
    event, seat = _sale(rows=2, seats_per_row=10)
    buyers = _buyers(10, secret_key)
    stream = f"seats:{event.pk}"
    cluster = RedisCluster.attach(settings.REDIS_URL)
    # The masters that hold this event's seat locks and its stream's seq and history.
    failing = {cluster.master_for_slot(slot(RedisSeatLocks.fence_key(event.pk))).port:
               "seat locks",
               cluster.master_for_slot(slot(_RedisBackend._keys(stream)[0])).port: "stream"}
    with running_server(tmp_path, SECRET_KEY=secret_key, TICKETING_HOLD_BACKEND="redis",
                        THROTTLE_SEAT_HOLDS="1000/min") as server, \
            httpx.Client(base_url=server.url(""), timeout=60) as http:
        watcher = SeatStreamClient(server.ws_url(f"/ws/events/{event.pk}/seats/"))

        def hold(i: int, seat_ids: list[int]) -> httpx.Response:
            return http.post(f"/api/events/{event.pk}/holds/", json={"seat_ids": seat_ids},
                             headers=buyers[i])

        def buy(i: int, token: str) -> httpx.Response:
            return http.post(f"/api/holds/{token}/purchase/",
                             headers={**buyers[i], "Idempotency-Key": f"buy-{i}"})

        # Before: two sales, and a hold that lives through the failover.
        for i in (0, 1):
            token = hold(i, [seat[i]]).json()["token"]
            assert buy(i, token).status_code == 201
        kept = hold(2, [seat[2]])
        assert kept.status_code == 201, kept.text

        # During: buyers 3-9 hold and buy while the masters fail over; two of them want
        # the same seat each time. A request the failover refuses (503) is retried.
        results: dict[int, list[int]] = {}
        errors: list[str] = []

        def sale(i: int) -> None:
            with httpx.Client(base_url=server.url(""), timeout=60) as own:
                wanted = [seat[3 + (i - 3) // 2 * 2], seat[4 + (i - 3) // 2 * 2]]
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    held = own.post(f"/api/events/{event.pk}/holds/",
                                    json={"seat_ids": wanted}, headers=buyers[i])
                    if held.status_code == 409:
                        results[i] = []  # the other buyer of the pair has them
                        return
                    if held.status_code == 503:
                        time.sleep(0.2)
                        continue
                    if held.status_code != 201:
                        errors.append(f"hold {i}: {held.status_code} {held.text}")
                        return
                    token = held.json()["token"]
                    while time.monotonic() < deadline:
                        bought = own.post(f"/api/holds/{token}/purchase/",
                                          headers={**buyers[i], "Idempotency-Key": f"sale-{i}"})
                        if bought.status_code == 201:
                            results[i] = wanted
                            return
                        if bought.status_code != 503:
                            errors.append(f"buy {i}: {bought.status_code} {bought.text}")
                            return
                        time.sleep(0.2)
                errors.append(f"buyer {i}: no answer but 503 for 60 s")

        threads = [threading.Thread(target=sale, args=(i,)) for i in range(3, 10)]
        for thread in threads:
            thread.start()
        for port in failing:
            master = next(n for n in cluster.nodes if n.port == port)
            cluster.failover(master)
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert all(cluster.role(n) == "slave" for n in cluster.nodes if n.port in failing)

        # After: the hold made before the failover is still its owner's, and sells.
        assert http.patch(f"/api/holds/{kept.json()['token']}/",
                          headers=buyers[2]).status_code == 200
        assert buy(2, kept.json()["token"]).status_code == 201
        # Holds work on the new masters: a taken seat is refused, a free one granted.
        assert hold(0, [seat[2]]).status_code == 409
        last = hold(1, [seat[19]])
        assert last.status_code == 201, last.text

        # The stream: whatever the socket missed, a resume from its last contiguous seq
        # fills in, and together they are every seq with none missing or repeated.
        time.sleep(1)
        watcher.close()
        current = streams.last_seq(stream)
        seen = sorted(set(watcher.seqs))
        contiguous = watcher.snapshot_seq or 0
        while contiguous + 1 in seen:
            contiguous += 1
        resumed = SeatStreamClient(
            server.ws_url(f"/ws/events/{event.pk}/seats/?since={contiguous}"))
        deadline = time.monotonic() + 30
        while (max(resumed.seqs, default=contiguous) < current
               and time.monotonic() < deadline):
            time.sleep(0.1)
        resumed.close()
        assert resumed.snapshot_seq is None, "the resume was answered with a reset"
        assert resumed.seqs == list(range(contiguous + 1, current + 1))
        assert current >= 8  # a delta per hold and per sale, at least

    sold = Ticket.objects.filter(event=event, status="valid").values_list("seat_id", flat=True)
    # One buyer of each pair got the pair's two seats; the lone buyer 9 got his.
    assert [bool(results[a]) + bool(results[b]) for a, b in ((3, 4), (5, 6), (7, 8))] == \
        [1, 1, 1]
    assert results[9]
    winners = [s for got in results.values() for s in got]
    assert sorted(sold) == sorted([seat[0], seat[1], seat[2], *winners])
    _assert_money_and_seats_add_up(event)
