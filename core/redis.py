"""The project's Redis connection, when REDIS_URL is set.

One client per process (redis-py pools its connections). Every key is built
with key(...) so that it carries settings.REDIS_PREFIX.

On a Redis Cluster (REDIS_URL=redis+cluster://host:port,...; settings.REDIS_CLUSTER)
the client is redis-py's RedisCluster, which routes each command to the master of
its key's slot and follows MOVED/ASK after a failover. Keys that one script or one
MULTI touches together share a hash tag (`{...}`, tagged()), so they live in
one slot: the same code runs on a single server and on a cluster.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from django.conf import settings

CLUSTER_SCHEME = "redis+cluster://"


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The startup nodes of a redis+cluster:// URL: [(host, port), ...]."""
    nodes = []
    for part in url.removeprefix(CLUSTER_SCHEME).split("/", 1)[0].split(","):
        parsed = urlsplit(f"redis://{part.strip()}")
        if parsed.hostname:
            nodes.append((parsed.hostname, parsed.port or 6379))
    if not nodes:
        raise ValueError(f"no node in {url!r}")
    return nodes


def cluster_client(url: str, **options):
    """A RedisCluster client for a redis+cluster:// URL (sync, shared by threads)."""
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.retry import Retry

    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster_nodes(url)],
        # A command that meets a failover (connection refused, MOVED, CLUSTERDOWN) is
        # retried on a reloaded slot map for about two seconds before it fails (503).
        retry=Retry(ExponentialWithJitterBackoff(base=0.1, cap=0.5), retries=6), **options,
    )


@functools.cache
def _client(url: str):
    options = {"decode_responses": True, "socket_connect_timeout": 2, "socket_timeout": 5,
               "health_check_interval": 30}
    if url.startswith(CLUSTER_SCHEME):
        return cluster_client(url, **options)
    import redis

    return redis.Redis.from_url(url, **options)


def get_redis():
    """The shared client, or None when Redis is not configured."""
    if not settings.REDIS_URL:
        return None
    return _client(settings.REDIS_URL)


def key(*parts: object) -> str:
    return ":".join([settings.REDIS_PREFIX, *(str(p) for p in parts)])


def tagged(name: object) -> str:
    """`{name}`: a hash tag. Keys that carry the same one land in the same cluster slot."""
    return f"{{{name}}}"
