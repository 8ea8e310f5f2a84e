"""The waiting room's line (ticketing/queue_line.py), one suite for both stores:
"memory" always, "redis" when REDIS_URL is set (skipped with a reason otherwise).
Time is the test's: both stores take the caller's clock."""

from __future__ import annotations

import random
import time

import pytest

from core.redis import get_redis
from tests.ticketing_helpers import Clock
from ticketing.queue_line import (
    ADMITTED,
    EXPIRED,
    IN_USE,
    LEFT,
    WAITING,
    LineConfig,
    MemoryQueueLine,
    RedisQueueLine,
    early_score,
)

EVENT = 4242
T0 = 1_800_000_000.0
SECRET = "test-secret"



@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def line(request, clock):
    if request.param == "memory":
        yield MemoryQueueLine(clock=clock)
        return
    store = RedisQueueLine(get_redis(), clock=clock)
    store.drop(EVENT)
    yield store
    store.drop(EVENT)


def config(*, status="open", opens_at=T0 - 600, sale_at=T0 + 100, rate=60.0, pass_seconds=600,
           use_seconds=2700) -> LineConfig:
    return LineConfig(status=status, opens_at=opens_at, sale_at=sale_at, rate_per_minute=rate,
                      pass_seconds=pass_seconds, use_seconds=use_seconds, secret=SECRET)


def admit_all(line, clock, *, step: float = 1.0, limit: int = 10_000) -> list[int]:
    admitted: list[int] = []
    for _ in range(limit):
        clock.now += step
        batch = line.admit(EVENT, max_batch=1000).admitted
        admitted += batch
        if line.place(EVENT, None).length == 0:
            return admitted
    raise AssertionError("the line never emptied")


def test_a_line_without_configuration_takes_nobody(line):
    assert line.join(EVENT, 1, "").outcome == "not_configured"
    assert line.place(EVENT, 1).status == "none"
    assert line.admit(EVENT, max_batch=10).admitted == []


def test_joining_before_the_room_opens_or_once_it_closed_is_refused(line, clock):
    line.configure(EVENT, config(opens_at=T0 + 50))
    result = line.join(EVENT, 1, "")
    assert (result.outcome, result.opens_at) == ("not_open", T0 + 50)
    line.configure(EVENT, config(status="closed"))
    assert line.join(EVENT, 1, "").outcome == "closed"
    assert line.place(EVENT, 1).state is None


def test_one_place_per_account_however_often_it_joins(line):
    line.configure(EVENT, config())
    assert line.join(EVENT, 7, "m7").outcome == "joined"
    assert [line.join(EVENT, 7, "m7").outcome for _ in range(5)] == ["kept"] * 5
    place = line.place(EVENT, 7)
    assert (place.state, place.length, place.number) == (WAITING, 1, None)  # sale not started


def test_one_place_per_mailbox_while_it_is_live(line, clock):
    line.configure(EVENT, config(sale_at=T0, rate=60, pass_seconds=30))
    assert line.join(EVENT, 1, "same-mailbox").outcome == "joined"
    assert line.join(EVENT, 2, "same-mailbox").outcome == "mailbox_taken"
    assert line.join(EVENT, 3, "").outcome == "joined"  # no mailbox claim: the account counts
    line.admit(EVENT, max_batch=10)
    clock.now += 1
    assert line.admit(EVENT, max_batch=10).admitted == [1]
    assert line.join(EVENT, 2, "same-mailbox").outcome == "mailbox_taken"  # pass still good
    clock.now += 31  # the pass expires unused: the mailbox's place is over
    line.admit(EVENT, max_batch=10)
    assert line.place(EVENT, 1).state == EXPIRED
    assert line.join(EVENT, 2, "same-mailbox").outcome == "joined"


