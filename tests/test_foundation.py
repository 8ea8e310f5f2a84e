"""Settings, health, error shape, trailing slashes and the ASGI stack."""

import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from core.conf import assert_safe_to_serve


def test_healthz_answers_ok(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_backing_service(api, settings):
    response = api.get("/readyz/")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert ("redis" in checks) == bool(settings.REDIS_URL)


@pytest.mark.django_db
def test_readyz_answers_503_naming_redis_when_it_is_unreachable(api, settings):
    from core.redis import _client

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = api.get("/readyz")
    finally:
        _client.cache_clear()
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable")
    assert "redis" in body["detail"]


def test_refuses_to_serve_with_dev_key_when_debug_is_off(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        assert_safe_to_serve()


def test_serves_with_dev_key_only_in_debug(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    assert_safe_to_serve()  # no exception
    settings.DEBUG = False
    settings.SECRET_KEY = "a-real-secret-from-the-environment"
    settings.SMS_BACKEND = "http"  # console is refused with DEBUG off too (test_sms_pumping)
    assert_safe_to_serve()


@pytest.mark.django_db
def test_unknown_api_path_answers_json_404(api):
    response = api.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_openapi_schema_and_docs_are_served(api, db):
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi" in schema.content
    assert api.get("/api/docs").status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_run_really_uses_postgres():
    assert connection.vendor == "postgresql"


@pytest.mark.redis
def test_redis_run_really_uses_redis(settings):
    from channels.layers import get_channel_layer

    from core.redis import get_redis

    assert get_redis().ping() is True
    assert type(get_channel_layer()).__module__.startswith("channels_redis")


def test_backends_follow_the_environment(settings):
    # Embedded defaults without DATABASE_URL / REDIS_URL; the servers with them.
    engine = settings.DATABASES["default"]["ENGINE"]
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if os.environ.get("DATABASE_URL"):
        assert engine == "django.db.backends.postgresql"
    else:
        assert engine == "django.db.backends.sqlite3"
    if os.environ.get("REDIS_URL"):
        assert layer == "channels_redis.core.RedisChannelLayer"
    else:
        assert layer == "channels.layers.InMemoryChannelLayer"


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_creates_the_readme_staff_login():
    from django.core.management import call_command

    from core.models import User
    from demo.management.commands.seed_demo import DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD

    call_command("seed_demo")
    call_command("seed_demo")
    staff = User.objects.get(email=DEMO_STAFF_EMAIL)
    assert staff.is_staff
    assert staff.check_password(DEMO_STAFF_PASSWORD)
    assert User.objects.filter(email=DEMO_STAFF_EMAIL).count() == 1


@pytest.mark.django_db(transaction=True)
async def test_websocket_health_stream_over_the_real_asgi_stack():
    from channels.testing import WebsocketCommunicator

    from routing import application

    communicator = WebsocketCommunicator(
        application, "/ws/health/", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from() == {"type": "hello"}
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_websocket_from_a_foreign_origin_is_refused():
    from channels.testing import WebsocketCommunicator

    from routing import application

    communicator = WebsocketCommunicator(
        application, "/ws/health/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected


def test_api_path_matches_with_and_without_slash_and_escapes_literals():
    from django.urls import resolve

    from core.routes import api_path

    def view(request, event_id):
        return event_id

    pattern = api_path("screen/events/<int:event_id>/qr.svg", view, name="x")
    match = pattern.resolve("screen/events/12/qr.svg")
    assert match.func(None, **match.kwargs) == 12  # an int, as path() gives
    assert pattern.resolve("screen/events/12/qr.svg/") is not None
    assert pattern.resolve("screen/events/12/qrXsvg") is None
    assert pattern.resolve("screen/events/abc/qr.svg") is None
    assert resolve("/healthz").url_name == resolve("/healthz/").url_name == "healthz"
