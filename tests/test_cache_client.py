"""core/cache.py: the Redis cache reuses one redis-py client per pool (no object per call)."""

import pytest
from django.core.cache import caches

pytestmark = pytest.mark.redis


def test_the_redis_cache_hands_out_one_client_per_pool():
    cache = caches["default"]
    first = cache._cache.get_client("k", write=True)
    assert cache._cache.get_client("other", write=True) is first
    cache.set("tombola-cache-check", 7, timeout=5)
    assert cache.get("tombola-cache-check") == 7  # still a working cache
    assert cache.incr("tombola-cache-check") == 8