def test_early_arrivals_are_shuffled_at_the_opening_later_ones_are_first_come(line, clock):
    line.configure(EVENT, config(rate=6000))
    early = list(range(1, 301))
    random.Random(5).shuffle(early)
    for user in early:  # arrival order before the sale: must not matter
        assert line.join(EVENT, user, f"m{user}").outcome == "joined"
    assert line.place(EVENT, early[0]).number is None
    clock.now = T0 + 100  # the sale starts
    late = [1001, 1003, 1002]
    for user in late:
        clock.now += 0.001
        line.join(EVENT, user, f"m{user}")
    admitted = admit_all(line, clock)
    expected_early = sorted(early, key=lambda user: early_score(SECRET, user))
    assert admitted == expected_early + late
    assert expected_early != sorted(early) and expected_early != early  # a real shuffle
    assert line.admitted_log(EVENT) == admitted  # nobody twice, nobody skipped


def test_a_place_is_a_number_that_never_changes_and_a_position_that_moves(line, clock):
    line.configure(EVENT, config(sale_at=T0 - 1, rate=60))
    for user in range(1, 11):
        line.join(EVENT, user, "")
    assert [line.place(EVENT, u).number for u in (1, 5, 10)] == [1, 5, 10]
    line.admit(EVENT, max_batch=100)  # the first tick starts the clock
    clock.now += 3
    assert line.admit(EVENT, max_batch=100).admitted == [1, 2, 3]
    place = line.place(EVENT, 5)
    assert (place.number, place.served, place.position, place.length) == (5, 3, 2, 7)
    line.join(EVENT, 11, "")
    assert line.place(EVENT, 11).number == 11
    admitted = line.place(EVENT, 2)
    assert (admitted.state, admitted.number, admitted.position) == (ADMITTED, 2, None)
    assert admitted.pass_deadline == clock.now + 600


def test_admission_follows_the_rate_with_a_short_burst_at_most(line, clock):
    line.configure(EVENT, config(sale_at=T0, rate=60))  # one a second, burst 5 seconds
    for user in range(1, 101):
        line.join(EVENT, user, "")
    assert line.admit(EVENT, max_batch=100).admitted == []
    clock.now += 2
    assert len(line.admit(EVENT, max_batch=100).admitted) == 2
    clock.now += 0.5
    assert line.admit(EVENT, max_batch=100).admitted == []
    clock.now += 0.5
    assert len(line.admit(EVENT, max_batch=100).admitted) == 1
    clock.now += 100  # a scheduler that stalled lets in the burst, not 100 seconds' worth
    assert len(line.admit(EVENT, max_batch=100).admitted) == 5
    clock.now += 1
    assert len(line.admit(EVENT, max_batch=100).admitted) == 1


def test_two_schedulers_admitting_at_once_share_one_allowance(line, clock):
    line.configure(EVENT, config(sale_at=T0, rate=600))
    for user in range(1, 101):
        line.join(EVENT, user, "")
    line.admit(EVENT, max_batch=100)
    clock.now += 1
    first = line.admit(EVENT, max_batch=100).admitted
    second = line.admit(EVENT, max_batch=100).admitted  # the other scheduler, same moment
    assert (len(first), second) == (10, [])
    assert line.admitted_log(EVENT) == list(range(1, 11))


def test_a_buyer_who_leaves_is_skipped_without_costing_anyone_a_place(line, clock):
    line.configure(EVENT, config(sale_at=T0, rate=120))
    for user in range(1, 7):
        line.join(EVENT, user, "")
    assert line.leave(EVENT, 2) is True
    assert line.leave(EVENT, 2) is False
    assert line.leave(EVENT, 99) is False
    assert line.place(EVENT, 2).state == LEFT
    assert line.place(EVENT, 6).number == 6  # numbers do not move
    assert line.place(EVENT, None).length == 5
    line.admit(EVENT, max_batch=100)
    clock.now += 1
    admission = line.admit(EVENT, max_batch=100)
    assert (admission.admitted, admission.skipped, admission.served) == ([1, 3], 1, 3)
    assert line.join(EVENT, 2, "").outcome == "joined"  # gone past: a new place at the back
    assert line.place(EVENT, 2).number == 7


def test_leaving_and_coming_back_before_the_turn_keeps_the_place(line):
    line.configure(EVENT, config(sale_at=T0 - 1))
    for user in (1, 2, 3):
        line.join(EVENT, user, "")
    line.leave(EVENT, 2)
    assert line.join(EVENT, 2, "").outcome == "kept"
    place = line.place(EVENT, 2)
    assert (place.state, place.number, place.length) == (WAITING, 2, 3)
    assert line.stats(EVENT).left == 0


