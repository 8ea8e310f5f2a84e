"""Shared fixtures.

The same suite runs on embedded defaults and on PostgreSQL + Redis. Tests
that only make sense on a real server carry @pytest.mark.postgres or
@pytest.mark.redis: they are skipped (with the reason) on the embedded run
and, with REQUIRE_SERVICES=1 (CI's server run), a missing server fails the
run instead of skipping.
"""

from __future__ import annotations

import itertools
import os

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.skips import OPTIONAL_TOOL

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_collection_modifyitems(config, items):
    _deselect_other_redis_topology(config, items)
    # The replica's tests run where CI starts one (.ci/run, scripts/pg_replica), with
    # DATABASE_REPLICA_URL; elsewhere they are not collected rather than skipped, so
    # the server run (no skips allowed) does not need a replica too.
    if "replica" not in settings.DATABASES:
        replica_only = [item for item in items if item.get_closest_marker("replica")]
        if replica_only:
            config.hook.pytest_deselected(items=replica_only)
            items[:] = [item for item in items if not item.get_closest_marker("replica")]
    missing = {
        "postgres": None if settings.USING_POSTGRES else "needs PostgreSQL: set DATABASE_URL=postgres://...",
        "redis": None if settings.REDIS_URL else "needs Redis: set REDIS_URL=redis://...",
    }
    for item in items:
        for marker, reason in missing.items():
            if reason and item.get_closest_marker(marker):
                if REQUIRE_SERVICES:
                    raise pytest.UsageError(
                        f"{item.nodeid} {reason}, and REQUIRE_SERVICES=1 forbids skipping it"
                    )
                item.add_marker(pytest.mark.skip(reason=reason))


