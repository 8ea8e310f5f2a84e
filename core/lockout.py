"""Sign-in lockout for the admin login: too many wrong passwords lock the door for a while.

A throttle (core/throttles.py, scope ``login``) caps the attempts per address and
minute; a lockout stops a slow, patient guesser. After LOGIN_LOCKOUT_FAILURES wrong
passwords for one account, or LOGIN_LOCKOUT_ADDRESS_FAILURES from one address,
within LOGIN_LOCKOUT_SECONDS, sign-in is refused (even with the right password)
until that window has passed since the first failure. Each lockout logs one
WARNING (logger ``core.lockout``), with the account and address; a refusal while
locked logs at INFO.

Counters live in the cache (Redis when configured, so every worker sees them) under
a hash of the account, never the address in clear. Locking an account out is also
what an attacker can do to its owner: the window is short (15 minutes by default);
docs/security.md weighs this.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]
    return f"login_failures_{kind}_{digest}"


def _limits(account: str | None, address: str | None) -> list[tuple[str, str, int]]:
    limits = []
    if account:
        limits.append(("account", account, settings.LOGIN_LOCKOUT_FAILURES))
    if address:
        limits.append(("address", address, settings.LOGIN_LOCKOUT_ADDRESS_FAILURES))
    return limits


def login_locked(*, account: str | None, address: str | None, source: str) -> bool:
    """True while the account or the address is locked out."""
    for kind, value, limit in _limits(account, address):
        if limit > 0 and (cache.get(_key(kind, value)) or 0) >= limit:
            logger.info("%s sign-in refused: %s %s is locked out", source, kind, value)
            return True
    return False


def login_failed(*, account: str | None, address: str | None, source: str) -> None:
    """Count a wrong password against the account and the address; log a new lockout."""
    for kind, value, limit in _limits(account, address):
        if limit <= 0:
            continue
        key = _key(kind, value)
        cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr: a fresh window
            cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
            failures = 1
        if failures == limit:
            logger.warning(
                "%s sign-in locked out: %s %s after %d failed attempts (account=%s, "
                "address=%s); locked for up to %ss", source, kind, value, failures,
                account, address, settings.LOGIN_LOCKOUT_SECONDS)


def login_succeeded(*, account: str | None) -> None:
    """A right password (while not locked) clears the account's failures."""
    if account:
        cache.delete(_key("account", account))