def test_a_pass_is_used_once_seats_are_held_and_then_lasts_for_the_purchase(line, clock):
    line.configure(EVENT, config(sale_at=T0, rate=60, pass_seconds=600, use_seconds=2700))
    line.join(EVENT, 1, "")
    line.admit(EVENT, max_batch=10)
    clock.now += 1
    line.admit(EVENT, max_batch=10)
    assert line.pass_use(EVENT, 1, 2) == "stale"  # not this pass's number
    assert line.pass_use(EVENT, 2, 1) == "none"  # not this user's
    assert line.pass_use(EVENT, 1, 1) == "ok"
    assert line.place(EVENT, 1).state == IN_USE
    clock.now += 1000  # past the pass's 10 minutes, within the use window
    line.admit(EVENT, max_batch=10)
    assert line.pass_use(EVENT, 1, 1) == "ok"
    assert line.join(EVENT, 1, "").outcome == "in_use"
    clock.now += 2000
    line.admit(EVENT, max_batch=10)
    assert line.pass_use(EVENT, 1, 1) == "expired"
    stats = line.stats(EVENT)
    assert (stats.admitted, stats.used, stats.expired, stats.passes_out) == (1, 1, 0, 0)


def test_an_unused_pass_expires_and_the_next_buyer_is_let_in(line, clock):
    line.configure(EVENT, config(sale_at=T0, rate=60, pass_seconds=60))
    for user in (1, 2, 3):
        line.join(EVENT, user, "")
    line.admit(EVENT, max_batch=10)
    clock.now += 1
    assert line.admit(EVENT, max_batch=10).admitted == [1]
    line.set_rate(EVENT, 0.01)  # from now on only an expired pass lets anyone in
    clock.now += 30
    assert line.admit(EVENT, max_batch=10).admitted == []
    clock.now += 31
    admission = line.admit(EVENT, max_batch=10)
    assert (admission.expired, admission.admitted) == (1, [2])
    assert line.place(EVENT, 1).state == EXPIRED
    assert line.pass_use(EVENT, 1, 1) == "expired"
    stats = line.stats(EVENT)
    assert (stats.admitted, stats.expired, stats.passes_out, stats.length) == (2, 1, 1, 1)
    assert line.join(EVENT, 1, "").outcome == "joined"  # back of the line
    assert line.place(EVENT, 1).number == 4


def test_a_paused_line_admits_nobody_and_resumes_without_a_rush(line, clock):
    line.configure(EVENT, config(sale_at=T0, rate=60))
    for user in range(1, 51):
        line.join(EVENT, user, "")
    line.admit(EVENT, max_batch=100)
    clock.now += 2
    assert len(line.admit(EVENT, max_batch=100).admitted) == 2
    line.configure(EVENT, config(status="paused", sale_at=T0, rate=60))
    assert line.join(EVENT, 51, "").outcome == "joined"  # joins go on
    for _ in range(10):
        clock.now += 1
        assert line.admit(EVENT, max_batch=100).admitted == []
    line.configure(EVENT, config(status="open", sale_at=T0, rate=60))
    clock.now += 1
    assert len(line.admit(EVENT, max_batch=100).admitted) == 1  # a second's worth, no backlog
    assert line.admitted_log(EVENT) == [1, 2, 3]


def test_the_rate_can_change_while_the_line_runs(line, clock):
    line.configure(EVENT, config(sale_at=T0, rate=60))
    for user in range(1, 101):
        line.join(EVENT, user, "")
    line.admit(EVENT, max_batch=100)
    line.set_rate(EVENT, 600)
    clock.now += 1
    assert len(line.admit(EVENT, max_batch=100).admitted) == 10
    assert line.place(EVENT, None).rate_per_minute == 600


