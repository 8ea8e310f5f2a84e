"""Waitlist and stats endpoints. Thin: parse, call a service or selector, render."""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.fields import EmailInputField
from core.errors import NotFound, UnknownReferralCode
from core.filters import FilteredListMixin, ReferralFilters
from core.pagination import Pagination
from core.permissions import StaffModelPermission
from core.schema import errors
from core.selectors import stats as stats_selectors
from core.selectors import waitlist as selectors
from core.services import waitlist as services
from core.throttles import ScopedThrottle

BLOCK_FIELDS = {
    "referral_code": serializers.CharField(),
    "referral_count": serializers.IntegerField(),
    "wait_list_position": serializers.IntegerField(allow_null=True),
    "total_registered": serializers.IntegerField(),
}
WaitlistBlockSerializer = inline_serializer("WaitlistBlock", BLOCK_FIELDS)


class PublicView(APIView):
    """Anyone may call it; a session or token is not even looked at (and logs nobody in)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class WaitlistJoinView(PublicView):
    """Sign up with an email only (optionally through a member's referral code).

    Nobody is logged in: the answer carries the member's standing, no token.
    """

    throttle_classes = [ScopedThrottle]
    throttle_scope = "waitlist_join"

    class InputSerializer(serializers.Serializer):
        email = EmailInputField()

    @extend_schema(request=InputSerializer, responses={201: WaitlistBlockSerializer, **errors(
        e409="already_on_waitlist: this mailbox (`+tag` and provider dots ignored) is on "
             "it; confirm-email/resend/ mails a fresh link")})
    def post(self, request):
        """Join the waitlist.

        Signs an email up without a password (register later with the same email to complete
        it); a welcome email with the member's referral link goes out after commit. Nobody is
        logged in."""
        return self.join(request, code=None)

    def join(self, request, *, code: str | None) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.waitlist_join(email=data.validated_data["email"], referral_code=code)
        return Response(selectors.waitlist_block(user), status=status.HTTP_201_CREATED)


class WaitlistJoinWithCodeView(WaitlistJoinView):
    """Sign up through a member's referral code (404 unknown_referral_code)."""

    @extend_schema(
        operation_id="waitlist_join_with_code",
        request=WaitlistJoinView.InputSerializer,
        responses={201: WaitlistBlockSerializer},
    )
    def post(self, request, code: str):
        """Join the waitlist through a referral code.

        As joining without a code; the code's owner becomes the referrer once the new member
        confirms the email."""
        return self.join(request, code=code)


class ConfirmEmailView(PublicView):
    """Confirm the address from the welcome email's link; answers the member's block."""

    throttle_classes = [ScopedThrottle]
    throttle_scope = "waitlist_join"

    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=500)

    @extend_schema(request=InputSerializer, responses=WaitlistBlockSerializer)
    def post(self, request):
        """Confirm a waitlist email.

        Takes the token from the welcome email's link and marks the address verified, so the
        member's own referral counts."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.email_confirm(token=data.validated_data["token"])
        return Response(selectors.waitlist_block(user))


class ConfirmEmailResendView(PublicView):
    """Mail a fresh confirmation link to a waitlist-only address (a lost, expired or
    squatted sign-up). Always 202, whoever owns the address; at most one mail per
    address per WAITLIST_CONFIRMATION_RESEND_SECONDS. With `referral_code`, confirming
    the new link credits that code's owner (while no referral was counted)."""

    throttle_classes = [ScopedThrottle]
    throttle_scope = "confirmation_resend"

    class InputSerializer(serializers.Serializer):
        email = EmailInputField()
        referral_code = serializers.CharField(required=False, allow_blank=True, max_length=16)

    @extend_schema(request=InputSerializer, responses={
        202: inline_serializer("ConfirmEmailResendAccepted", {"detail": serializers.CharField()}),
        **errors(e404="unknown_referral_code")})
    def post(self, request):
        """Resend the confirmation link.

        Answers 202 whatever the address; a waitlist-only address gets a fresh link at most
        once per `WAITLIST_CONFIRMATION_RESEND_SECONDS`."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.email_confirmation_resend(
            email=data.validated_data["email"],
            referral_code=data.validated_data.get("referral_code") or None)
        return Response({"detail": "If this address is on the waitlist and not signed up yet, "
                                   "a new confirmation link is on its way."},
                        status=status.HTTP_202_ACCEPTED)


class WaitlistMeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=WaitlistBlockSerializer)
    def get(self, request):
        """Read my waitlist standing.

        My referral code, counted referrals, position on the waitlist and the number of members."""
        return Response(selectors.waitlist_block(request.user))


class ReferralOutput(serializers.Serializer):
    referee = serializers.CharField(help_text="The referee's email, masked: `a***@example.com`.")
    joined_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=["counted", "pending"])
    counted_at = serializers.DateTimeField(allow_null=True)
    waiting_for = serializers.ChoiceField(
        choices=["referee_verification"], allow_null=True,
        help_text="What a pending referral waits for: `referee_verification`, the referee "
                  "has not verified a phone or an email yet.")


class MyReferralsView(FilteredListMixin, generics.ListAPIView):
    """The members I referred, counted or pending, and what a pending one waits for."""

    operation_docs = {
        "GET": """List my referrals.

        The members who signed up with my code, counted or pending; a pending one says what it
        waits for (the referee's phone or email verification).""",
    }

    permission_classes = [IsAuthenticated]
    pagination_class = Pagination
    filterset_class = ReferralFilters
    serializer_class = ReferralOutput

    def get_queryset(self):
        return selectors.referrals_of(self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([selectors.referral_line(u) for u in page])


class WaitlistByCodeView(PublicView):
    """Public standing of the member with this referral code (no personal data)."""

    @extend_schema(responses=WaitlistBlockSerializer)
    def get(self, request, code: str):
        """Read a member's standing by referral code.

        Public: the position and referral count of the code's owner, no personal data."""
        user = selectors.user_for_code(code)
        if user is None:
            raise UnknownReferralCode()
        return Response(selectors.waitlist_block(user))


class WaitlistLookupView(APIView):
    """Staff: find a member by email and/or referral code."""

    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("core.view_user",)}

    class QuerySerializer(serializers.Serializer):
        email = EmailInputField(required=False)
        code = serializers.CharField(required=False, max_length=16)

        def validate(self, attrs):
            if not attrs.get("email") and not attrs.get("code"):
                raise serializers.ValidationError(gettext("Give an email, a code, or both."))
            return attrs

    @extend_schema(
        parameters=[
            OpenApiParameter("email", str, required=False),
            OpenApiParameter("code", str, required=False),
        ],
        responses=inline_serializer(
            "WaitlistLookup",
            {
                "id": serializers.IntegerField(),
                "email": serializers.EmailField(),
                "referred_by": serializers.CharField(allow_null=True),
                **BLOCK_FIELDS,
            },
        ),
    )
    def get(self, request):
        """Look a member up.

        Staff with `core.view_user`: by email and/or referral code, with the member's standing
        and referrer."""
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user = selectors.user_for_lookup(
            email=query.validated_data.get("email"), code=query.validated_data.get("code")
        )
        if user is None:
            raise NotFound(gettext("No member matches."))
        referrer = user.referred_by
        return Response(
            {
                "id": user.pk,
                "email": user.email,
                "referred_by": referrer.referral_code if referrer else None,
                **selectors.waitlist_block(user),
            }
        )


