"""Snapshot + deltas == fresh snapshot (Zulip's verify_action) for event and draw streams."""

import json
from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from core.streams import Viewer, history_since, last_seq, stream_kind
from live import scheduler
from live.models import Winner
from live.services.claims import prize_claim
from live.services.draws import draw_close_entries, draw_enter, draw_update
from live.services.performing import draw_perform, draw_redraw
from live.streams import apply_message
from live.testing import make_draw, make_entrants, make_event

pytestmark = pytest.mark.django_db(transaction=True)


def jsonable(data):
    data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    data.pop("server_time", None)
    return data


def verify_action(kind, stream, object_id, viewer, action):
    """Run `action`; the client's snapshot with the deltas must equal a fresh snapshot."""
    snapshot_kind = stream_kind(kind)
    before = jsonable(snapshot_kind.snapshot(object_id, viewer))
    seq = last_seq(stream)
    action()
    messages = history_since(stream, seq).messages
    for message in messages:
        before = apply_message(before, message)
    assert before == jsonable(snapshot_kind.snapshot(object_id, viewer))
    return messages


def test_event_stream_follows_a_whole_raffle(user, make_user):
    event = make_event()
    viewer = Viewer(user=user)
    stream = f"event:{event.pk}"
    holder = {}

    def create():
        holder["draw"] = make_draw(event, prizes=[{"name": "A", "rank": 1, "quantity": 2}],
                                   scheduled_at=timezone.now() + timedelta(seconds=30))

    created = verify_action("event", stream, event.pk, viewer, create)
    assert [m["type"] for m in created] == ["draw.created"]
    draw = holder["draw"]
    entrants = make_entrants(draw, 3)
    types = [m["type"] for m in verify_action(
        "event", stream, event.pk, viewer,
        lambda: draw_enter(draw=draw, user=user))]
    assert types == ["draw.entries"]
    del entrants
    verify_action("event", stream, event.pk, viewer, scheduler.publish_countdowns)
    performed = verify_action("event", stream, event.pk, viewer,
                              lambda: draw_perform(draw=draw, actor=None, source="t"))
    assert [m["type"] for m in performed][-1] == "draw.finished"
    winner = Winner.objects.filter(draw=draw).first()
    verify_action("event", stream, event.pk, viewer,
                  lambda: prize_claim(draw=draw, user=winner.user))
    Winner.objects.filter(draw=draw, claimed_at__isnull=True).update(
        claim_deadline=timezone.now())
    redrawn = verify_action("event", stream, event.pk, viewer,
                            lambda: draw_redraw(draw=draw, actor=None, source="t"))
    assert [m["type"] for m in redrawn] == ["draw.forfeited", "draw.winner"]


def test_draw_stream_follows_edit_close_perform(user, make_user):
    draw = make_draw(kind="lottery", prizes=[{"name": "J", "rank": 1, "matches": 1}])
    viewer = Viewer(user=user)
    stream = f"draw:{draw.pk}"
    verify_action("draw", stream, draw.pk, viewer,
                  lambda: draw_update(draw=draw, title="Edited"))
    verify_action("draw", stream, draw.pk, viewer,
                  lambda: draw_enter(draw=draw, user=user, numbers=[1, 2, 3]))
    closing = verify_action("draw", stream, draw.pk, viewer,
                            lambda: draw_close_entries(draw=draw))
    assert [m["type"] for m in closing] == ["draw.closing"]
    verify_action("draw", stream, draw.pk, viewer,
                  lambda: draw_perform(draw=draw, actor=None, source="t"))


def test_event_update_applies_to_event_snapshot(user):
    from core.services.events import event_update

    event = make_event()
    verify_action("event", f"event:{event.pk}", event.pk, Viewer(user=user),
                  lambda: event_update(event=event, fields={"title": "New"}))


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
