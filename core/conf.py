"""Start-up checks for serving the app."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def assert_safe_to_serve() -> None:
    """Refuse to serve with the public development key, with SMS codes written to
    the log (SMS_BACKEND=console) or with the demo payment provider (it credits
    wallets without money), unless DEBUG is on; and Stripe without its secrets."""
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
    if not settings.DEBUG and settings.PAYMENT_PROVIDER == "demo":
        raise ImproperlyConfigured(
            "PAYMENT_PROVIDER=demo credits wallets without any payment, and DEBUG is off. "
            "Set PAYMENT_PROVIDER=stripe or manual (or DEBUG=1 for local development)."
        )
    if settings.PAYMENT_PROVIDER == "stripe" and not (
        settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET
    ):
        raise ImproperlyConfigured(
            "PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET "
            "(the webhook endpoint's signing secret) in the environment."
        )
