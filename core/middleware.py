"""Request guards that run before any view, on both middleware chains (core/http.py)."""

from __future__ import annotations

from django.http import JsonResponse

from core.errors import error_body


def refuse_nul_bytes(get_response):
    """A NUL byte in the path or the query string is a 400, whatever the view.

    PostgreSQL refuses NUL in text ("A string literal cannot contain NUL (0x00)
    characters"), so an id, slug, code or filter carrying one reached the
    database and came back as a 500 from every view that passed it on. No URL
    of ours has a use for one. The raw query string is checked (a NUL arrives
    encoded as %00, or, from a careless client, raw), which costs no parsing.
    """

    def middleware(request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return JsonResponse(
                error_body("bad_request", "NUL bytes are not allowed in URLs."), status=400)
        return get_response(request)

    return middleware
