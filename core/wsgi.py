"""WSGI entry point, for measuring the HTTP API under a WSGI server (bench/request_path.py).

Tombola serves HTTP and WebSockets from daphne (core/asgi.py, routing.py); the
HTTP part runs Django's WSGI handler on a thread pool inside it (core/http.py).
This module lets gunicorn run the same Django code for comparison.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

from django.core.wsgi import get_wsgi_application

from core.conf import assert_safe_to_serve

application = get_wsgi_application()
assert_safe_to_serve()
