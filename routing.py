"""WebSocket URL patterns -> consumers, and the whole ASGI application.

HTTP goes to Django; WebSockets go through origin validation and the
project's auth middleware to the consumers below. core/asgi.py serves this
after its start-up checks; tests use it directly.
"""

from channels.routing import ProtocolTypeRouter
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application
from django.urls import re_path

django_asgi_app = get_asgi_application()
if settings.DEBUG:
    # `make run` serves the admin's and API docs' static files itself, as
    # runserver would; in production nginx serves /static/ (deploy/nginx.conf).
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from consumers.health import HealthConsumer  # noqa: E402
from consumers.middleware import websocket_stack  # noqa: E402
from consumers.streams import StreamConsumer, UnknownStreamConsumer  # noqa: E402

websocket_urlpatterns = [
    re_path(r"^ws/health/?$", HealthConsumer.as_asgi()),
    re_path(r"^ws/events/(?P<object_id>[0-9]{1,18})/?$",
            StreamConsumer.as_asgi(kind_name="event", object_is_event=True)),
    re_path(r"^ws/events/(?P<object_id>[0-9]{1,18})/seats/?$",
            StreamConsumer.as_asgi(kind_name="seats", object_is_event=True)),
    re_path(r"^ws/draws/(?P<object_id>[0-9]{1,18})/?$",
            StreamConsumer.as_asgi(kind_name="draw")),
    re_path(r"", UnknownStreamConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_stack(websocket_urlpatterns),
    }
)
