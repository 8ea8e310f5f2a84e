"""Absolute links to this deployment, for emails, proofs and stream messages.

One function builds them all (``absolute_url``), from the first of:

1. ``PUBLIC_BASE_URL`` when set: the address the operator says the public uses
   (behind a proxy or a CDN the server cannot know it);
2. the address the current request came in on: scheme and ``Host`` as Django
   validates them against ``ALLOWED_HOSTS`` (``request.build_absolute_uri``), so
   a forged ``Host`` header cannot put an attacker's host into a reset link;
   ``remember_request`` (a middleware) keeps the request in a context variable
   for the length of the request, which reaches services and their on-commit
   email sends without passing it through every signature;
3. the address ``manage.py serve`` listens on (``serve_base_url``), for work
   without a request in the server process (the in-process scheduler);
4. otherwise the path alone: a relative link the client resolves against the
   server it talks to (a management command on embedded defaults).

Never a hard-coded host or port: the server may run on any of them.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.conf import settings
from django.core.exceptions import DisallowedHost

_request: ContextVar = ContextVar("tombola_request", default=None)
_serve_base = ""
WILDCARD_HOSTS = {"0.0.0.0", "::", "[::]", ""}  # noqa: S104 - names them, binds nothing


def remember_request(get_response):
    """Middleware: the current request, for ``absolute_url`` (a context variable)."""

    def middleware(request):
        token = _request.set(request)
        try:
            return get_response(request)
        finally:
            _request.reset(token)

    return middleware


def serve_base_url(host: str, port: int) -> None:
    """``manage.py serve``: links made without a request point at this listener."""
    global _serve_base
    _serve_base = "" if host in WILDCARD_HOSTS else f"http://{host}:{port}"


def base_url() -> str:
    """The scheme and host links start with, without a trailing slash ("" when unknown)."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/")
    request = _request.get()
    if request is not None:
        try:
            return request.build_absolute_uri("/").rstrip("/")
        except DisallowedHost:
            pass
    return _serve_base


def absolute_url(path: str) -> str:
    """``path`` (starting with "/", query string included) as a link (module docstring)."""
    return base_url() + path
