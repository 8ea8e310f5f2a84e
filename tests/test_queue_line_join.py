"""A join on the Redis line is one round trip that also answers the buyer's place.

bench/waiting_room.py: a join was three Redis round trips (the throttle, the join
script, then the place script), and under an arrival spike the workers' request
threads spent most of their time waiting on them.
"""

from __future__ import annotations

import time

import pytest

from ticketing.queue_line import LineConfig, queue_line

pytestmark = pytest.mark.redis

EVENT = 4242


def configure(line, *, sale_in: float) -> None:
    now = time.time()
    line.configure(EVENT, LineConfig(status="open", opens_at=now - 60, sale_at=now + sale_in,
                                     rate_per_minute=60, pass_seconds=600, use_seconds=900,
                                     secret="s3cret"))


def test_a_join_is_one_round_trip_and_carries_the_place(monkeypatch):
    line = queue_line()
    configure(line, sale_in=-30)  # the sale started: first come, first served
    sent = []
    real = line.client.execute_command
    monkeypatch.setattr(line.client, "execute_command",
                        lambda *args, **options: sent.append(args[0]) or real(*args, **options))
    first, second = line.join(EVENT, 1, "a"), line.join(EVENT, 2, "b")
    again = line.join(EVENT, 1, "a")
    assert sent == ["EVALSHA"] * 3
    assert (first.outcome, second.outcome, again.outcome) == ("joined", "joined", "kept")
    for result, user in ((first, 1), (second, 2), (again, 1)):
        fresh = line.place(EVENT, user)
        assert (result.place.state, result.place.number, result.place.position) == (
            fresh.state, fresh.number, fresh.position)
    assert (second.place.number, second.place.length) == (2, 2)
    line.drop(EVENT)


def test_a_join_refused_carries_no_place(monkeypatch):
    line = queue_line()
    configure(line, sale_in=3600)
    line.configure(EVENT, LineConfig(status="open", opens_at=time.time() + 600,
                                     sale_at=time.time() + 3600, rate_per_minute=60,
                                     pass_seconds=600, use_seconds=900, secret="s3cret"))
    refused = line.join(EVENT, 1, "a")
    assert refused.outcome == "not_open" and refused.place is None
    assert refused.opens_at == pytest.approx(time.time() + 600, abs=5)
    line.drop(EVENT)


def test_an_early_join_has_a_place_but_no_number_yet():
    line = queue_line()
    configure(line, sale_in=3600)
    result = line.join(EVENT, 7, "a")
    assert (result.outcome, result.place.state, result.place.number) == ("joined", "waiting", None)
    line.drop(EVENT)
