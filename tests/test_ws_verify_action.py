"""verify_action (tests/stream_helpers.py) on the demo kind: it passes on a correct
publisher and fails on a missing or wrong delta."""

import pytest
from django.db import transaction
from django.utils import timezone

from core import streams
from core.models import Event
from tests.stream_helpers import (
    DEMO_EVENT_KIND,
    fresh_channel_layer,  # noqa: F401 (autouse)
    reduce_demo_event,
    rename_event,
    swap_reducer,
    swap_stream_kind,
    verify_action,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def event():
    with swap_stream_kind(DEMO_EVENT_KIND), swap_reducer("event", reduce_demo_event):
        yield Event.objects.create(title="Gala", starts_at=timezone.now(), status="published")


async def test_rename_event_publishes_the_delta_the_snapshot_needs(event):
    deltas = await verify_action(
        kind="event", object_id=event.pk, path=f"/ws/events/{event.pk}/",
        action=lambda: rename_event(event_id=event.pk, title="Gala night"),
    )
    assert [(d["type"], d["data"]) for d in deltas] == [("event.updated", {"title": "Gala night"})]


async def test_verify_action_catches_a_change_published_without_its_delta(event):
    def silent_change():
        Event.objects.filter(pk=event.pk).update(status="live")

    with pytest.raises(AssertionError):
        await verify_action(kind="event", object_id=event.pk, path=f"/ws/events/{event.pk}/",
                            action=silent_change)


async def test_verify_action_catches_a_wrong_delta(event):
    def wrong_delta():
        with transaction.atomic():
            Event.objects.filter(pk=event.pk).update(title="Gala night")
            streams.publish_on_commit(f"event:{event.pk}", "event.updated", {"title": "Gala"})

    with pytest.raises(AssertionError):
        await verify_action(kind="event", object_id=event.pk, path=f"/ws/events/{event.pk}/",
                            action=wrong_delta)


async def test_verify_action_catches_a_delta_that_is_not_idempotent(event):
    def count_up(state, message):
        return {**state, "title": state["title"] + "!"}

    def exclaim():
        with transaction.atomic():
            Event.objects.filter(pk=event.pk).update(title="Gala!")
            streams.publish_on_commit(f"event:{event.pk}", "event.updated", {})

    with swap_reducer("event", count_up), pytest.raises(AssertionError, match="idempotent"):
        await verify_action(kind="event", object_id=event.pk, path=f"/ws/events/{event.pk}/",
                            action=exclaim)


async def test_a_rolled_back_change_sends_nothing(event):
    def rolled_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            rename_event(event_id=event.pk, title="never")
            raise RuntimeError

    deltas = await verify_action(kind="event", object_id=event.pk,
                                 path=f"/ws/events/{event.pk}/", action=rolled_back)
    assert deltas == []
