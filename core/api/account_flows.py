"""Account flows beyond the profile: password reset and change, email confirmation and
change, logging out everywhere, the data export and deleting the account.

Thin: an InputSerializer parses, a service in core.services.credentials or
core.services.account_data does the work. The links in the mails open pages of
core/pages.py, which call the same services.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.accounts import UserOutputSerializer
from core.api.fields import EmailInputField
from core.authentication import AUTH_TIME_CLAIM, SessionRefreshToken
from core.schema import errors
from core.services.account_data import user_data_export, user_erase
from core.services.credentials import (
    email_change_confirm,
    email_change_request,
    email_confirmation_resend_for_token,
    email_confirmation_send,
    password_reset_confirm,
    password_reset_request,
    user_password_change,
    user_sessions_end,
)
from core.throttles import EmailThrottle, ScopedThrottle

Accepted = inline_serializer("AccountAccepted", {"detail": serializers.CharField()})
PASSWORD = {"write_only": True, "trim_whitespace": False, "max_length": 128}


def _accepted(detail: str) -> Response:
    return Response({"detail": detail}, status=status.HTTP_202_ACCEPTED)


class PasswordResetRequestApi(APIView):
    """Mail a single-use link to set a new password. The same answer whether or not the
    address has an account; throttled per client address and per email address."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle, EmailThrottle]
    throttle_scope = "password_reset"
    email_throttle_scope = "password_reset_email"

    class InputSerializer(serializers.Serializer):
        email = EmailInputField()

    @extend_schema(request=InputSerializer, responses={202: Accepted, **errors(
        e429="throttled: per client address (`password_reset`) or per email address "
             "(`password_reset_email`), with `retry_after_seconds`")})
    def post(self, request):
        """Ask for a password reset link."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        password_reset_request(email=serializer.validated_data["email"])
        return _accepted("If this address has an account, a link to set a new password is "
                         "on its way. It works once and expires in "
                         f"{settings.PASSWORD_RESET_TIMEOUT // 60} minutes.")


class PasswordResetConfirmApi(APIView):
    """Set a new password with the `uid` and `token` of the reset link. Every session of
    the account ends (refresh tokens blacklisted, access tokens refused): log in again."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "link_confirm"

    class InputSerializer(serializers.Serializer):
        uid = serializers.CharField(max_length=64)
        token = serializers.CharField(max_length=128)
        password = serializers.CharField(**PASSWORD)

    @extend_schema(request=InputSerializer, responses={
        200: inline_serializer("PasswordResetDone", {"detail": serializers.CharField()}),
        **errors(e400="invalid (the password breaks a rule: `fields.password`), "
                      "invalid_reset_link (expired, used, or the account changed)")})
    def post(self, request):
        """Set a new password with a reset link."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        password_reset_confirm(**serializer.validated_data)
        return Response({"detail": "Your password is set; every session was logged out."})


class Session(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


def _new_session(user) -> dict:
    refresh = SessionRefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


class PasswordChangeApi(APIView):
    """Change the password (the current one is required). Every other session ends; the
    answer carries a new token pair for this client (its old tokens are refused too)."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "credentials_change"

    class InputSerializer(serializers.Serializer):
        current_password = serializers.CharField(**PASSWORD)
        new_password = serializers.CharField(**PASSWORD)

    @extend_schema(request=InputSerializer, responses={200: Session, **errors(
        e400="invalid (`fields.new_password`), wrong_current_password")})
    def post(self, request):
        """Change my password."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_password_change(user=request.user, **serializer.validated_data)
        # After the commit (the service's transaction): the deny entry written then covers
        # sessions begun before it, not this one.
        return Response(Session(_new_session(user)).data)


class LogoutEverywhereApi(APIView):
    """End every session of the account, this one included: every refresh token is
    blacklisted and every access token refused from now on."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        """Log out everywhere."""
        user_sessions_end(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmailResendApi(APIView):
    """Mail a fresh link confirming the address: the logged-in account's own, or, with
    `token`, the address of an expired link (the confirm page's button). Always 202;
    one mail per account per WAITLIST_CONFIRMATION_RESEND_SECONDS, none once confirmed."""

    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "confirmation_resend"

    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(
            required=False, max_length=500,
            help_text="The token of an expired confirmation link; not needed when logged in.")

        def validate(self, attrs):
            request = self.context["request"]
            if not attrs.get("token") and not request.user.is_authenticated:
                raise serializers.ValidationError(
                    gettext("Log in, or send the token of the link."))
            return attrs

    @extend_schema(request=InputSerializer, responses={202: Accepted, **errors(
        e400="invalid (neither logged in nor a token), invalid_token")})
    def post(self, request):
        """Send the email confirmation link again."""
        serializer = self.InputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data.get("token"):
            email_confirmation_resend_for_token(token=serializer.validated_data["token"])
        else:
            email_confirmation_send(user=request.user)
        return _accepted("If the address still needs confirming, a new link is on its way.")


class EmailChangeApi(APIView):
    """Ask to change the account's email: a link goes to the new address, a notice to the
    old one; the email changes when the link is opened (email/change/confirm/)."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "credentials_change"

    class InputSerializer(serializers.Serializer):
        email = EmailInputField()
        current_password = serializers.CharField(**PASSWORD)

    @extend_schema(request=InputSerializer, responses={202: Accepted, **errors(
        e400="invalid, invalid_email, email_taken, wrong_current_password")})
    def post(self, request):
        """Ask to change my email address."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email_change_request(user=request.user, **serializer.validated_data)
        return _accepted("Open the link we sent to the new address to finish the change.")


class EmailChangeConfirmApi(APIView):
    """Finish an email change with the link's token (no login needed: the link may be
    opened on another device). The old address is told."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "link_confirm"

    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=1000)

    @extend_schema(request=InputSerializer, responses={200: UserOutputSerializer, **errors(
        e400="invalid_token (used, or the address changed since), token_expired, "
             "email_taken (another account took the address meanwhile)")})
    def post(self, request):
        """Confirm an email change."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = email_change_confirm(token=serializer.validated_data["token"])
        return Response(UserOutputSerializer(user).data)


class DataExportApi(APIView):
    """Everything the service holds about me, as one JSON document (GDPR art. 15): the
    account, phone verifications, referrals, sessions, wallet and ledger, orders,
    tickets, holds, check-ins, draw entries and ballots, wins and claims, and the audit
    entries about me or my objects."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "data_export"

    @extend_schema(responses={200: OpenApiResponse(
        OpenApiTypes.OBJECT, "The export: `account`, `referrals`, `phone_verifications`, "
        "`sessions`, `ticketing`, `live`, `audit_entries`, `exported_at`.")})
    def get(self, request):
        """Export my data."""
        response = Response(user_data_export(user=request.user))
        response["Content-Disposition"] = 'attachment; filename="tombola-my-data.json"'
        return response


