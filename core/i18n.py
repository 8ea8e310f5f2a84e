"""The language of a request: Accept-Language, among settings.LANGUAGES, else LANGUAGE_CODE.

Django's LocaleMiddleware does the same and more (a language cookie, i18n URL
prefixes, redirects), none of which we use, at about ten times the cost per
request: it reads a dozen settings through the lazy settings object and patches
headers generically. This one is on both middleware chains (the bearer-token API's
too, core/http.py), so its cost is every request's: one dict lookup for a header
seen before (a phone sends the same header every time), no query, no I/O.

Screens and messages about an event do not use it: they speak the event's
`language` (translation.override around their rendering).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.test.signals import setting_changed
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header


@lru_cache(maxsize=1024)
def language_for(accept_language: str) -> str:
    """The best of our languages for an Accept-Language header ("" : LANGUAGE_CODE)."""
    supported = dict(settings.LANGUAGES)
    for code, _quality in parse_accept_lang_header(accept_language[:255]):
        if code == "*":
            break
        code = code.lower()
        for candidate in (code, code.split("-")[0]):
            if candidate in supported:
                return candidate
    return settings.LANGUAGE_CODE


def choose_language(get_response: Callable[[HttpRequest], HttpResponse]):
    """Middleware: activate the request's language; say it in Content-Language and Vary."""

    def middleware(request: HttpRequest) -> HttpResponse:
        language = language_for(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = get_response(request)
        vary = response.headers.get("Vary")
        if vary is None:
            response.headers["Vary"] = "Accept-Language"
        elif "accept-language" not in vary.lower() and vary.strip() != "*":
            response.headers["Vary"] = f"{vary}, Accept-Language"
        response.headers.setdefault("Content-Language", language)
        return response

    return middleware


@receiver(setting_changed)
def _forget_choices(*, setting: str, **kwargs) -> None:
    # Tests change LANGUAGE_CODE or LANGUAGES; the cache must not keep the old answer.
    if setting in ("LANGUAGES", "LANGUAGE_CODE"):
        language_for.cache_clear()
