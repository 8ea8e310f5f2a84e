"""The waiting room's API: a buyer's place in the line, and the staff's room.

    GET|POST|DELETE /api/events/<id>/queue/              the line; join; leave
    GET|PUT         /api/events/<id>/waiting-room/       staff: settings and figures
    POST            /api/events/<id>/waiting-room/<action>/   pause | resume | close | open

Joining and reading a place touch no database row (the line's store only), so
the line absorbs the arrival spike the sale behind it could not.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.permissions import StaffModelPermission
from core.schema import errors
from core.throttles import ScopedThrottle
from ticketing import serializers as s
from ticketing.errors import QueueNotFound, queue_links
from ticketing.models import WAITING_ROOM_SETTINGS, WaitingRoom
from ticketing.queue_messages import place_body
from ticketing.services import waiting_room
from ticketing.streams import room_settings
from ticketing.views import _event

QUEUE_PLACE_EXAMPLE = OpenApiExample(
    "Waiting", response_only=True, value={
        "event_id": 7, "status": "open", "opens_at": "2026-12-01T09:30:00+00:00",
        "sale_starts_at": "2026-12-01T10:00:00+00:00", "sale_started": True, "length": 18250,
        "served": 4100, "rate_per_minute": 600.0,
        "me": {"state": "waiting", "number": 5321, "position": 1221, "eta_seconds": 123},
        "admission": None,
        "queue": {"join": "/api/events/7/queue/", "stream": "/ws/events/7/queue/"}})


def _queue_answer(event_id: int, place, user) -> dict:
    body = dict(place_body(event_id, place, authenticated=user.is_authenticated))
    body["admission"] = (waiting_room.admission_body(event_id, place, user=user)
                         if user.is_authenticated else None)
    body["queue"] = queue_links(event_id)
    return body


class QueuePermission(permissions.BasePermission):
    """Anyone may look at a line; joining and leaving need an account."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated)


class QueueView(APIView):
    permission_classes = [QueuePermission]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "queue"

    @extend_schema(summary="The line, and your place in it", description=(
        "The waiting room's line and, signed in, your place: `number` is your place in "
        "the sale's whole line, `position` how many places are left to the front; at "
        "the front `admission` carries the pass to send as the `Queue-Pass` header when "
        "holding and buying seats. Watch `ws/events/<id>/queue/` instead of polling: "
        "its `queue.progress` messages carry `served`, and your position is "
        "number - served."),
        responses={200: s.QueueOutput, **errors(e404="queue_not_found")},
        examples=[QUEUE_PLACE_EXAMPLE])
    def get(self, request: Request, pk: int) -> Response:
        place = waiting_room.queue_place(event_id=pk, user=request.user)
        return Response(_queue_answer(pk, place, request.user))

    @extend_schema(summary="Join the line (or keep your place)", description=(
        "Takes a place in the event's line: one per account and per mailbox. Whoever "
        "joins before the sale starts is placed in random order at the start; later "
        "arrivals join at the back. Joining again (any device, any number of times) "
        "keeps the place you have. 201 when a place was taken, 200 when you had one."),
        request=None, responses={200: s.QueueOutput, 201: s.QueueOutput, **errors(
            e404="queue_not_found", e409="queue_not_open (with `opens_at`), queue_closed "
            "(the sale is direct: no pass needed), queue_mailbox_taken")},
        examples=[QUEUE_PLACE_EXAMPLE])
    def post(self, request: Request, pk: int) -> Response:
        outcome, place = waiting_room.queue_join(event_id=pk, user=request.user)
        code = status.HTTP_201_CREATED if outcome == "joined" else status.HTTP_200_OK
        return Response(_queue_answer(pk, place, request.user), status=code)

    @extend_schema(summary="Leave the line", description=(
        "Gives up your place. Until the line reaches it, joining again takes it back."),
        responses={204: None, **errors(e404="queue_not_found, not_in_line")})
    def delete(self, request: Request, pk: int) -> Response:
        waiting_room.queue_place(event_id=pk, user=request.user)  # 404: no room (for you)
        if not waiting_room.queue_leave(event_id=pk, user=request.user):
            raise NotFound(gettext("You are not waiting in this line."), code="not_in_line")
        return Response(status=status.HTTP_204_NO_CONTENT)


