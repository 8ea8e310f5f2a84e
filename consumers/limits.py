"""What every WebSocket of a worker obeys, stream sockets and ws/health/ alike.

- Client frames: JSON text, at most WS_MAX_MESSAGE_BYTES characters, no deeper
  than the decoder recurses, WS_RATE_BURST at once and WS_RATE_PER_SECOND after
  that (a token bucket per socket), closed 4429 after WS_FLOOD_CLOSE_AFTER
  refused frames in a row.
- Open connections: at most WS_MAX_CONNECTIONS_PER_USER per logged-in user and
  WS_MAX_CONNECTIONS_PER_ADDRESS per client address, counted **per worker
  process** (a dict in memory: nothing to leak when a worker dies, no Redis
  round trip per connect). With W workers behind a balancer a client can hold
  up to W times the cap; the cap bounds what one client costs one worker, which
  is what it protects. Over the cap: error `too_many_connections`, close 4429.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from consumers.protocol import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_TOO_MANY_MESSAGES,
    ProtocolError,
    unavailable_error,
)
from consumers.ratelimit import TokenBucket

logger = logging.getLogger(__name__)


class OpenConnections:
    """Open sockets of this worker per user and per client address."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, Any]] = Counter()

    @staticmethod
    def limit(key: tuple[str, Any]) -> int:
        if key[0] == "user":
            return settings.WS_MAX_CONNECTIONS_PER_USER
        return settings.WS_MAX_CONNECTIONS_PER_ADDRESS

    def acquire(self, key: tuple[str, Any] | None) -> bool:
        """Count one more socket for `key`; False (nothing counted) when it is at its cap."""
        if key is None:
            return True
        limit = self.limit(key)
        if limit and self.counts[key] >= limit:
            return False
        self.counts[key] += 1
        return True

    def release(self, key: tuple[str, Any] | None) -> None:
        if key is None:
            return
        self.counts[key] -= 1
        if self.counts[key] <= 0:
            del self.counts[key]


open_connections = OpenConnections()


def client_address(scope) -> str | None:
    """The client's address, trusting X-Forwarded-For only NUM_PROXIES deep (as the
    HTTP throttles do: a header any client can set must not pick its own bucket)."""
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    if proxies:
        for name, value in scope.get("headers") or ():
            if name == b"x-forwarded-for":
                hops = [hop.strip() for hop in value.decode("latin1").split(",")]
                return hops[-min(proxies, len(hops))] or None
    client = scope.get("client")
    return client[0] if client else None


def too_many_connections(what: str) -> ProtocolError:
    return ProtocolError("too_many_connections",
                         f"Too many open connections for this {what}; close some first.",
                         close_code=CLOSE_TOO_MANY_MESSAGES)


class LimitedConsumer(AsyncJsonWebsocketConsumer):
    """The frame and connection limits (module docstring); subclasses handle messages
    in `handle_message` and call `count_connection()` right after accepting."""

    closed = False
    counted_user: tuple[str, Any] | None = None
    counted_address: tuple[str, Any] | None = None

    def start_limits(self) -> None:
        self.closed = False
        self.bucket = TokenBucket(rate=settings.WS_RATE_PER_SECOND, burst=settings.WS_RATE_BURST)

    def count_connection(self) -> None:
        """Count this socket for its address and user; raise ProtocolError over a cap."""
        address = client_address(self.scope)
        key = ("address", address) if address else None
        if not open_connections.acquire(key):
            raise too_many_connections("address")
        self.counted_address = key
        self.count_user(self.scope.get("user"))

    def count_user(self, user) -> None:
        """(Re)count the socket for `user` (after an `auth` message names a new one)."""
        key = ("user", user.pk) if user is not None and user.is_authenticated else None
        if key == self.counted_user:
            return
        if not open_connections.acquire(key):
            raise too_many_connections("user")
        open_connections.release(self.counted_user)
        self.counted_user = key

    def uncount_connection(self) -> None:
        open_connections.release(self.counted_user)
        open_connections.release(self.counted_address)
        self.counted_user = self.counted_address = None

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.closed:
            return
        try:
            if not self.bucket.take():
                self.refuse_flood()
                return
            await self.handle_message(decode_frame(text_data, bytes_data))
        except ProtocolError as exc:
            await self.fail(exc)
        except Exception as exc:
            await self.fail_unavailable(exc)

    async def handle_message(self, content: Any) -> None:
        await self.receive_json(content)

    def refuse_flood(self) -> None:
        refused = self.bucket.refused_in_a_row
        if refused >= settings.WS_FLOOD_CLOSE_AFTER:
            raise ProtocolError("flood", "Too many messages; closing.",
                                close_code=CLOSE_TOO_MANY_MESSAGES)
        if refused == 1:  # one error frame per burst, not one per refused frame
            raise ProtocolError("rate_limited", "Too many messages; slow down.")

    async def fail(self, exc: ProtocolError) -> None:
        await self.send_json(exc.frame())
        if exc.close_code is not None:
            self.closed = True
            await self.close(code=exc.close_code)

    async def fail_unavailable(self, exc: Exception) -> None:
        """The database or Redis is down: error frame, close 4503 (clients come back with
        since). Anything else is our bug: logged, and the socket closed with 4500, so
        that disconnect() frees its connection counts and tasks instead of leaving a
        consumer half-dead (a frame could otherwise kill it without a close)."""
        error = unavailable_error(exc)
        if error is None:
            logger.exception("WebSocket consumer error; closing the socket", exc_info=exc)
            error = ProtocolError("internal_error", "An unexpected server error.",
                                  close_code=CLOSE_INTERNAL_ERROR)
        await self.fail(error)

    async def disconnect(self, code):
        self.closed = True
        self.uncount_connection()


def decode_frame(text_data: str | None, bytes_data: bytes | None) -> Any:
    if text_data is None:
        raise ProtocolError("binary_not_supported", "Send JSON text frames.")
    if len(text_data) > settings.WS_MAX_MESSAGE_BYTES:
        raise ProtocolError(
            "message_too_large",
            f"Messages are at most {settings.WS_MAX_MESSAGE_BYTES} characters.",
        )
    try:
        return json.loads(text_data)
    except ValueError as exc:
        raise ProtocolError("invalid_json", "The message is not valid JSON.") from exc
    except RecursionError as exc:
        # "[[[[...]]]]" within the size limit nests deeper than the
        # decoder recurses: without this the consumer task died.
        raise ProtocolError("invalid_json", "The message nests too deeply.") from exc
