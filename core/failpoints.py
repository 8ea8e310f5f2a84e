"""Failpoints: named places in the code where a fault test makes a process stall or fail.

    TOMBOLA_FAILPOINTS="draw.perform.before_commit=sleep(120)"   # stall there
    TOMBOLA_FAILPOINTS="draw.perform.before_commit=raise"        # raise FailpointError
    TOMBOLA_FAILPOINTS_MARKER=/tmp/hit.log   # optional: one line "<name> <pid>" per hit

In-process tests can also run a function there (``with armed(name, func):``; the
function gets the keyword arguments the place passes, e.g. ``hold=``): the seam where a
test changes the world at an exact point inside a transaction.

Code marks a place with ``failpoint("draw.perform.before_commit")``. Unset (production),
the call is a dictionary lookup on an empty dict. The variable is read once, when this
module is imported (settings import it, so a malformed value stops the process at
start-up, not in the middle of a draw). Several failpoints are separated by ``;``.
Known names are listed in ``KNOWN`` and in docs/faults.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

KNOWN = {
    # live.services.performing.draw_perform: winners, status and audit entry written, not
    # yet committed; the draw row is locked (a scheduler killed here rolls all of it back).
    "draw.perform.before_commit",
    # core.views.readyz, before its checks: a request that stays in flight (shutdown tests).
    "http.readyz",
    # ticketing.services.orders.hold_purchase: the hold backend confirmed every seat, the
    # hold row is locked (the wallet not yet), nothing written yet (tests make Redis "lie"
    # here).
    "hold.purchase.verified",
    # ticketing.services.holds._claim: the backend claimed the seats and the user's holds
    # of the event were counted under the (user, event) lock; nothing written yet (the
    # per-user cap's concurrency test starts a second claim here).
    "hold.claim.counted",
    # ticketing.services.waiting_list.event_offers_make: the event's list locked and its
    # waiting entries read, about to offer seats to `entry` (tests make it leave here).
    "waiting_list.offer.entry",
}

_ACTION = re.compile(r"^(?:sleep\((?P<seconds>\d+(?:\.\d+)?)\)|(?P<raise>raise))$")


# Not in core/errors.py: settings import this module, and core/errors.py needs settings.
class FailpointError(RuntimeError):
    pass


def parse(spec: str) -> dict[str, tuple[str, Any]]:
    """``name=action;name=action`` -> {name: (action, seconds)}; ValueError if malformed."""
    points: dict[str, tuple[str, float]] = {}
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        name, _, action = (s.strip() for s in item.partition("="))
        if name not in KNOWN:
            raise ValueError(f"TOMBOLA_FAILPOINTS: unknown failpoint {name!r} (known: "
                             f"{', '.join(sorted(KNOWN))})")
        match = _ACTION.match(action)
        if match is None:
            raise ValueError(f"TOMBOLA_FAILPOINTS: {name}: action must be sleep(<seconds>) "
                             f"or raise, not {action!r}")
        points[name] = ("raise", 0.0) if match["raise"] else ("sleep", float(match["seconds"]))
    return points


_POINTS = parse(os.environ.get("TOMBOLA_FAILPOINTS", ""))
_MARKER = os.environ.get("TOMBOLA_FAILPOINTS_MARKER", "")


def failpoint(name: str, **context: Any) -> None:
    """Stall or raise here if TOMBOLA_FAILPOINTS names this place, or run the function a
    test armed it with (given `context`); otherwise nothing."""
    if not _POINTS:
        return
    point = _POINTS.get(name)
    if point is None:
        return
    action, seconds = point
    if action == "call":
        seconds(**context)
        return
    logger.warning("failpoint %s hit in pid %s: %s", name, os.getpid(), action)
    if _MARKER:
        with open(_MARKER, "a") as marker:
            marker.write(f"{name} {os.getpid()}\n")
    if action == "raise":
        raise FailpointError(f"failpoint {name}")
    time.sleep(seconds)


@contextlib.contextmanager
def armed(name: str, func: Callable[..., None]) -> Iterator[None]:
    """Run `func(**context)` at failpoint `name` inside the block (tests, in-process)."""
    if name not in KNOWN:
        raise ValueError(f"unknown failpoint {name!r}")
    previous = _POINTS.get(name)
    _POINTS[name] = ("call", func)
    try:
        yield
    finally:
        if previous is None:
            _POINTS.pop(name, None)
        else:
            _POINTS[name] = previous
