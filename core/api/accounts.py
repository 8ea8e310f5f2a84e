"""Accounts API: registration, JWT auth, the user's own profile, phone verification.

Views are thin: an InputSerializer parses, a service in core.services writes,
an OutputSerializer renders. Every error is core.errors' shape.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from core.api.fields import EmailInputField
from core.authentication import SessionRefreshToken
from core.errors import DomainError
from core.models import User
from core.phones import MAX_PHONE_INPUT_LENGTH, normalize_phone
from core.schema import errors
from core.selectors.waitlist import waitlist_block
from core.serializers import CachedFieldsModelSerializer
from core.services.accounts import auth_logout, user_register, user_update
from core.services.phone_verification import (
    phone_verification_confirm,
    phone_verification_send,
)
from core.throttles import AddressThrottle, ScopedThrottle

EARLIEST_BIRTHDAY = datetime.date(1900, 1, 1)


class PhoneField(serializers.CharField):
    """A phone number in, E.164 out; an invalid one is a field error."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_PHONE_INPUT_LENGTH)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        if text == "":
            return None  # "" clears the phone, like null
        try:
            return normalize_phone(text)
        except DomainError as exc:
            raise serializers.ValidationError(str(exc.detail), code=exc.code) from None


class BirthdayField(serializers.DateField):
    """ISO dates, and DD.MM.YYYY as the quiz form sends them; not in the future."""

    def __init__(self, **kwargs):
        super().__init__(input_formats=["iso-8601", "%d.%m.%Y"], **kwargs)

    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if not EARLIEST_BIRTHDAY <= day <= timezone.localdate():
            raise serializers.ValidationError(gettext("Enter a real date of birth."),
                                              code="invalid")
        return day


class ProfileInputSerializer(serializers.Serializer):
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    patronymic = serializers.CharField(required=False, allow_blank=True, max_length=150)
    birthday = BirthdayField(required=False, allow_null=True)
    address = serializers.CharField(required=False, allow_blank=True, max_length=500)
    phone = PhoneField(required=False, allow_null=True, allow_blank=True)


class UserOutputSerializer(CachedFieldsModelSerializer):
    class Meta:
        model = User
        fields = [
            "id", "email", "first_name", "last_name", "patronymic", "birthday", "address",
            "phone", "phone_verified_at", "email_verified_at", "referral_code", "date_joined",
        ]
        read_only_fields = fields


REGISTER_EXAMPLES = [
    OpenApiExample("Register with a referral code", request_only=True, value={
        "email": "ann@example.com", "password": "a-long-passphrase", "first_name": "Ann",
        "birthday": "05.04.1990", "phone": "+49 151 23456789", "referral_code": "K7M2Q9XP"}),
    OpenApiExample("Registered and logged in", response_only=True, status_codes=["201"], value={
        "user": {"id": 42, "email": "ann@example.com", "first_name": "Ann", "last_name": "",
                 "patronymic": "", "birthday": "1990-04-05", "address": "",
                 "phone": "+4915123456789", "phone_verified_at": None,
                 "email_verified_at": None, "referral_code": "Q3W8E5RT",
                 "date_joined": "2026-11-30T10:00:00Z"},
        "access": "eyJhbGciOiJIUzI1NiIs...", "refresh": "eyJhbGciOiJIUzI1NiIs...",
        "referral": {"referral_code": "Q3W8E5RT", "referral_count": 0,
                     "wait_list_position": 1204, "total_registered": 1204}}),
]


