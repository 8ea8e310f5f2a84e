"""Rate limits, cache-backed (the Redis cache when REDIS_URL is set)."""

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from core.errors import ServiceUnavailable, is_redis_unavailable


class ScopedThrottle(ScopedRateThrottle):
    """ScopedRateThrottle that looks its rate up per request.

    DRF's class copies DEFAULT_THROTTLE_RATES once, at import; this one reads
    the live api_settings, which DRF reloads whenever REST_FRAMEWORK changes
    (so `settings.REST_FRAMEWORK = ...` in a test, or a reload, takes effect).
    Views set ``throttle_scope`` to a key of DEFAULT_THROTTLE_RATES.
    """

    def allow_request(self, request, view) -> bool:
        """Fail closed when the cache (Redis) is down: 503, never a 500 and never unlimited.

        A view may name the error to answer with (``throttle_unavailable_error``),
        so that e.g. a hold request says ``seat_locks_unavailable`` whichever
        Redis call failed first.
        """
        try:
            return super().allow_request(request, view)
        except Exception as exc:
            if not is_redis_unavailable(exc):
                raise
            error = getattr(view, "throttle_unavailable_error", None)
            raise (error() if error else ServiceUnavailable(
                "Rate limits cannot be checked right now; try again shortly.",
                code="rate_limits_unavailable",
            )) from exc

    @property
    def THROTTLE_RATES(self) -> dict:  # the attribute name DRF reads
        return api_settings.DEFAULT_THROTTLE_RATES
