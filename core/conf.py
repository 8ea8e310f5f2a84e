"""Start-up checks for serving the app."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def assert_safe_to_serve() -> None:
    """Refuse to serve with the public development key, or with SMS codes written to
    the log (SMS_BACKEND=console), unless DEBUG is on."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is the public development key and DEBUG is off. "
            "Set SECRET_KEY in the environment (or DEBUG=1 for local development)."
        )
    if not settings.DEBUG and settings.SMS_BACKEND == "console":
        raise ImproperlyConfigured(
            "SMS_BACKEND=console writes verification codes to the log and sends nothing, "
            "and DEBUG is off. Set SMS_BACKEND=http with SMS_HTTP_URL (or DEBUG=1 for "
            "local development)."
        )
