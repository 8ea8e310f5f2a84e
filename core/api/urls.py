"""Accounts, auth and phone verification; the waitlist, stats and events include their own."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("core.api.waitlist_urls")),
    path("", include("core.api.events_urls")),
    path("", include("core.api.webhook_urls")),
]