def _deselect_other_redis_topology(config, items) -> None:
    """Tests of one Redis topology are deselected (not skipped: the server runs allow no
    skip) under the other: `redis_cluster` tests need REDIS_URL=redis+cluster://...,
    and on a cluster the STREAM_FANOUT=group variants cannot run (refused at start)."""
    cluster = bool(getattr(settings, "REDIS_CLUSTER", False))

    def other_topology(item) -> bool:
        if item.get_closest_marker("redis_cluster"):
            return not cluster
        params = getattr(getattr(item, "callspec", None), "params", {})
        return cluster and "group" in (params.get("fanout"), params.get("server"))

    deselected = [item for item in items if other_topology(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not other_topology(item)]


def _flush_redis_prefix() -> None:
    from core.redis import get_redis

    client = get_redis()
    if client is None:
        return
    keys = list(client.scan_iter(match=f"{settings.REDIS_PREFIX}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def _reset_memory_queue_lines() -> None:
    """The waiting rooms' lines on embedded defaults live in process memory (and the
    queue stream's per-second visibility answers), and SQLite reuses event ids."""
    from ticketing.queue_line import _memory
    from ticketing.services import waiting_room
    from ticketing.streams import _visibility

    _memory.reset()
    _visibility.clear()
    waiting_room._untold.clear()  # moves seen but not told, by event id


@pytest.fixture(scope="session", autouse=True)
def _this_process_serves_the_streams():
    """The test process is the server of its in-process consumers: on embedded defaults
    it publishes in its own memory, as `manage.py serve` does, instead of writing to
    the stream outbox like a separate command (core/streams.py). Tests of the outbox
    switch this off with monkeypatch."""
    from core import streams

    streams.serve_streams_here()


@pytest.fixture(scope="session", autouse=True)
def _no_crossslot_on_the_cluster():
    """With REDIS_URL=redis+cluster://..., fail the run if any Redis command of the
    service touched two slots (tests/cluster_checks.py; test_redis_cluster.py shows
    that the check sees one)."""
    from tests import cluster_checks

    if not cluster_checks.on_cluster():
        yield
        return
    cluster_checks.record_client_refusals()
    before = cluster_checks.crossslot_answers()
    yield
    answered = cluster_checks.crossslot_answers() - before - cluster_checks.provoked
    assert answered == 0, f"{answered} Redis command(s) answered CROSSSLOT on the cluster"
    assert not cluster_checks.client_refusals, \
        f"redis-py refused cross-slot commands: {cluster_checks.client_refusals}"


@pytest.fixture(autouse=True)
def _isolated_state():
    """Each test starts with empty caches, stream history and Redis keys."""
    from core import streams

    # With Redis, the cache lives under REDIS_PREFIX and is flushed with it;
    # cache.clear() would FLUSHDB the whole database index.
    if not settings.REDIS_URL:
        cache.clear()
    streams.reset_memory_backend()
    _reset_memory_queue_lines()
    _flush_redis_prefix()
    yield


@pytest.fixture(autouse=True)
def frozen_throttle_clock(monkeypatch):
    """Throttles count per fixed window (core/throttles.py); a test whose requests
    straddle a window boundary would see its count reset. The throttle clock stands
    still during a test; tests that need time to pass move it (test_brute_force.py)."""
    import time

    from core.throttles import ScopedThrottle

    now = time.time()
    monkeypatch.setattr(ScopedThrottle, "timer", staticmethod(lambda: now))


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """MD5 hashing in tests (servers started by tests still use Argon2).

    Argon2 (the production hasher) takes ~100 MB and a good fraction of a
    second per hash on purpose; tests about something else need not pay it.
    tests/test_accounts.py checks that registration stores Argon2 hashes with
    the production setting.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def manual_payments(settings):
    """Top-ups start bank transfers (the default with DEBUG off), whatever DEBUG the
    shell that runs the tests has: pytest-django turns DEBUG off, and the demo provider
    would refuse. Payment tests switch providers themselves (tests/test_payments*.py)."""
    settings.PAYMENT_PROVIDER = "manual"


@pytest.fixture(autouse=True)
def loopback_receivers(settings):
    """Tests' webhook and operator receivers listen on loopback, which the
    production default refuses (core/outbound.py); tests/test_outbound_guard.py
    checks that refusal with the default setting."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]


@pytest.fixture
def rates(settings):
    """Set throttle rates for one test: rates(login="2/min") (ScopedThrottle reads them live)."""

    def set_rates(**scopes: str) -> None:
        current = settings.REST_FRAMEWORK
        settings.REST_FRAMEWORK = {
            **current,
            "DEFAULT_THROTTLE_RATES": {**current["DEFAULT_THROTTLE_RATES"], **scopes},
        }

    return set_rates


_emails = itertools.count(1)


@pytest.fixture
def make_user(db):
    from core.models import User

    def make(email: str | None = None, password: str = "correct-horse-battery", **fields):
        email = email or f"user{next(_emails)}@example.com"
        return User.objects.create_user(email=email, password=password, **fields)

    return make


@pytest.fixture
def user(make_user):
    return make_user(email="alice@example.com", first_name="Alice")


@pytest.fixture
def other_user(make_user):
    return make_user(email="bob@example.com", first_name="Bob")


# What an organiser's staff account holds (core/permissions.py): every permission of
# the live and ticketing apps, and core's events, venues, webhooks and user lookups.
ORGANISER_CORE_MODELS = ("event", "venue", "webhookendpoint", "webhookdelivery", "user")


def organiser_permissions():
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    return Permission.objects.filter(
        Q(content_type__app_label__in=["live", "ticketing"])
        | Q(content_type__app_label="core", content_type__model__in=ORGANISER_CORE_MODELS,
            codename__regex=r"^(view|add|change|delete)_"))


@pytest.fixture
def staff(make_user):
    """A staff account with the organiser's model permissions (not a superuser)."""
    user = make_user(email="staff@example.com", is_staff=True)
    user.user_permissions.set(organiser_permissions())
    return user


@pytest.fixture
def bare_staff(make_user):
    """A staff account without any permission: the API refuses it as the admin does."""
    return make_user(email="bare-staff@example.com", is_staff=True)


@pytest.fixture
def superuser(make_user):
    return make_user(email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def api():
    return APIClient()


def client_for(user) -> APIClient:
    """An APIClient that sends a real JWT for `user`, as login gives phones (with claims)."""
    from core.authentication import SessionRefreshToken

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {SessionRefreshToken.for_user(user).access_token}")
    return client


def assert_error(response, status: int, code: str) -> dict:
    """The response is an error in the project's shape with this status and code."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.fixture
def user_api(user):
    return client_for(user)


@pytest.fixture
def other_api(other_user):
    return client_for(other_user)


@pytest.fixture
def redis_round_trips(settings, monkeypatch):
    """The cache's Redis connections, counting what they send: one command or one
    pipeline is one round trip (`.sent`). Counted on the wire, not with a mock."""
    import redis

    class CountingConnection(redis.Connection):
        sent = 0

        def send_packed_command(self, command, check_health=True):
            CountingConnection.sent += 1
            return super().send_packed_command(command, check_health)

    if settings.REDIS_CLUSTER:
        # The cluster client makes its own connections per node (no connection_class
        # option): count what every sync connection of the process sends.
        original = redis.Connection.send_packed_command

        def counting(self, command, check_health=True):
            CountingConnection.sent += 1
            return original(self, command, check_health)

        monkeypatch.setattr(redis.Connection, "send_packed_command", counting)
        # A fresh slot map first (after a failover test, the first command of a stale
        # client would be answered MOVED and retried), and a connection open to every
        # master (a new one sends its handshake, CLIENT SETINFO, before the command).
        from django.core.cache import caches
        from redis.cluster import RedisCluster

        client = caches["default"]._cache.get_client()
        client.nodes_manager.initialize()
        client.ping(target_nodes=RedisCluster.PRIMARIES)
        return CountingConnection
    settings.CACHES = {"default": {**settings.CACHES["default"],
                                   "OPTIONS": {"connection_class": CountingConnection}}}
    return CountingConnection


@pytest.fixture
def superuser_browser(staff):
    """A logged-in browser session of a superuser, for the admin's pages."""
    from django.test import Client

    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def staff_api(staff):
    return client_for(staff)


@pytest.fixture
def sms_outbox(settings):
    """Switch SMS to the memory backend; the list of messages sent during the test."""
    from core import sms

    settings.SMS_BACKEND = "memory"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


def _optional_tool_skip(report) -> bool:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return OPTIONAL_TOOL in reason


def pytest_sessionfinish(session, exitstatus):
    """On the server run (REQUIRE_SERVICES=1) a skipped test fails the run, unless it
    skipped for a missing optional tool (tests/skips.py): nothing that needs
    PostgreSQL, Redis or Chromium may skip there."""
    if not REQUIRE_SERVICES:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = [report for report in (reporter.stats.get("skipped", []) if reporter else [])
               if not _optional_tool_skip(report)]
    if skipped and session.exitstatus == 0:
        names = ", ".join(report.nodeid for report in skipped[:5])
        reporter.write_line(
            f"REQUIRE_SERVICES=1: {len(skipped)} test(s) skipped ({names}); none may skip here.",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
