"""The beacon this deployment uses, from settings (core/settings.py, "Draws nobody can steer").

Kept apart from live/beacon.py, which must load without Django for the verifier.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from live.beacon import KNOWN_CHAINS, Chain


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
