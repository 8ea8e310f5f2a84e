"""core.streams: per-stream seq, bounded history, resume, publish on commit only."""

import pytest
from django.db import transaction

from core import streams


def test_seq_increases_per_stream_independently():
    a1 = streams.publish("draw:1", "draw.created", {"id": 1})
    a2 = streams.publish("draw:1", "draw.countdown", {"seconds": 10})
    b1 = streams.publish("draw:2", "draw.created", {"id": 2})
    assert (a1["seq"], a2["seq"], b1["seq"]) == (1, 2, 1)
    assert set(a1) == {"stream", "seq", "type", "data", "ts"}
    assert a2 == {**a2, "stream": "draw:1", "type": "draw.countdown", "data": {"seconds": 10}}


def test_history_since_returns_missed_messages_in_order():
    for n in range(5):
        streams.publish("event:7", "tick", {"n": n})
    history = streams.history_since("event:7", 2)
    assert not history.reset
    assert [m["seq"] for m in history.messages] == [3, 4, 5]
    assert [m["data"]["n"] for m in history.messages] == [2, 3, 4]
    assert history.last_seq == 5


def test_history_since_current_seq_is_empty_and_not_reset():
    streams.publish("event:7", "tick", {})
    history = streams.history_since("event:7", 1)
    assert history.messages == [] and not history.reset


def test_gap_older_than_retention_asks_for_reset(settings):
    settings.STREAM_HISTORY_LENGTH = 3
    for n in range(6):
        streams.publish("event:8", "tick", {"n": n})
    assert streams.history_since("event:8", 1).reset
    kept = streams.history_since("event:8", 3)
    assert not kept.reset and [m["seq"] for m in kept.messages] == [4, 5, 6]


def test_since_ahead_of_the_stream_asks_for_reset():
    streams.publish("event:9", "tick", {})
    assert streams.history_since("event:9", 50).reset


def test_old_messages_expire_by_time(settings, monkeypatch):
    streams.publish("event:10", "tick", {})
    monkeypatch.setattr(streams, "_now", lambda: 10**12)
    assert streams.history_since("event:10", 0).reset


@pytest.mark.django_db(transaction=True)
def test_publish_on_commit_sends_nothing_for_a_rolled_back_change():
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        streams.publish_on_commit("draw:3", "draw.winner", {"user": 1})
        raise Boom
    assert streams.last_seq("draw:3") == 0

    with transaction.atomic():
        streams.publish_on_commit("draw:3", "draw.winner", {"user": 2})
        assert streams.last_seq("draw:3") == 0  # not before the commit
    assert [m["data"] for m in streams.history_since("draw:3", 0).messages] == [{"user": 2}]


@pytest.mark.redis
def test_redis_history_is_shared_between_processes_view(settings):
    # Two "workers" are two backend objects over the same Redis: one sequence.
    from core.redis import get_redis

    first = streams._RedisBackend(get_redis())
    second = streams._RedisBackend(get_redis())
    first.append("seats:1", "seat.held", {"seats": [1]}, 1.0)
    message = second.append("seats:1", "seat.sold", {"seats": [1]}, 2.0)
    assert message["seq"] == 2
    assert [m["type"] for m in second.messages("seats:1")[0]] == ["seat.held", "seat.sold"]
