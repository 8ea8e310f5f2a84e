"""URL helpers: every API path answers with or without its trailing slash."""

from __future__ import annotations

import functools
import re

from django.http import Http404
from django.urls import re_path
from django.urls.converters import get_converters

_PARAM = re.compile(r"<(\w+):(\w+)>")


def _literal(text: str) -> str:
    # re.escape turns "-" into "\-"; drf-spectacular copies that backslash
    # into the OpenAPI path ("/screen\-keys/"), which then names no URL. Outside
    # a character class "-" needs no escape.
    return re.escape(text).replace("\\-", "-")


# Ids are BigAutoField: a larger number names no row, and handing it to the
# database raises (SQLite OverflowError, PostgreSQL "out of range") -> 500.
MAX_ID = 2**63 - 1


class BoundedIntConverter:
    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError(f"{value[:20]}... is larger than any id")
        return number

    def to_url(self, value) -> str:
        return str(value)


def _converter(kind: str):
    return BoundedIntConverter() if kind == "int" else get_converters()[kind]


def api_path(route: str, view, name: str | None = None, kwargs: dict | None = None):
    """Like path() for a route written with a trailing slash, made optional.

    ``api_path("events/<int:pk>/checkin/", view)`` matches ``events/1/checkin``
    and ``events/1/checkin/``, and passes ``pk`` as an int, as path() would.
    Any of Django's path converters (int, str, slug, uuid, path) can be used.
    """
    body = route.rstrip("/")
    converters = {}
    regex = ""
    position = 0
    for match in _PARAM.finditer(body):
        kind, param = match.groups()
        converters[param] = converter = _converter(kind)
        regex += _literal(body[position:match.start()]) + f"(?P<{param}>{converter.regex})"
        position = match.end()
    regex += _literal(body[position:])
    pattern = f"^{regex}/?$" if body else "^$"
    return re_path(pattern, _typed(view, converters) if converters else view,
                   kwargs=kwargs, name=name)


def _typed(view, converters: dict):
    # functools.wraps keeps what DRF and Django put on the view function
    # (cls, initkwargs, csrf_exempt), so schema generation and CSRF still work.
    @functools.wraps(view)
    def typed_view(request, *args, **kwargs):
        for param, converter in converters.items():
            if param in kwargs:
                try:
                    kwargs[param] = converter.to_python(kwargs[param])
                except ValueError:
                    # What path() does when a converter refuses: no such URL.
                    raise Http404 from None
        return view(request, *args, **kwargs)

    return typed_view
