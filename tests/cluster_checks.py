"""On the Redis Cluster run (REDIS_URL=redis+cluster://...): no command of the service
may touch keys of two slots. The server counts each refusal (`INFO errorstats`,
`errorstat_CROSSSLOT`), and redis-py refuses a multi-key command or transaction whose
keys it can see are in different slots before sending it (RedisClusterException); the
session fixture in tests/conftest.py fails the run on either."""

from __future__ import annotations

import functools

from django.conf import settings

client_refusals: list[str] = []
# CROSSSLOT answers a test provoked on purpose (test_redis_cluster.py), not the service's.
provoked = 0


def crossslot_answers() -> int:
    """CROSSSLOT errors answered so far, summed over every node of the cluster."""
    from redis.cluster import RedisCluster

    from core.redis import get_redis

    total = 0
    stats = get_redis().info("errorstats", target_nodes=RedisCluster.ALL_NODES)
    for node_stats in stats.values():
        entry = node_stats.get("errorstat_CROSSSLOT")
        if entry:
            total += int(entry["count"]) if isinstance(entry, dict) else \
                int(str(entry).split("count=")[1].split(",")[0])
    return total


def record_client_refusals() -> None:
    """Wrap redis-py's slot check so that a refusal is recorded even where the service
    swallows the exception (after-commit hooks, the relay's reconnect loop)."""
    from redis.cluster import RedisCluster
    from redis.exceptions import RedisClusterException

    original = RedisCluster.determine_slot
    if getattr(original, "records_refusals", False):
        return

    @functools.wraps(original)
    def determine_slot(self, *args):
        try:
            return original(self, *args)
        except RedisClusterException as exc:
            if "same key slot" in str(exc) or "CROSSSLOT" in str(exc):
                client_refusals.append(f"{args[:1]}: {exc}")
            raise

    determine_slot.records_refusals = True
    RedisCluster.determine_slot = determine_slot


def on_cluster() -> bool:
    return bool(getattr(settings, "REDIS_CLUSTER", False))
