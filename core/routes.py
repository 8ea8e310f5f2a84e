"""URL helpers: every API path answers with or without its trailing slash."""

from django.urls import re_path


def api_path(route: str, view, name: str | None = None, kwargs: dict | None = None):
    """Like path() for a route written with a trailing slash, made optional.

    ``api_path("events/<int:pk>/checkin/", view)`` matches ``events/1/checkin``
    and ``events/1/checkin/``. Converters: int, str, slug.
    """
    import re

    converters = {"int": r"[0-9]+", "str": r"[^/]+", "slug": r"[-a-zA-Z0-9_]+"}

    def convert(match: re.Match) -> str:
        kind, param = match.group(1), match.group(2)
        return f"(?P<{param}>{converters[kind]})"

    body = route.rstrip("/")
    regex = re.sub(r"<(\w+):(\w+)>", convert, body)
    regex = f"^{regex}/?$" if body else "^$"
    return re_path(regex, view, kwargs=kwargs, name=name)
