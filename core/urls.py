from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from core import attendee_app, pages, screen, views
from core.metrics import metrics_view
from core.routes import api_path

urlpatterns = [
    api_path("healthz/", views.healthz, name="healthz"),
    api_path("readyz/", views.readyz, name="readyz"),
    api_path("metrics/", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    api_path("screen/events/<int:event_id>/", screen.screen_page, name="screen"),
    api_path("screen/events/<int:event_id>/qr.svg", screen.screen_qr, name="screen-qr"),
    # The attendee app (core/attendee_app.py): its shell, service worker, manifest, files.
    path("app/", attendee_app.app_shell, name="attendee-app"),
    path("app/sw.js", attendee_app.service_worker, name="attendee-app-sw"),
    path("app/manifest.webmanifest", attendee_app.manifest, name="attendee-app-manifest"),
    path("assets/<path:path>", attendee_app.asset, name="web-asset"),
    # The pages the account emails link to (core/pages.py).
    path("", pages.home, name="home"),
    api_path("confirm-email/", pages.confirm_email, name="confirm-email"),
    api_path("confirm-email-change/", pages.confirm_email_change, name="confirm-email-change"),
    api_path("reset-password/", pages.reset_password, name="reset-password"),
    api_path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    api_path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    api_path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include("core.api.urls")),
    path("api/", include("live.urls")),
    path("api/", include("ticketing.urls")),
]

handler400 = "core.errors.json_400"
handler403 = "core.errors.json_403"
handler404 = "core.errors.json_404"
handler500 = "core.errors.json_500"
