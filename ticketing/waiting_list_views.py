"""Waiting lists of sold-out events over HTTP (ticketing/services/waiting_list.py).

    GET|POST|DELETE /api/events/<id>/waiting-list/        my place; join; leave
    GET|PUT         /api/events/<id>/waiting-list/staff/  staff: figures; offer time
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import StaffModelPermission
from core.routes import MAX_ID
from core.schema import errors
from core.throttles import ScopedThrottle
from ticketing.models import WaitingList
from ticketing.services import waiting_list
from ticketing.streams import waiting_entry_data
from ticketing.views import QUEUE_PASS, QUEUE_PASS_HEADER, _event


class WaitingOfferOutput(serializers.Serializer):
    hold = serializers.CharField(help_text="The hold's token: buy with POST /api/holds/<token>/"
                                           "purchase/ (no Queue-Pass needed).")
    seats = serializers.ListField(child=serializers.IntegerField())
    total = serializers.IntegerField(allow_null=True)
    expires_at = serializers.DateTimeField()


class WaitingEntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.IntegerField()
    section_id = serializers.IntegerField(allow_null=True)
    seats = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["waiting", "offered", "converted", "expired",
                                              "left"])
    joined_at = serializers.DateTimeField()
    position = serializers.IntegerField(allow_null=True,
                                        help_text="1: next in line. Null once not waiting.")
    offer = WaitingOfferOutput(allow_null=True, help_text="The seats held for you, if any.")


class WaitingJoinInput(serializers.Serializer):
    section_id = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                          max_value=MAX_ID,
                                          help_text="Only seats of this section (default: any).")
    seats = serializers.IntegerField(required=False, default=1, min_value=1, max_value=100)


class WaitingFiguresOutput(serializers.Serializer):
    event_id = serializers.IntegerField()
    offer_seconds = serializers.IntegerField()
    waiting = serializers.IntegerField(help_text="Size: people waiting.")
    offers_out = serializers.IntegerField()
    converted = serializers.IntegerField(help_text="Offers bought.")
    expired = serializers.IntegerField(help_text="Offers not bought in time (passed on).")
    left = serializers.IntegerField()


class WaitingListInput(serializers.Serializer):
    offer_seconds = serializers.IntegerField(min_value=1, max_value=7 * 24 * 3600,
                                             help_text="How long offered seats stay held.")


def _entry_answer(entry) -> dict:
    return {**waiting_entry_data(entry), "position": waiting_list.waiting_list_position(entry)}


class WaitingListView(APIView):
    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "waiting_list"

    @extend_schema(summary="My place on an event's waiting list", description=(
        "Your place (`position` 1: next in line), or the seats held for you (`offer`: "
        "buy them with the hold's token before `expires_at`). Live on `ws/users/<id>/`."),
        responses={
        200: WaitingEntryOutput, **errors(e404="event_not_found, not_on_waiting_list")})
    def get(self, request: Request, pk: int) -> Response:
        _event(pk, request.user)
        entry = waiting_list.waiting_list_entry_of(event_id=pk, user=request.user)
        return Response(_entry_answer(entry))

    @extend_schema(summary="Join a sold-out event's waiting list (or keep your place)",
                   description=(
        "One place per mailbox, in join order. When seats come back (a refund, a hold "
        "released or expired, seats unblocked) the first in line whose section and number "
        "of seats they fit gets them held for the list's offer time, and is told on "
        "`ws/users/<id>/`, by email and by SMS to a verified phone; an offer not bought in "
        "time passes on. 201 when a place was taken, 200 when you had one."),
        request=WaitingJoinInput, parameters=[QUEUE_PASS],
        responses={200: WaitingEntryOutput, 201: WaitingEntryOutput, **errors(
            e400="too_many_seats", e403="queue_required (the event's waiting room is on: "
                                        "send your admission pass in Queue-Pass), "
                                        "email_not_verified (confirm your email first)",
            e404="event_not_found, section_not_found",
            e409="sale_closed, seats_available (free seats: hold them), "
                 "waiting_list_mailbox_taken")})
    def post(self, request: Request, pk: int) -> Response:
        event = _event(pk, request.user)
        data = WaitingJoinInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry, created = waiting_list.waiting_list_join(
            event=event, user=request.user, queue_pass=request.headers.get(QUEUE_PASS_HEADER),
            **data.validated_data)
        return Response(_entry_answer(entry),
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(summary="Leave the waiting list", description=(
        "Gives up your place; seats offered to you are released to the next in line."),
        responses={204: None, **errors(e404="event_not_found, not_on_waiting_list")})
    def delete(self, request: Request, pk: int) -> Response:
        _event(pk, request.user)
        waiting_list.waiting_list_leave(event_id=pk, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _figures_answer(event_id: int) -> dict:
    offer_seconds = (WaitingList.objects.filter(event_id=event_id)
                     .values_list("offer_seconds", flat=True).first())
    return {"event_id": event_id, "offer_seconds": offer_seconds or
            waiting_list.default_offer_seconds(),
            **waiting_list.waiting_list_figures(event_id)}


class WaitingListStaffView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("ticketing.view_waitinglist",),
                         "PUT": ("ticketing.add_waitinglist", "ticketing.change_waitinglist")}

    @extend_schema(summary="A waiting list's figures (staff)", description=(
        "Size (waiting), offers out, conversions (offers bought), expired offers, leavers, "
        "and the offer time."),
        responses={200: WaitingFiguresOutput, **errors(e404="event_not_found")})
    def get(self, request: Request, pk: int) -> Response:
        event = _event(pk, request.user)
        return Response(_figures_answer(event.pk))

    @extend_schema(summary="Set a waiting list's offer time (staff)", description=(
        "How long seats offered to the next in line stay held for them (seconds; offers "
        "already out keep theirs). Creates the list if the event has none yet; audited."),
        request=WaitingListInput,
                   responses={200: WaitingFiguresOutput, **errors(e404="event_not_found")})
    def put(self, request: Request, pk: int) -> Response:
        event = _event(pk, request.user)
        data = WaitingListInput(data=request.data)
        data.is_valid(raise_exception=True)
        waiting_list.waiting_list_configure(event=event, actor=request.user,
                                            **data.validated_data)
        return Response(_figures_answer(event.pk))