class RegisterApi(APIView):
    """Create an account (or complete a waitlist sign-up) and log it in at once."""

    authentication_classes: list = []  # a stale token must not block signing up
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "register"

    class InputSerializer(ProfileInputSerializer):
        email = EmailInputField()
        password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=128)
        referral_code = serializers.CharField(required=False, allow_blank=True, max_length=16)
        email_token = serializers.CharField(
            required=False, allow_blank=True, max_length=500,
            help_text="Completing a waitlist sign-up: the token from the welcome email's link.",
        )

    class OutputSerializer(serializers.Serializer):
        user = UserOutputSerializer()
        access = serializers.CharField()
        refresh = serializers.CharField()
        referral = serializers.DictField(
            help_text="{referral_code, referral_count, wait_list_position, total_registered}"
        )

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, **errors(
        e400="invalid, email_taken, invalid_token, self_referral",
        e404="unknown_referral_code",
        e409="email_confirmation_required")}, examples=REGISTER_EXAMPLES)
    def post(self, request):
        """Register an account.

        Creates an account (or completes a waitlist sign-up with the welcome email's `email_token`)
        and logs it in: the answer carries the user, an access and a refresh token and the
        referral block. Every profile field but email and password is optional; a
        `referral_code` makes its owner the referrer."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data)
        refresh = SessionRefreshToken.for_user(user)
        body = {
            "user": user,
            "access": str(refresh.access_token),
            "refresh": str(refresh),
            "referral": waitlist_block(user),
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


class MeApi(APIView):
    """The logged-in user's own account."""

    permission_classes = [IsAuthenticated]
    # A change of email or password checks current_password: a guess at it, so those
    # requests are throttled per user (credentials_change); plain profile edits are not.
    CREDENTIAL_FIELDS = frozenset({"email", "password", "current_password"})

    class InputSerializer(ProfileInputSerializer):
        email = EmailInputField(required=False)
        password = serializers.CharField(
            required=False, write_only=True, trim_whitespace=False, max_length=128,
            help_text="A new password; needs current_password. Ends every session, "
                      "this one included: log in again.",
        )
        current_password = serializers.CharField(
            required=False, write_only=True, trim_whitespace=False, max_length=128,
            help_text="Required to change the email or the password.",
        )

    def get_throttles(self):
        request = getattr(self, "request", None)
        if request is not None and request.method == "PATCH":
            data = request.data
            if isinstance(data, dict) and self.CREDENTIAL_FIELDS.intersection(data):
                self.throttle_scope = "credentials_change"
                return [ScopedThrottle()]
        return []

    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request):
        """Read my profile.

        The logged-in account: email, names, birthday, phone and whether it is verified,
        referral code and count."""
        return Response(UserOutputSerializer(request.user).data)

    @extend_schema(request=InputSerializer, responses={200: UserOutputSerializer, **errors(
        e400="invalid, email_taken, wrong_current_password",
        e429="throttled (scope `credentials_change`, a change of email or password), "
             "with `retry_after_seconds`")})
    def patch(self, request):
        """Change my profile.

        Send only the fields to change. A new phone is stored unverified; a new email or
        password needs `current_password` (throttled per user), and a new password ends every
        session."""
        serializer = self.InputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        current_password = data.pop("current_password", None)
        user = user_update(user=request.user, data=data, current_password=current_password)
        return Response(UserOutputSerializer(user).data)


class PhoneVerificationSendApi(APIView):
    """Text a 6-digit code to a mobile phone; the same answer whoever owns the number."""

    permission_classes = [IsAuthenticated]
    # Per user (code_send) and per client address (code_send_address): one address
    # cycling through many accounts is limited too.
    throttle_classes = [ScopedThrottle, AddressThrottle]
    throttle_scope = "code_send"
    address_throttle_scope = "code_send_address"

    class InputSerializer(serializers.Serializer):
        phone = PhoneField()

    class OutputSerializer(serializers.Serializer):
        phone = serializers.CharField()
        expires_in_seconds = serializers.IntegerField()
        resend_after_seconds = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer, **errors(
        e400="invalid, phone_not_mobile, phone_region_not_allowed (PHONE_ALLOWED_REGIONS)",
        e429="code_resend_too_soon, code_daily_limit or throttled (per user, per address); "
             "`retry_after_seconds`",
        e503="sms_unavailable: the SMS provider failed; sms_budget_exhausted: the day's "
             "SMS_DAILY_BUDGET is spent; no code was kept")})
    def post(self, request):
        """Text a verification code.

        Sends a 6-digit code by SMS to a mobile number of an allowed region; the same answer
        whoever owns the number. Throttled per user and per client address, and counted against
        the deployment's daily SMS budget."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        verification = phone_verification_send(
            user=request.user, phone=serializer.validated_data["phone"]
        )
        lifetime = verification.expires_at - verification.created_at
        body = {
            "phone": verification.phone,
            "expires_in_seconds": round(lifetime.total_seconds()),
            "resend_after_seconds": settings.PHONE_CODE_RESEND_SECONDS,
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class PhoneVerificationConfirmApi(APIView):
    """Confirm the code; the phone becomes the user's, verified."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "code_confirm"

    class InputSerializer(serializers.Serializer):
        phone = PhoneField()
        code = serializers.RegexField(r"^[0-9]{6}$", max_length=16)

    @extend_schema(request=InputSerializer, responses={200: UserOutputSerializer, **errors(
        e400="invalid, invalid_code, too_many_attempts, code_expired")})
    def post(self, request):
        """Confirm a phone with its code.

        The phone becomes the account's, verified. Five wrong guesses spend a code."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = phone_verification_confirm(user=request.user, **serializer.validated_data)
        return Response(UserOutputSerializer(user).data)


class TokenObtainApi(jwt_views.TokenObtainPairView):
    """Email + password -> access and refresh token."""

    operation_docs = {
        "POST": """Log in.

        Email and password for an access token (15 minutes) and a refresh token; throttled per
        client address.""",
    }

    throttle_classes = [ScopedThrottle]
    throttle_scope = "login"


class LogoutApi(APIView):
    """Blacklist a refresh token. Needs only the token: an expired access token is fine."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(max_length=4096)

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request):
        """Log out a refresh token.

        Blacklists the refresh token so it can no longer be exchanged; access tokens already
        issued live out their 15 minutes."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        auth_logout(refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)
