"""Snapshot + deltas == fresh snapshot (verify_action, tests/stream_helpers.py) for the
event and draw streams: every message type each kind publishes goes through it."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import UnknownMessageType
from core.streams import Viewer, last_seq, stream_kind
from live import scheduler
from live.models import Winner
from live.services.claims import prize_claim
from live.services.draws import draw_close_entries, draw_enter, draw_update
from live.services.performing import draw_perform, draw_redraw
from live.streams import publish_draw
from tests.factories import make_draw, make_entrants, make_event
from tests.stream_helpers import swap_stream_kind, verify_action

pytestmark = pytest.mark.django_db(transaction=True)


def types(messages):
    return [m["type"] for m in messages]


def test_event_stream_follows_a_whole_raffle(user, make_user):
    event = make_event()
    viewer = Viewer(user=user)
    holder = {}

    def create():
        holder["draw"] = make_draw(event, prizes=[{"name": "A", "rank": 1, "quantity": 2}],
                                   scheduled_at=timezone.now() + timedelta(seconds=30))

    def check(action):
        return types(verify_action(kind="event", object_id=event.pk, viewer=viewer,
                                   action=action))

    assert check(create) == ["draw.created"]
    draw = holder["draw"]
    make_entrants(draw, 3)
    assert check(lambda: draw_enter(draw=draw, user=user)) == ["draw.entries"]
    assert check(lambda: draw_update(draw=draw, actor=None, source="test",
                                     title="Edited")) == ["draw.updated"]
    assert check(scheduler.publish_countdowns) == ["draw.countdown"]
    assert check(lambda: draw_perform(draw=draw, actor=None, source="t")) == [
        "draw.closing", "draw.started", "draw.winner", "draw.finished"]
    winner = Winner.objects.filter(draw=draw).first()
    assert check(lambda: prize_claim(draw=draw, user=winner.user)) == ["draw.claimed"]
    Winner.objects.filter(draw=draw, claimed_at__isnull=True).update(
        claim_deadline=timezone.now())
    assert check(lambda: draw_redraw(draw=draw, actor=None, source="t")) == [
        "draw.forfeited", "draw.winner"]


def test_draw_stream_follows_edit_close_perform(user, make_user):
    draw = make_draw(kind="lottery", prizes=[{"name": "J", "rank": 1, "matches": 1}])
    viewer = Viewer(user=user)

    def check(action):
        return types(verify_action(kind="draw", object_id=draw.pk, viewer=viewer,
                                   action=action))

    assert check(lambda: draw_update(draw=draw, actor=None, source="test",
                                     title="Edited")) == ["draw.updated"]
    assert check(lambda: draw_enter(draw=draw, user=user, numbers=[1, 2, 3])) == [
        "draw.entries"]
    assert check(lambda: draw_close_entries(draw=draw)) == ["draw.closing"]
    assert check(lambda: draw_perform(draw=draw, actor=None, source="t"))[-1] == "draw.finished"


def test_draw_stream_follows_countdown_perform_claim_redraw(user, make_user):
    draw = make_draw(prizes=[{"name": "A", "rank": 1, "quantity": 2}],
                     scheduled_at=timezone.now() + timedelta(seconds=30))
    make_entrants(draw, 4)
    viewer = Viewer(user=user)

    def check(action):
        return types(verify_action(kind="draw", object_id=draw.pk, viewer=viewer,
                                   action=action))

    assert check(scheduler.publish_countdowns) == ["draw.countdown"]
    assert check(lambda: draw_perform(draw=draw, actor=None, source="t")) == [
        "draw.closing", "draw.started", "draw.winner", "draw.finished"]
    winner = Winner.objects.filter(draw=draw).first()
    assert check(lambda: prize_claim(draw=draw, user=winner.user)) == ["draw.claimed"]
    Winner.objects.filter(draw=draw, claimed_at__isnull=True).update(
        claim_deadline=timezone.now())
    assert check(lambda: draw_redraw(draw=draw, actor=None, source="t")) == [
        "draw.forfeited", "draw.winner"]


def test_event_update_applies_to_event_snapshot(user):
    from core.services.events import event_update

    event = make_event()
    assert types(verify_action(
        kind="event", object_id=event.pk, viewer=Viewer(user=user),
        action=lambda: event_update(event=event, fields={"title": "New"}))) == ["event.updated"]


def test_a_missing_draw_delta_fails_verify_action(user):
    """The draw kind's reducer really is what verify_action applies: one that drops
    draw.entries makes the replayed snapshot differ from a fresh one."""
    draw = make_draw()
    kind = stream_kind("draw")

    def drop_entries(snapshot, message):
        return snapshot if message["type"] == "draw.entries" else kind.apply(snapshot, message)

    with swap_stream_kind(replace(kind, apply=drop_entries)), pytest.raises(AssertionError):
        verify_action(kind="draw", object_id=draw.pk, viewer=Viewer(user=user),
                      action=lambda: draw_enter(draw=draw, user=user))


@pytest.mark.parametrize("kind", ["event", "draw"])
def test_reducers_raise_on_a_message_type_their_kind_does_not_publish(kind):
    snapshot = {"event": {}, "draws": []} if kind == "event" else {"draw": {"winners": []}}
    message = {"stream": f"{kind}:1", "seq": 1, "type": "draw.vanished", "data": {"draw_id": 1},
               "ts": 0.0}
    with pytest.raises(UnknownMessageType):
        stream_kind(kind).apply(snapshot, message)


def test_the_draw_stream_does_not_carry_event_updates():
    message = {"stream": "draw:1", "seq": 1, "type": "event.updated", "data": {"event": {}},
               "ts": 0.0}
    with pytest.raises(UnknownMessageType):
        stream_kind("draw").apply({"draw": {"winners": []}}, message)


def test_publishing_a_draw_message_type_no_kind_declares_raises():
    draw = make_draw()
    with pytest.raises(UnknownMessageType):
        publish_draw(draw, "draw.vanished", {})


def test_no_message_for_a_rolled_back_change(user):
    from django.db import transaction

    draw = make_draw()
    seq = last_seq(f"draw:{draw.pk}")
    with pytest.raises(RuntimeError), transaction.atomic():
        draw_enter(draw=draw, user=user)
        raise RuntimeError("rollback")
    assert last_seq(f"draw:{draw.pk}") == seq


def test_snapshots_hide_draft_events_from_public(user, staff):
    draw = make_draw(make_event(status="draft"))
    assert stream_kind("event").snapshot(draw.event_id, Viewer(user=user)) is None
    assert stream_kind("draw").snapshot(draw.pk, Viewer(user=user)) is None
    assert stream_kind("draw").snapshot(draw.pk, Viewer(user=staff))["draw"]["id"] == draw.pk
    assert stream_kind("draw").snapshot(999_999, Viewer(user=staff)) is None
