"""The beacon this deployment uses, from settings (core/settings.py, "Draws nobody can steer").

Kept apart from live/beacon.py, which must load without Django for the verifier.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from live.beacon import KNOWN_CHAINS, Chain

if TYPE_CHECKING:
    from live.models import Draw


def beacon_chain() -> Chain | None:
    """The configured chain, or None when no relay is configured (draws use v1)."""
    if not settings.BEACON_RELAYS:
        return None
    if settings.BEACON_CHAIN_INFO:
        try:
            return Chain.from_dict(settings.BEACON_CHAIN_INFO)
        except (KeyError, TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"BEACON_CHAIN_INFO is not a chain: {exc}") from None
    try:
        return KNOWN_CHAINS[settings.BEACON_CHAIN]
    except KeyError:
        raise ImproperlyConfigured(
            f"BEACON_CHAIN must be one of {sorted(KNOWN_CHAINS)}, not {settings.BEACON_CHAIN!r}"
        ) from None


def beacon_relays() -> list[str]:
    return list(settings.BEACON_RELAYS)


def fallback_allowed_at(draw: Draw) -> datetime | None:
    """When staff may perform `draw` without its beacon round (None while it is not
    waiting): BEACON_FALLBACK_AFTER_SECONDS after it began waiting AND after its round was
    due. A round still to come is no outage: a draw performed by hand long before its
    round (say, a day before its scheduled time) must not earn a fallback to the
    operator-predictable v1 stream by waiting for it."""
    if not draw.beacon_waiting_since:
        return None
    start = draw.beacon_waiting_since
    if draw.beacon_chain and draw.beacon_round:
        due = Chain.from_dict(draw.beacon_chain).round_time(draw.beacon_round)
        start = max(start, datetime.fromtimestamp(due, UTC))
    return start + timedelta(seconds=settings.BEACON_FALLBACK_AFTER_SECONDS)
