"""The framework's floor: one sync Django view, no middleware, no database, Django's ASGIHandler."""

import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path


def ok(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [path("healthz", ok)]

settings.configure(
    DEBUG=False, SECRET_KEY="bench-bare-django", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
    MIDDLEWARE=[], INSTALLED_APPS=[], DATABASES={}, USE_TZ=True,
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
