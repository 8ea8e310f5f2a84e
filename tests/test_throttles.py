"""Scoped rate limits on login, register, code send and code confirm.

Rates come from settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]; our
ScopedThrottle reads them per request, so overriding the setting in a test
is enough (DRF's own class would keep the rates it copied at import).
"""

import re

import pytest
from django.core.cache import cache

from core.models import PhoneVerification, User
from core.throttles import ScopedThrottle
from tests.conftest import assert_error, client_for

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def assert_throttled(response) -> None:
    body = assert_error(response, 429, "throttled")
    assert isinstance(body["retry_after_seconds"], int)
    assert 1 <= body["retry_after_seconds"] <= 61
    assert int(response["Retry-After"]) >= 1


def login(api, password=PASSWORD, **extra):
    return api.post(
        "/api/auth/token/", {"email": "alice@example.com", "password": password},
        format="json", **extra,
    )


def test_login_is_throttled_after_the_rate(api, user, rates):
    rates(login="2/min")
    assert login(api, password="wrong-password").status_code == 401
    assert login(api).status_code == 200
    assert_throttled(login(api))


def test_login_rate_comes_from_settings_at_request_time(api, user, rates):
    rates(login="3/min")
    for _ in range(3):
        assert login(api).status_code == 200
    assert_throttled(login(api))


def test_forged_forwarded_for_does_not_dodge_the_login_limit(api, user, rates):
    rates(login="2/min")
    login(api, HTTP_X_FORWARDED_FOR="10.0.0.1")
    login(api, HTTP_X_FORWARDED_FOR="10.0.0.2")
    assert_throttled(login(api, HTTP_X_FORWARDED_FOR="10.0.0.3"))


def test_throttle_history_lives_in_the_configured_cache(api, user, rates, monkeypatch):
    rates(login="5/min")
    monkeypatch.setattr(ScopedThrottle, "timer", staticmethod(lambda: 60 * 1000 + 5.0))
    login(api)
    assert cache.get("throttle_login_127.0.0.1_w1000") == 1


@pytest.mark.redis
def test_throttle_history_lives_in_redis_on_the_server_run(api, user, rates, settings):
    from core.redis import get_redis

    rates(login="5/min")
    login(api)
    keys = list(get_redis().scan_iter(match=f"{settings.REDIS_PREFIX}:cache:*throttle_login*"))
    assert len(keys) == 1


def test_register_is_throttled_and_the_throttled_request_writes_nothing(api, rates):
    rates(register="2/min")
    for n in range(2):
        body = {"email": f"new{n}@example.com", "password": PASSWORD}
        assert api.post("/api/accounts/register/", body, format="json").status_code == 201
    body = {"email": "new-too-many@example.com", "password": PASSWORD}
    assert_throttled(api.post("/api/accounts/register/", body, format="json"))
    assert not User.objects.filter(email="new-too-many@example.com").exists()


def test_code_send_is_throttled_per_user(user, other_user, rates, sms_outbox):
    rates(code_send="2/min")
    client = client_for(user)
    for phone in ("+4915123456781", "+4915123456782"):
        assert client.post("/api/accounts/phone/verification/", {"phone": phone},
                           format="json").status_code == 202
    throttled = client.post("/api/accounts/phone/verification/", {"phone": "+4915123456783"},
                            format="json")
    assert_throttled(throttled)
    assert len(sms_outbox) == 2 and PhoneVerification.objects.count() == 2
    other = client_for(other_user).post(
        "/api/accounts/phone/verification/", {"phone": "+4915123456784"}, format="json"
    )
    assert other.status_code == 202


def test_code_confirm_is_throttled(user, rates, sms_outbox):
    rates(code_confirm="3/min")
    client = client_for(user)
    client.post("/api/accounts/phone/verification/", {"phone": "+4915123456789"}, format="json")
    code = int(re.search(r"\d{6}", sms_outbox[0].text).group())
    guess = {"phone": "+4915123456789", "code": f"{(code + 1) % 10**6:06d}"}
    for _ in range(3):
        response = client.post("/api/accounts/phone/verification/confirm/", guess, format="json")
        assert response.status_code == 400
    assert_throttled(
        client.post("/api/accounts/phone/verification/confirm/", guess, format="json")
    )
    # The throttled guess never reached the code check.
    assert PhoneVerification.objects.get().attempts == 3


@pytest.mark.django_db
def test_throttles_fail_closed_when_the_cache_is_unreachable(api, settings):
    """A Redis outage must not lift the brute-force limits: 503, not a pass, not a 500."""
    from tests.servers import free_port

    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
    }}
    response = api.post("/api/auth/token/", {"email": "a@example.com", "password": "x"},
                        format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "rate_limits_unavailable"


@pytest.mark.redis
def test_one_throttle_check_is_one_redis_round_trip(settings, rates, redis_round_trips):
    """Counting a request, giving a new window its expiry and reading the count: one call.

    Counted on the wire, by a redis-py connection class that counts what it sends
    (one send of a command or a pipeline is one round trip), not with a mock.
    """
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    CountingConnection = redis_round_trips
    rates(login="2/min")
    view = APIView()
    view.throttle_scope = "login"
    factory = APIRequestFactory()

    def check(address: str) -> bool:
        request = view.initialize_request(factory.post("/x", REMOTE_ADDR=address))
        return ScopedThrottle().allow_request(request, view)

    assert check("10.9.8.1")  # opens the connection (its handshake is not a check)
    for address, allowed in (("10.9.8.2", True), ("10.9.8.1", True), ("10.9.8.1", False)):
        before = CountingConnection.sent
        assert check(address) is allowed
        assert CountingConnection.sent - before == 1
    # The counter is an ordinary cache key with the window's expiry.
    from django.core.cache import caches

    cache = caches["default"]
    full_key = next(k for k in cache._cache.get_client(write=False).scan_iter(
        match=cache.make_key("throttle_login_10.9.8.2_w*")))
    assert 0 < cache._cache.get_client(write=False).ttl(full_key) <= 61
