"""Staff tools for organisers: participant and check-in exports, and forwarding
entries to the operator."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import StaffModelPermission
from core.schema import errors
from core.selectors.events import event_get
from live import exports, forwarding
from live.serializers import ForwardInput, ForwardOutput
from live.views.common import validated, visible_draw

# --- Exports (staff) -------------------------------------------------------------------


class ParticipantsExportView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("live.view_entry",)}  # participants are entries

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR,
                   (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"):
                       OpenApiTypes.BINARY},
    )
    def get(self, request, pk: int, draw_id: int, fmt: str):
        """Export a draw's participants.

        Staff with `live.view_entry`: every entry with the participant's contact data and prize,
        streamed as CSV or Excel."""
        draw = visible_draw(request, pk, draw_id)
        return exports.participants_export(draw=draw, fmt=fmt)


class CheckinsExportView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("live.view_checkin",)}

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR,
                   (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"):
                       OpenApiTypes.BINARY},
    )
    def get(self, request, pk: int, fmt: str):
        """Export an event's check-ins.

        Staff with `live.view_checkin`: every check-in with the attendee's contact data, streamed
        as CSV or Excel."""
        event = event_get(event_id=pk, user=request.user)
        return exports.checkins_export(event=event, fmt=fmt)


# --- Forwarding to the operator (staff) -------------------------------------------------


class ForwardView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("live.add_forwardingbatch",)}

    @extend_schema(request=ForwardInput, responses={201: ForwardOutput, **errors(
        e400="invalid, nothing_to_forward", e409="no_operator_endpoint")})
    def post(self, request, pk: int):
        """Forward participants to the operator.

        Staff with `live.add_forwardingbatch`: queues a batch of entries for the event's operator
        endpoint; the scheduler delivers it, signed, with retries."""
        data = validated(ForwardInput, request.data)
        event = event_get(event_id=pk, user=request.user)
        batch = forwarding.entries_forward(event=event, entry_ids=data["entries"],
                                           actor=request.user)
        body = {"id": batch.pk, "event": event.pk, "status": batch.status,
                "entries": len(set(data["entries"])), "created_at": batch.created_at}
        return Response(body, status=status.HTTP_201_CREATED)
