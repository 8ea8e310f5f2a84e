"""Closing this worker's WebSockets when it drains (core.signals.worker_draining).

On SIGTERM ``manage.py serve`` stops listening and sends ``worker_draining`` on the
event loop. Without this, daphne would cancel the consumers when the reactor stops
and Twisted would drop every TCP connection at the same instant: every client sees
1006 (no close frame) and reconnects at once. Here each live socket is closed with
1012 ("service restart", docs/websocket-protocol.md), in batches spread over a short
window, so that the reconnects (with ``since``, to another worker) arrive spread out
too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import weakref
from typing import Any

from consumers.protocol import CLOSE_SERVICE_RESTART

logger = logging.getLogger(__name__)

# The consumers with an accepted socket in this worker; each adds itself once it
# accepted and leaves in its disconnect (weak: a consumer that died unnoticed goes).
live: weakref.WeakSet = weakref.WeakSet()
# Those asked to close whose disconnect (the client's close frame back) is still due.
closing: weakref.WeakSet = weakref.WeakSet()
# The most batches a window is cut into (one every 50 ms for a 1 s window).
MAX_BATCHES = 20
_draining = False


async def opened(consumer: Any) -> bool:
    """A consumer accepted its socket: True. During a drain (the socket was still in
    its handshake when the drain started) it is closed at once instead: False."""
    if _draining:
        await close_for_restart(consumer)
        return False
    live.add(consumer)
    return True


def closed(consumer: Any) -> None:
    live.discard(consumer)
    closing.discard(consumer)


async def close_for_restart(consumer: Any) -> None:
    live.discard(consumer)
    closing.add(consumer)
    consumer.closed = True  # StreamConsumer: relay nothing more, stop its heartbeats
    try:
        await consumer.close(code=CLOSE_SERVICE_RESTART)
    except Exception:  # the socket went meanwhile: nothing to close
        logger.debug("closing %r for the restart failed", consumer, exc_info=True)


async def close_all(window: float, *, handshake: float = 1.0) -> int:
    """Close every live socket with 1012, in batches spread over `window` seconds,
    then wait (at most `handshake` seconds) for the clients' close frames back, so
    that the worker stops after the closing handshakes rather than in their middle."""
    consumers = list(live)
    random.shuffle(consumers)  # no client is always among the first
    if not consumers:
        return 0
    batches = max(1, min(len(consumers), MAX_BATCHES, math.ceil(window / 0.05)))
    size = math.ceil(len(consumers) / batches)
    pause = window / batches
    for start in range(0, len(consumers), size):
        if start:
            await asyncio.sleep(pause)
        await asyncio.gather(*(close_for_restart(c) for c in consumers[start:start + size]))
    deadline = asyncio.get_running_loop().time() + handshake
    while closing and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    logger.info("draining: closed %d WebSocket(s) with %d over %.1f s (%d without an answer)",
                len(consumers), CLOSE_SERVICE_RESTART, window, len(closing))
    return len(consumers)


def on_worker_draining(sender: Any, *, window: float, **kwargs: Any) -> asyncio.Task:
    """Receiver of core.signals.worker_draining, called on the server's event loop."""
    global _draining
    _draining = True
    return asyncio.ensure_future(close_all(window))


def reset() -> None:
    """Forget a drain (tests)."""
    global _draining
    _draining = False
    live.clear()
    closing.clear()