def _room(event_id: int, user) -> WaitingRoom:
    room = WaitingRoom.objects.filter(event=_event(event_id, user)).first()
    if room is None:
        raise QueueNotFound()
    return room


def _room_answer(room: WaitingRoom) -> dict:
    return {"event_id": room.event_id, **room_settings(room),
            "figures": waiting_room.room_figures(room.event_id),
            "queue": queue_links(room.event_id)}


class WaitingRoomView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("ticketing.view_waitingroom",),
                         "PUT": ("ticketing.add_waitingroom", "ticketing.change_waitingroom"),
                         "PATCH": ("ticketing.change_waitingroom",)}

    @extend_schema(summary="A waiting room's settings and live figures", description=(
        "Staff: the room's settings and the line's figures now (length, admitted, passes "
        "out, used, purchases, expired, left). Live: ws/events/<id>/queue/staff/."),
        responses={200: s.WaitingRoomOutput, **errors(e404="event_not_found, queue_not_found")})
    def get(self, request: Request, pk: int) -> Response:
        return Response(_room_answer(_room(pk, request.user)))

    @extend_schema(summary="Put a waiting room in front of the sale, or change it",
                   description=(
        "Creates the room (open: from now on holds and purchases need an admission pass) "
        "or changes its settings. `fixed`: rate_per_minute buyers a minute; `adaptive`: "
        "starts at rate_per_minute and admits more while hold and purchase p95 latency "
        "stay under target_latency_ms (at most max_rate_per_minute), fewer when they "
        "pass it. Changing the settings restarts the adaptive rate."),
        request=s.WaitingRoomInput, responses={200: s.WaitingRoomOutput, 201: s.WaitingRoomOutput,
                                               **errors(e404="event_not_found")})
    def put(self, request: Request, pk: int) -> Response:
        event = _event(pk, request.user)
        data = s.WaitingRoomInput(data=request.data)
        data.is_valid(raise_exception=True)
        existed = WaitingRoom.objects.filter(event=event).exists()
        room = waiting_room.waiting_room_configure(event=event, actor=request.user,
                                                   **data.validated_data)
        return Response(_room_answer(room),
                        status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(summary="Change some of a waiting room's settings", description=(
        "As PUT, for the fields given only; the others keep their values (PUT resets an "
        "omitted field to its default). Raising rate_per_minute past max_rate_per_minute "
        "raises the ceiling with it unless max_rate_per_minute is given too."),
        request=s.WaitingRoomInput(partial=True),
        responses={200: s.WaitingRoomOutput, **errors(e404="event_not_found, queue_not_found")})
    def patch(self, request: Request, pk: int) -> Response:
        room = _room(pk, request.user)
        given = request.data
        if isinstance(given, Mapping):
            current = {name: getattr(room, name) for name in WAITING_ROOM_SETTINGS}
            given = {**current, **given}
            if "max_rate_per_minute" not in request.data:
                given["max_rate_per_minute"] = max(current["max_rate_per_minute"],
                                                   _int_or_zero(given["rate_per_minute"]))
        data = s.WaitingRoomInput(data=given)
        data.is_valid(raise_exception=True)
        room = waiting_room.waiting_room_configure(event=room.event, actor=request.user,
                                                   **data.validated_data)
        return Response(_room_answer(room))


def _int_or_zero(value) -> int:
    """A submitted rate as a number for the ceiling; the serializer judges it after."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


ACTIONS = {"pause": WaitingRoom.Status.PAUSED, "resume": WaitingRoom.Status.OPEN,
           "open": WaitingRoom.Status.OPEN, "close": WaitingRoom.Status.CLOSED}


class WaitingRoomActionView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("ticketing.change_waitingroom",)}

    @extend_schema(summary="Pause, resume, close or open a waiting room", description=(
        "`pause`: nobody more is admitted (passes out stay good; joins go on). `resume` "
        "(or `open`): admission goes on. `close`: the room is off, the sale is direct and "
        "needs no pass; the line is kept, so `open` brings it back as it was."),
        request=None, responses={200: s.WaitingRoomOutput,
                                 **errors(e404="event_not_found, queue_not_found")})
    def post(self, request: Request, pk: int, action: str) -> Response:
        room = waiting_room.waiting_room_set_status(
            room=_room(pk, request.user), status=ACTIONS[action], actor=request.user)
        return Response(_room_answer(room))
