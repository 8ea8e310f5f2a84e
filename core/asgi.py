"""ASGI entry point for daphne: set Django up, refuse unsafe settings, serve routing.application.

The process that loads it serves the sockets, so on embedded defaults it is the one
that publishes stream messages (core.streams.serve_streams_here).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

import django

django.setup()

from core.conf import assert_safe_to_serve  # noqa: E402

assert_safe_to_serve()

from core.streams import serve_streams_here  # noqa: E402

serve_streams_here()

from routing import application  # noqa: E402, F401
