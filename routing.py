"""WebSocket URL patterns -> consumers, and the whole ASGI application.

HTTP goes to Django (core/http.py: its WSGI handler on a fixed thread pool);
WebSockets go through origin validation and the project's auth middleware to
the consumers below. core/asgi.py serves this
after its start-up checks; tests use it directly.
"""

from channels.routing import ProtocolTypeRouter
from django.urls import re_path

from core.http import http_application

# Django set up first (the apps registry), then the consumers that import models.
http_app = http_application()

from consumers.health import HealthConsumer  # noqa: E402
from consumers.middleware import websocket_stack  # noqa: E402
from consumers.streams import StreamConsumer, UnknownStreamConsumer  # noqa: E402

websocket_urlpatterns = [
    re_path(r"^ws/health/?$", HealthConsumer.as_asgi()),
    re_path(r"^ws/events/(?P<object_id>[0-9]{1,18})/?$",
            StreamConsumer.as_asgi(kind_name="event", object_is_event=True)),
    re_path(r"^ws/events/(?P<object_id>[0-9]{1,18})/seats/?$",
            StreamConsumer.as_asgi(kind_name="seats", object_is_event=True)),
    re_path(r"^ws/events/(?P<object_id>[0-9]{1,18})/queue/?$",
            StreamConsumer.as_asgi(kind_name="queue", object_is_event=True)),
    re_path(r"^ws/events/(?P<object_id>[0-9]{1,18})/queue/staff/?$",
            StreamConsumer.as_asgi(kind_name="queue_staff", object_is_event=True)),
    re_path(r"^ws/users/(?P<object_id>[0-9]{1,18})/?$",
            StreamConsumer.as_asgi(kind_name="user")),
    re_path(r"^ws/draws/(?P<object_id>[0-9]{1,18})/?$",
            StreamConsumer.as_asgi(kind_name="draw")),
    re_path(r"", UnknownStreamConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": websocket_stack(websocket_urlpatterns),
    }
)
