"""Rate limits, cache-backed (the Redis cache when REDIS_URL is set)."""

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class ScopedThrottle(ScopedRateThrottle):
    """ScopedRateThrottle that looks its rate up per request.

    DRF's class copies DEFAULT_THROTTLE_RATES once, at import; this one reads
    the live api_settings, which DRF reloads whenever REST_FRAMEWORK changes
    (so `settings.REST_FRAMEWORK = ...` in a test, or a reload, takes effect).
    Views set ``throttle_scope`` to a key of DEFAULT_THROTTLE_RATES.
    """

    @property
    def THROTTLE_RATES(self) -> dict:  # the attribute name DRF reads
        return api_settings.DEFAULT_THROTTLE_RATES