class AccountDeleteApi(APIView):
    """Delete my account for good (GDPR art. 17): personal data is removed or anonymised;
    orders, payments and audit entries stay without name, email or phone. Needs the
    password, or a login within ACCOUNT_DELETE_RECENT_LOGIN_SECONDS. Refused (409) while
    the wallet holds money or a prize is still to claim. Live seat holds are released,
    every session ends, and the old address gets a last notice."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "credentials_change"

    class InputSerializer(serializers.Serializer):
        password = serializers.CharField(required=False, **PASSWORD)

    @extend_schema(request=InputSerializer, responses={204: None, **errors(
        e400="reauthentication_required: the password is missing or wrong, and the login "
             "is not recent",
        e409="account_deletion_blocked, with `reasons` (wallet_not_empty, "
             "prize_claim_pending, staff_account)")})
    def post(self, request):
        """Delete my account."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        auth_time = (request.auth or {}).get(AUTH_TIME_CLAIM) if request.auth else None
        recent = auth_time is not None and (
            time.time() - float(auth_time) < settings.ACCOUNT_DELETE_RECENT_LOGIN_SECONDS)
        user_erase(user=request.user, password=serializer.validated_data.get("password"),
                   recent_login=recent)
        return Response(status=status.HTTP_204_NO_CONTENT)