def test_figures_count_what_happened(line, clock):
    line.configure(EVENT, config(sale_at=T0, rate=120, pass_seconds=10))
    for user in range(1, 8):
        line.join(EVENT, user, "")
    line.leave(EVENT, 7)
    line.admit(EVENT, max_batch=100)
    clock.now += 2
    line.admit(EVENT, max_batch=100)  # 1..4 admitted
    line.pass_use(EVENT, 1, 1)
    line.pass_purchased(EVENT, 1)
    line.pass_purchased(EVENT, 1)  # a second order by the same buyer counts once
    clock.now += 11
    line.admit(EVENT, max_batch=100)
    stats = line.stats(EVENT).as_dict()
    assert stats == {"status": "open", "length": 0, "served": 7, "joined": 7, "admitted": 6,
                     "passes_out": 2, "used": 1, "purchases": 1, "expired": 3, "left": 1,
                     "rate_per_minute": 120.0, "abandoned": 4}


def test_latency_samples_are_read_back_by_age(line):
    line.latency_add(EVENT, [(T0 - 20, 900.0), (T0 - 5, 120.0), (T0 - 1, 80.0)])
    assert sorted(line.latency_since(EVENT, T0 - 10)) == [80.0, 120.0]


def test_a_periodic_step_is_claimed_once_per_period(line, clock):
    assert line.claim_tick(EVENT, "progress", 2.0) is True
    assert line.claim_tick(EVENT, "progress", 2.0) is False
    assert line.claim_tick(EVENT, "adapt", 2.0) is True


def test_a_held_tick_cannot_be_claimed_until_it_passes(line, clock):
    line.hold_tick(EVENT, "quiet", 60.0)  # whether or not it was claimed
    assert line.claim_tick(EVENT, "quiet", 2.0) is False
    assert line.claim_tick(EVENT, "claimed", 0.001) is True
    line.hold_tick(EVENT, "claimed", 60.0)  # a claimed tick held longer
    time.sleep(0.01)
    clock.now += 0.01
    assert line.claim_tick(EVENT, "claimed", 2.0) is False
    line.hold_tick(EVENT, "other", 0.001)
    time.sleep(0.01)  # the Redis store's ticks pass in real time
    clock.now += 0.01
    assert line.claim_tick(EVENT, "other", 2.0) is True


# --- review (issue 13): holes found by a fresh pair of eyes ---------------------------------


def test_a_second_account_of_a_mailbox_cannot_take_a_place_beside_the_first(line, clock):
    """Leaving and coming back must not let two accounts of one mailbox wait at once:
    A joins and leaves, B (same mailbox) joins, A takes back its kept place."""
    line.configure(EVENT, config())
    assert line.join(EVENT, 1, "one-person").outcome == "joined"
    assert line.leave(EVENT, 1) is True
    assert line.join(EVENT, 2, "one-person").outcome == "joined"  # A's place is given up
    assert line.join(EVENT, 1, "one-person").outcome == "mailbox_taken"
    waiting = [u for u in (1, 2) if line.place(EVENT, u).state == WAITING]
    assert waiting == [2]


def test_moving_the_sale_later_puts_no_newcomer_ahead_of_who_came_first(line, clock):
    """Staff move the sale's start later once first-come places were given: a newcomer
    must not draw an early (random, in front) score ahead of them; numbers stay put."""
    line.configure(EVENT, config(sale_at=T0 - 10))
    for user in (1, 2, 3):
        clock.now += 0.001
        assert line.join(EVENT, user, "").outcome == "joined"
    assert [line.place(EVENT, u).number for u in (1, 2, 3)] == [1, 2, 3]
    line.configure(EVENT, config(sale_at=T0 + 50))  # the sale moved later
    clock.now += 1
    assert line.join(EVENT, 4, "").outcome == "joined"
    clock.now = T0 + 60
    assert admit_all(line, clock) == [1, 2, 3, 4]


