"""The waiting room's streams follow staff changes (tests/stream_helpers.py verify_action):
a snapshot plus the deltas published after a status or settings change is a fresh one."""

from __future__ import annotations

import pytest

from core.streams import Viewer
from tests.factories import make_event
from tests.stream_helpers import verify_action
from tests.ticketing_helpers import committed
from ticketing.services.waiting_room import (
    queue_join,
    waiting_room_configure,
    waiting_room_set_status,
)

pytestmark = pytest.mark.django_db



@pytest.fixture
def room(user):
    event = make_event()
    room = committed(waiting_room_configure, event=event, actor=None, source="test")
    queue_join(event_id=event.pk, user=user)
    return room


def test_staff_stream_follows_a_status_change(room, staff):
    deltas = verify_action(
        kind="queue_staff", object_id=room.event_id, viewer=Viewer(user=staff, screen=False),
        action=lambda: waiting_room_set_status(room=room, status="paused", actor=staff))
    assert deltas, "a status change is published on the staff stream"


def test_staff_stream_follows_a_settings_change(room, staff):
    verify_action(
        kind="queue_staff", object_id=room.event_id, viewer=Viewer(user=staff, screen=False),
        action=lambda: waiting_room_configure(event=room.event, actor=staff,
                                              rate_per_minute=90, pass_minutes=3))


def test_queue_stream_follows_a_status_change(room, user):
    verify_action(
        kind="queue", object_id=room.event_id, viewer=Viewer(user=user, screen=False),
        action=lambda: waiting_room_set_status(room=room, status="paused", actor=None))
