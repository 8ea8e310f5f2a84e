"""The WebSocket stack: origin validation, then the URL router."""

from channels.routing import URLRouter
from channels.security.websocket import OriginValidator
from django.conf import settings


def allowed_origins() -> list[str]:
    if settings.WEBSOCKET_ALLOWED_ORIGINS:
        return list(settings.WEBSOCKET_ALLOWED_ORIGINS)
    return list(settings.ALLOWED_HOSTS)


def websocket_stack(urlpatterns):
    return OriginValidator(URLRouter(urlpatterns), allowed_origins())