def test_scheduler_clocks_a_little_apart_do_not_raise_the_rate(line, clock):
    """Two schedulers whose clocks differ by 0.4 s, calling in turn: the one behind must
    not move the line's clock back (the one ahead would count that time again)."""
    line.configure(EVENT, config(sale_at=T0, rate=60))  # one a second
    for user in range(1, 201):
        line.join(EVENT, user, "")
    line.admit(EVENT, max_batch=1000)
    real = T0
    admitted = 0
    for _ in range(60):
        real += 1
        clock.now = real + 0.4  # scheduler A, ahead
        admitted += len(line.admit(EVENT, max_batch=1000).admitted)
        clock.now = real + 0.2  # scheduler B, 0.2 s later in real time but 0.4 s behind A
        admitted += len(line.admit(EVENT, max_batch=1000).admitted)
    assert admitted <= 61  # 60 seconds at one a second (+ the first part-second)


def test_a_pass_that_ran_out_before_its_holder_joined_again_still_counts_as_expired(line,
                                                                                   clock):
    """An admitted buyer whose pass ran out joins again before the next tick marked it:
    the pass still counts as expired (figures: passes_out goes back to 0) and its place
    still goes to the next buyer in line."""
    line.configure(EVENT, config(sale_at=T0, rate=60, pass_seconds=60))
    for user in (1, 2, 3):
        line.join(EVENT, user, "")
    line.admit(EVENT, max_batch=10)
    clock.now += 1
    assert line.admit(EVENT, max_batch=10).admitted == [1]
    line.set_rate(EVENT, 0.01)  # from now on only an expired pass lets anyone in
    clock.now += 61
    assert line.join(EVENT, 1, "").outcome == "joined"  # back of the line
    admission = line.admit(EVENT, max_batch=10)
    assert admission.admitted == [2]
    stats = line.stats(EVENT)
    assert (stats.admitted, stats.expired, stats.passes_out) == (2, 1, 1)


def test_a_pass_is_good_until_its_deadline_exactly_on_both_stores(line, clock):
    """The deadline is kept to the same precision on both stores (the memory store keeps
    the float, Redis kept 6 decimals: a pass good on one was expired on the other)."""
    line.configure(EVENT, config(sale_at=T0, rate=60, pass_seconds=600))
    line.join(EVENT, 1, "")
    line.admit(EVENT, max_batch=10)
    clock.now = T0 + 1.00000037  # a moment with digits past the microsecond
    assert line.admit(EVENT, max_batch=10).admitted == [1]
    deadline = clock.now + 600
    assert line.place(EVENT, 1).pass_deadline == deadline
    import math

    clock.now = math.nextafter(deadline, 0)  # the last moment before it
    assert line.pass_use(EVENT, 1, 1) == "ok"


def test_the_opening_is_reported_once_whoever_admits(line, clock):
    line.configure(EVENT, config(sale_at=T0 + 10))
    line.join(EVENT, 1, "")
    assert line.admit(EVENT, max_batch=10).opened is False  # before the sale's start
    clock.now = T0 + 10
    assert [line.admit(EVENT, max_batch=10).opened for _ in range(3)] == [True, False, False]


def test_one_admission_call_pops_a_bounded_number_of_leavers(line, clock):
    line.configure(EVENT, config(sale_at=T0, rate=600))
    for user in range(1, 101):
        line.join(EVENT, user, "")
        if user <= 90:
            line.leave(EVENT, user)
    line.admit(EVENT, max_batch=2)
    clock.now += 10
    first = line.admit(EVENT, max_batch=2)
    assert (first.admitted, first.skipped) == ([], 10)  # 2 x 5 pops, all leavers
    clock.now += 1
    later = [u for _ in range(20) for u in line.admit(EVENT, max_batch=2).admitted]
    assert later[:2] == [91, 92]


def test_joins_at_the_sales_start_never_go_back_in_time(line, clock):
    """Two workers whose clocks differ a little: once one join was past the sale's start,
    a later one whose worker read an earlier time is past it too (a place with a number),
    never an early place drawn behind a first-come one."""
    line.configure(EVENT, config(sale_at=T0 + 10))
    clock.now = T0 + 10.001
    line.join(EVENT, 1, "")
    clock.now = T0 + 9.999  # the other worker's clock, a little behind
    line.join(EVENT, 2, "")
    assert [line.place(EVENT, u).number for u in (1, 2)] == [1, 2]
