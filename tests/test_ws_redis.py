"""The Redis channel layer keeps an idle socket alive past redis-py 8's 5 s socket_timeout
(ARCHITECTURE.md; docs/decisions/2026-11-25-redis-py-pin.md)."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from core import streams
from core.streams import StreamKind
from tests.stream_helpers import (
    connected,
    fanout,  # noqa: F401 (fixture: both fan-out modes)
    fresh_channel_layer,  # noqa: F401 (autouse)
    receive,
    swap_stream_kind,
)

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.mark.usefixtures("fanout")
async def test_socket_idle_longer_than_five_seconds_still_receives(settings):
    settings.WS_HEARTBEAT_SECONDS = 60  # no traffic at all while idle
    kind = StreamKind(name="event", snapshot=lambda event_id, viewer: {"id": event_id})
    with swap_stream_kind(kind):
        ws = await connected("/ws/events/5/")
        assert (await receive(ws))["type"] == "snapshot"
        await asyncio.sleep(6)
        await sync_to_async(streams.publish)("event:5", "draw.winner", {"user": 1})
        message = await receive(ws, timeout=5)
        assert (message["seq"], message["data"]) == (1, {"user": 1})
        await ws.disconnect()
