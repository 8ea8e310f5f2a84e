"""The user stream over a socket: only the account itself may watch ws/users/<id>/; it
gets its waiting-list entries as the snapshot, then each entry's change."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from core import streams
from tests.stream_helpers import (
    closed_with,
    connected,
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
)
from ticketing.streams import user_stream

pytestmark = pytest.mark.django_db(transaction=True)


def as_user(user) -> list[str]:
    return ["tombola.v2", f"jwt.{AccessToken.for_user(user)}"]


async def test_only_the_account_itself_watches_its_user_stream(user, other_user):
    mine = await connected(f"/ws/users/{user.pk}/", subprotocols=as_user(user))
    snapshot = await receive(mine)
    assert snapshot["type"] == "snapshot" and snapshot["stream"] == f"user:{user.pk}"
    assert snapshot["data"]["waiting_list"] == [] and snapshot["data"]["user_id"] == user.pk
    entry = {"id": 1, "event_id": 2, "section_id": None, "seats": 1, "status": "waiting",
             "joined_at": "2026-11-30T09:00:00Z", "offer": None}
    await sync_to_async(streams.publish)(user_stream(user.pk), "waiting_list.entry", entry)
    frame = await receive(mine)
    assert (frame["type"], frame["data"]) == ("waiting_list.entry", entry)
    await mine.disconnect()

    for subprotocols in (as_user(other_user), None):
        someone_else = await connected(f"/ws/users/{user.pk}/", subprotocols=subprotocols)
        frames, code = await closed_with(someone_else)
        assert code == 4404 and frames[-1]["code"] == "not_found", frames
