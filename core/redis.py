"""The project's Redis connection, when REDIS_URL is set.

One client per process (redis-py pools its connections). Every key is built
with key(...) so that it carries settings.REDIS_PREFIX.
"""

from __future__ import annotations

import functools

from django.conf import settings


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


@functools.cache
def _client(url: str):
    import redis

    return redis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
        health_check_interval=30,
    )


def get_redis():
    """The shared client, or None when Redis is not configured."""
    if not settings.REDIS_URL:
        return None
    return _client(settings.REDIS_URL)


def key(*parts: object) -> str:
    return ":".join([settings.REDIS_PREFIX, *(str(p) for p in parts)])
