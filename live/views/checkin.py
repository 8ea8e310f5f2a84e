"""Check-in at the venue and the staff's screen keys for venue screens."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.filters import FilteredListMixin
from core.pagination import Pagination
from core.permissions import StaffModelPermission
from core.schema import errors
from core.selectors.events import event_get
from core.throttles import ScopedThrottle
from live.filters import ScreenKeyFilters
from live.models import ScreenKey
from live.serializers import (
    CheckinInput,
    CheckinOutput,
    ScreenKeyInput,
    ScreenKeyIssuedOutput,
    ScreenKeyOutput,
)
from live.services.checkin import checkin_create, screen_key_issue, screen_key_revoke
from live.views.common import paginated, validated


class CheckinView(APIView):
    throttle_classes = [ScopedThrottle]
    throttle_scope = "checkin"

    @extend_schema(
        operation_id="events_checkin",
        request=CheckinInput,
        responses={201: CheckinOutput, 200: OpenApiResponse(CheckinOutput, "The same nonce again."),
                   **errors(e400="invalid / invalid_checkin_code",
                            e409="already_checked_in, event_not_open, checkin_not_open_yet "
                                 "(with `opens_at`: the event's checkin_opens_before minutes "
                                 "before it starts)")},
    )
    def post(self, request, pk: int):
        """Check in at an event.

        Records that I am at the event (with the code shown on the venue screen when the event
        asks for it); sending the same `nonce` again answers the first check-in."""
        data = validated(CheckinInput, request.data)
        event = event_get(event_id=pk, user=request.user)
        checkin, created = checkin_create(
            event=event, user=request.user, nonce=data["nonce"], code=data["code"])
        body = {"id": checkin.pk, "event": event.pk, "checked_in_at": checkin.created_at,
                "nonce": checkin.nonce or None}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _screen_key_body(row: ScreenKey, key: str | None = None) -> dict:
    body = {"id": row.pk, "event": row.event_id, "label": row.label,
            "created_at": row.created_at, "revoked_at": row.revoked_at}
    if key is not None:
        body["key"] = key
    return body


class ScreenKeyListView(FilteredListMixin, APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("live.view_screenkey",), "POST": ("live.add_screenkey",)}
    pagination_class = Pagination  # for the schema; `paginated` pages the answer
    filterset_class = ScreenKeyFilters

    @extend_schema(responses=ScreenKeyOutput(many=True))
    def get(self, request, pk: int):
        """List an event's venue screen keys.

        Staff with `live.view_screenkey`: labels and revocation times; the keys themselves are
        shown only once, when issued."""
        event = event_get(event_id=pk, user=request.user)
        return paginated(request, self, event.screen_keys.order_by("id"), _screen_key_body)

    @extend_schema(request=ScreenKeyInput, responses={201: ScreenKeyIssuedOutput})
    def post(self, request, pk: int):
        """Issue a venue screen key.

        Staff with `live.add_screenkey`. The answer shows the key once; only its hash is stored."""
        data = validated(ScreenKeyInput, request.data)
        event = event_get(event_id=pk, user=request.user)
        row, key = screen_key_issue(event=event, actor=request.user, label=data["label"])
        return Response(_screen_key_body(row, key), status=status.HTTP_201_CREATED)


class ScreenKeyRevokeView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("live.change_screenkey",)}

    @extend_schema(request=None, responses=ScreenKeyOutput)
    def post(self, request, pk: int, key_id: int):
        """Revoke a venue screen key.

        Staff with `live.change_screenkey`. Every socket opened with the key closes within
        moments (4403)."""
        row = get_object_or_404(ScreenKey, pk=key_id, event_id=pk)
        return Response(_screen_key_body(screen_key_revoke(screen_key=row)))
