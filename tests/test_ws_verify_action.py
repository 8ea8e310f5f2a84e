"""verify_action and averify_action (tests/stream_helpers.py) on the demo kind: they
pass on a correct publisher and fail on a missing, wrong, non-idempotent or unknown
delta."""

from dataclasses import replace

import pytest
from django.db import transaction
from django.utils import timezone

from core import streams
from core.errors import UnknownMessageType
from core.models import Event
from tests.stream_helpers import (
    DEMO_EVENT_KIND,
    averify_action,
    fresh_channel_layer,  # noqa: F401 (autouse)
    rename_event,
    swap_stream_kind,
    verify_action,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def event():
    with swap_stream_kind(DEMO_EVENT_KIND):
        yield Event.objects.create(title="Gala", starts_at=timezone.now(), status="published")


async def test_rename_event_publishes_the_delta_the_snapshot_needs(event):
    deltas = await averify_action(
        kind="event", object_id=event.pk, path=f"/ws/events/{event.pk}/",
        action=lambda: rename_event(event_id=event.pk, title="Gala night"),
    )
    assert [(d["type"], d["data"]) for d in deltas] == [("event.updated", {"title": "Gala night"})]


async def test_verify_action_catches_a_change_published_without_its_delta(event):
    def silent_change():
        Event.objects.filter(pk=event.pk).update(status="live")

    with pytest.raises(AssertionError):
        await averify_action(kind="event", object_id=event.pk, path=f"/ws/events/{event.pk}/",
                             action=silent_change)


async def test_verify_action_catches_a_wrong_delta(event):
    def wrong_delta():
        with transaction.atomic():
            Event.objects.filter(pk=event.pk).update(title="Gala night")
            streams.publish_on_commit(f"event:{event.pk}", "event.updated", {"title": "Gala"})

    with pytest.raises(AssertionError):
        await averify_action(kind="event", object_id=event.pk, path=f"/ws/events/{event.pk}/",
                             action=wrong_delta)


async def test_verify_action_catches_a_delta_that_is_not_idempotent(event):
    def count_up(state, message):
        return {**state, "title": state["title"] + "!"}

    def exclaim():
        with transaction.atomic():
            Event.objects.filter(pk=event.pk).update(title="Gala!")
            streams.publish_on_commit(f"event:{event.pk}", "event.updated", {})

    with swap_stream_kind(replace(DEMO_EVENT_KIND, apply=count_up)), pytest.raises(
            AssertionError, match="idempotent"):
        await averify_action(kind="event", object_id=event.pk, path=f"/ws/events/{event.pk}/",
                             action=exclaim)


async def test_a_rolled_back_change_sends_nothing(event):
    def rolled_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            rename_event(event_id=event.pk, title="never")
            raise RuntimeError

    deltas = await averify_action(kind="event", object_id=event.pk,
                                  path=f"/ws/events/{event.pk}/", action=rolled_back)
    assert deltas == []


# The sync form reads the deltas from the stream's history: the same check.


def test_sync_verify_action_passes_on_a_correct_delta(event):
    deltas = verify_action(kind="event", object_id=event.pk,
                           action=lambda: rename_event(event_id=event.pk, title="Gala night"))
    assert [m["type"] for m in deltas] == ["event.updated"]


def test_sync_verify_action_catches_a_change_published_without_its_delta(event):
    with pytest.raises(AssertionError):
        verify_action(kind="event", object_id=event.pk,
                      action=lambda: Event.objects.filter(pk=event.pk).update(title="Gala 2"))


def test_verify_action_fails_on_a_message_type_the_kind_does_not_declare(event):
    def rename_with_a_new_type():
        with transaction.atomic():
            Event.objects.filter(pk=event.pk).update(title="Gala night")
            streams.publish_on_commit(f"event:{event.pk}", "event.renamed",
                                      {"title": "Gala night"})

    with pytest.raises(UnknownMessageType, match=r"event\.renamed"):
        verify_action(kind="event", object_id=event.pk, action=rename_with_a_new_type)


def test_verify_action_fails_when_the_reducer_ignores_a_type_it_declares(event):
    """A reducer that passes unknown messages through would hide a forgotten delta."""
    forgetful = replace(DEMO_EVENT_KIND, apply=lambda state, message: state)
    with swap_stream_kind(forgetful), pytest.raises(AssertionError):
        verify_action(kind="event", object_id=event.pk,
                      action=lambda: rename_event(event_id=event.pk, title="Gala night"))
