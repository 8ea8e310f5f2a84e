"""ASGI entry point for daphne: set Django up, refuse unsafe settings, serve routing.application."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

import django

django.setup()

from core.conf import assert_safe_to_serve  # noqa: E402

assert_safe_to_serve()

from routing import application  # noqa: E402, F401
