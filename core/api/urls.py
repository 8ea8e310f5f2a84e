"""Accounts, auth and phone verification; the waitlist, stats and events include their own."""

from django.urls import include, path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenRefreshView, TokenVerifyView

from core.api import accounts
from core.routes import api_path
from core.schema import errors

# simplejwt's own views, documented: an empty object when the token is good.
TokenVerifyView = extend_schema_view(post=extend_schema(responses={
    200: OpenApiResponse({"type": "object", "maxProperties": 0}, "`{}`: the token is good."),
    **errors(e401="token_not_valid")}))(TokenVerifyView)
TokenRefreshView = extend_schema_view(post=extend_schema(responses={
    200: TokenRefreshSerializer,
    **errors(e401="token_not_valid: expired, blacklisted or not a refresh token"),
}))(TokenRefreshView)

urlpatterns: list = [
    api_path("accounts/register/", accounts.RegisterApi.as_view(), name="account-register"),
    api_path("accounts/me/", accounts.MeApi.as_view(), name="account-me"),
    api_path(
        "accounts/phone/verification/",
        accounts.PhoneVerificationSendApi.as_view(),
        name="phone-verification",
    ),
    api_path(
        "accounts/phone/verification/confirm/",
        accounts.PhoneVerificationConfirmApi.as_view(),
        name="phone-verification-confirm",
    ),
    api_path("auth/token/", accounts.TokenObtainApi.as_view(), name="token-obtain"),
    api_path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    api_path("auth/token/verify/", TokenVerifyView.as_view(), name="token-verify"),
    api_path("auth/logout/", accounts.LogoutApi.as_view(), name="logout"),
    path("", include("core.api.waitlist_urls")),
    path("", include("core.api.events_urls")),
    path("", include("core.api.webhook_urls")),
]
