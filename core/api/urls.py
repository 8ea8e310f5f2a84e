"""Accounts, auth and phone verification; the waitlist, stats and events include their own."""

from django.urls import include, path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenRefreshView, TokenVerifyView

from core.api import account_flows as flows
from core.api import accounts
from core.routes import api_path
from core.schema import errors

# simplejwt's own views, documented: an empty object when the token is good.
TokenVerifyView = extend_schema_view(post=extend_schema(
    summary="Check a token",
    description="Answers `{}` when the access or refresh token is valid (signature, expiry, "
                "not blacklisted), 401 otherwise.",
    responses={
    200: OpenApiResponse({"type": "object", "maxProperties": 0}, "`{}`: the token is good."),
    **errors(e401="token_not_valid")}))(TokenVerifyView)
TokenRefreshView = extend_schema_view(post=extend_schema(
    summary="Refresh a session",
    description="Exchanges a refresh token for a new access token and a new refresh token; "
                "the old refresh token is blacklisted (rotation).",
    responses={
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
    # Password, email, sessions, the data export and deletion (core/api/account_flows.py).
    api_path("accounts/password/reset/", flows.PasswordResetRequestApi.as_view(),
             name="password-reset"),
    api_path("accounts/password/reset/confirm/", flows.PasswordResetConfirmApi.as_view(),
             name="password-reset-confirm"),
    api_path("accounts/password/change/", flows.PasswordChangeApi.as_view(),
             name="password-change"),
    api_path("accounts/email/resend/", flows.EmailResendApi.as_view(), name="email-resend"),
    api_path("accounts/email/change/", flows.EmailChangeApi.as_view(), name="email-change"),
    api_path("accounts/email/change/confirm/", flows.EmailChangeConfirmApi.as_view(),
             name="email-change-confirm"),
    api_path("accounts/me/export/", flows.DataExportApi.as_view(), name="account-export"),
    api_path("accounts/me/delete/", flows.AccountDeleteApi.as_view(), name="account-delete"),
    api_path("auth/logout/all/", flows.LogoutEverywhereApi.as_view(), name="logout-all"),
    api_path("auth/token/", accounts.TokenObtainApi.as_view(), name="token-obtain"),
    api_path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    api_path("auth/token/verify/", TokenVerifyView.as_view(), name="token-verify"),
    api_path("auth/logout/", accounts.LogoutApi.as_view(), name="logout"),
    path("", include("core.api.waitlist_urls")),
    path("", include("core.api.events_urls")),
    path("", include("core.api.webhook_urls")),
]
