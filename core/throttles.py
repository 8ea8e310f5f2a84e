"""Rate limits, cache-backed (the Redis cache when REDIS_URL is set)."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from core.authentication import pending_revocation_check, user_tag
from core.emails import email_canonical
from core.errors import ServiceUnavailable, is_redis_unavailable

# One round trip per check: count the request in its window and, for a new
# window, give the counter its expiry, atomically (a script runs alone); and
# read the token's deny entry when authentication left that to us
# (core/authentication.py). KEYS[1] the window's counter, or "" when the view
# is not limited; KEYS[2] (optional) the deny entry; ARGV[1] the counter's TTL.
COUNT_LUA = """
local count = 0
if KEYS[1] ~= '' then
  count = redis.call('INCR', KEYS[1])
  if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
end
local revoked = false
if KEYS[2] then revoked = redis.call('GET', KEYS[2]) end
return {count, revoked}
"""


class ScopedThrottle(ScopedRateThrottle):
    """ScopedRateThrottle with live rates and an atomic counter.

    Rates: DRF's class copies DEFAULT_THROTTLE_RATES once, at import; this one
    reads the live api_settings, which DRF reloads whenever REST_FRAMEWORK
    changes (so `settings.REST_FRAMEWORK = ...` in a test, or a reload, takes
    effect). Views set ``throttle_scope`` to a key of DEFAULT_THROTTLE_RATES.

    Counting: DRF keeps a list of timestamps it reads, appends to and writes
    back, so N requests arriving together (two workers, one attacker with many
    sockets) all read the same short list and all pass. Here each request is
    one atomic INCR (Redis; the local-memory cache locks) on a counter per
    fixed window of the rate's duration: exactly `num_requests` pass per
    window, however many arrive at once. On Redis the count and the expiry of
    a new window are one script call, one round trip (COUNT_LUA); the counter
    is an ordinary key of the cache, so ``cache.get`` still reads it. A fixed
    window lets up to twice the rate through across a window boundary, never
    more; per day the bound is
    `num_requests * (86400 / duration + 1)`.

    The client is told the seconds left in the window (`retry_after_seconds`).
    """

    timer = staticmethod(time.time)  # tests replace it to move the clock

    @property
    def THROTTLE_RATES(self) -> dict:  # the attribute name DRF reads
        return api_settings.DEFAULT_THROTTLE_RATES

    def allow_request(self, request, view) -> bool:
        """Fail closed when the cache (Redis) is down: 503, never a 500 and never unlimited.

        A view may name the error to answer with (``throttle_unavailable_error``),
        so that e.g. a hold request says ``seat_locks_unavailable`` whichever
        Redis call failed first.
        """
        try:
            return self.count_request(request, view)
        except Exception as exc:
            if not is_redis_unavailable(exc):
                raise
            error = getattr(view, "throttle_unavailable_error", None)
            raise (error() if error else ServiceUnavailable(
                "Rate limits cannot be checked right now; try again shortly.",
                code="rate_limits_unavailable",
            )) from exc

    def count_request(self, request, view) -> bool:
        # A bearer token's revocation, when authentication left it to this round trip.
        revocation = pending_revocation_check(request)
        self.key = self.window_key(request, view)
        count, revoked_before = self.count_in_window(
            self.key, timeout=getattr(self, "duration", 0) + 1,
            deny_key=revocation.key if revocation is not None else None)
        if revocation is not None:
            revocation.refuse_if_revoked(revoked_before)
        return self.key is None or count <= self.num_requests

    def window_key(self, request, view) -> str | None:
        """The counter of this request's window, or None when the view is not limited."""
        # As ScopedRateThrottle: the scope and its rate come from the view.
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return None
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return None
        ident = self.get_cache_key(request, view)
        if ident is None:
            return None
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends_at = (window + 1) * self.duration
        return f"{ident}_w{window}"

    @staticmethod
    def count_in_window(key: str | None, *, timeout: int,
                        deny_key: str | None = None) -> tuple[int, object]:
        """Add one to the window's counter (created with `timeout`) unless `key` is None,
        and read the cache entry `deny_key`: (the new count, the entry or None)."""
        cache = caches["default"]
        if isinstance(cache, RedisCache):
            keys = [cache.make_and_validate_key(key) if key is not None else ""]
            if deny_key is not None:
                keys.append(cache.make_and_validate_key(deny_key))
            client = cache._cache.get_client(keys[0] or keys[-1], write=True)
            if len(keys) == 2 and keys[0] and _slot(keys[0]) != _slot(keys[1]) and \
                    settings.REDIS_CLUSTER:
                # A cluster runs a script on one slot only: a counter that is not the
                # user's (per address or email) and the user's deny entry go as two
                # commands of one pipeline (one per node). EVAL as a plain command:
                # redis-py's cluster pipeline has no eval() of its own.
                pipe = client.pipeline()
                pipe.execute_command("EVAL", COUNT_LUA, 1, keys[0], timeout)
                pipe.get(keys[1])
                (count, _), entry = pipe.execute()
                return int(count), entry
            # EVAL, not EVALSHA: never a NOSCRIPT miss costing a second round trip.
            count, entry = client.eval(COUNT_LUA, len(keys), *keys, timeout)
            return int(count), entry
        entry = cache.get(deny_key) if deny_key is not None else None
        if key is None:
            return 0, entry
        # The local-memory cache (embedded defaults) locks around incr.
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key), entry
        except ValueError:  # expired between add and incr: a fresh window
            cache.add(key, 1, timeout=timeout)
            return 1, entry

    def wait(self) -> float:
        return max(0.0, self.window_ends_at - self.now)

    def get_cache_key(self, request, view) -> str | None:
        # A user's counters carry the user's hash tag, as the deny entry does: one slot.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return self.cache_format % {"scope": self.scope, "ident": user_tag(user.pk)}
        return super().get_cache_key(request, view)


def _slot(cache_key: str) -> int:
    from redis.crc import key_slot

    return key_slot(cache_key.encode())


class AddressThrottle(ScopedThrottle):
    """A second limit on a view, per client address even for logged-in users.

    The view names its scope in ``address_throttle_scope``; the address is the one
    ScopedThrottle trusts (NUM_PROXIES).
    """

    scope_attr = "address_throttle_scope"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class EmailThrottle(ScopedThrottle):
    """A limit per email address named in the body (``email``), whoever asks: a script
    cycling through client addresses still cannot flood one mailbox. The same for
    addresses with and without an account, so a 429 tells nothing. The view names
    its scope in ``email_throttle_scope``; the address counts in its canonical form
    (core/emails.py), hashed: the cache holds no address.
    """

    scope_attr = "email_throttle_scope"

    def get_cache_key(self, request, view) -> str | None:
        # A DRF request's parsed body, or a plain Django request's form (core/pages.py).
        data = request.data if hasattr(request, "data") else request.POST
        email = data.get("email") if hasattr(data, "get") else None
        if not isinstance(email, str) or not email.strip():
            return None  # the serializer answers 400
        ident = hashlib.sha256(email_canonical(email).encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}