class StatsView(PublicView):
    @extend_schema(
        responses=inline_serializer(
            "WaitlistStats",
            {
                "results": inline_serializer(
                    "WaitlistStat",
                    {
                        "key": serializers.CharField(),
                        "label": serializers.CharField(),
                        "value": serializers.IntegerField(),
                    },
                    many=True,
                )
            },
        )
    )
    def get(self, request):
        """Read the public counters.

        Registered, verified and phone-verified members, referrals counted and waiting, members
        who referred, sign-ups in the last 7 days; cached for `STATS_CACHE_SECONDS`."""
        return Response({"results": stats_selectors.waitlist_stats()})


class StatsChartView(PublicView):
    class QuerySerializer(serializers.Serializer):
        period = serializers.ChoiceField(choices=stats_selectors.PERIODS, default="1y")

    @extend_schema(
        parameters=[OpenApiParameter("period", str, enum=stats_selectors.PERIODS)],
        responses=inline_serializer(
            "WaitlistChart",
            {
                "period": serializers.CharField(),
                "bucket": serializers.CharField(),
                "labels": serializers.ListField(child=serializers.IntegerField()),
                "series": serializers.DictField(
                    child=serializers.ListField(child=serializers.IntegerField())
                ),
            },
        ),
    )
    def get(self, request):
        """Read sign-ups and referrals over time.

        Counts per month, quarter or year (by `period`), oldest first, for a chart."""
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(stats_selectors.registration_chart(query.validated_data["period"]))
