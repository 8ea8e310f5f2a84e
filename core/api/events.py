"""Events: public catalog reads, staff writes.

GET  /api/events/             published/live/ended (staff: all); ?upcoming=1 ?live=1
                              ?from_date=YYYY-MM-DD ?to_date=YYYY-MM-DD ?status= ?venue=
                              ?search= ?ordering= (core.filters.EventFilters)
GET  /api/events/{id}/
POST /api/events/             staff with core.add_event
PATCH /api/events/{id}/       staff with core.change_event
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.filters import EventFilters, FilteredListMixin, filtered
from core.local_time import validate_time_zone
from core.models import Event, Venue, default_language, default_time_zone
from core.pagination import Pagination
from core.permissions import ReadOrStaffModelPermission
from core.selectors.events import event_get, event_list
from core.serializers import CachedFieldsModelSerializer
from core.services.events import event_create, event_update


class EventOutput(CachedFieldsModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "title", "description", "starts_at", "ends_at", "status", "venue",
                  "time_zone", "language", "checkin_code_required", "checkin_opens_before",
                  "created_at", "updated_at"]


class EventInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    status = serializers.ChoiceField(choices=Event.Status.choices, default=Event.Status.DRAFT)
    venue = serializers.PrimaryKeyRelatedField(queryset=Venue.objects.all(), required=False,
                                               allow_null=True, default=None)
    time_zone = serializers.CharField(
        max_length=64, default=default_time_zone, validators=[validate_time_zone],
        help_text="IANA time zone, e.g. Europe/Berlin (default: the server's TIME_ZONE): "
                  "messages, exports and the venue screen show the event's times in it.")
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES, default=default_language,
        help_text="Language of the venue screen and of the messages about the event "
                  "(default: the server's LANGUAGE_CODE).")
    checkin_code_required = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text="Check-in needs the code shown on the venue screen. Default: on for an "
                  "event at a venue, off without one.")
    checkin_opens_before = serializers.IntegerField(
        min_value=0, max_value=60 * 24 * 30, required=False, default=120,
        help_text="Check-in opens this many minutes before starts_at.")

    def validate_checkin_code_required(self, value):
        if value is None and self.instance is not None:
            raise serializers.ValidationError(gettext("Send true or false."))
        return value

    def validate(self, attrs):
        starts = attrs.get("starts_at", getattr(self.instance, "starts_at", None))
        ends = attrs.get("ends_at", getattr(self.instance, "ends_at", None))
        if starts and ends and ends < starts:
            raise serializers.ValidationError(
                {"ends_at": [gettext("Must not be before starts_at.")]})
        return attrs


class EventListView(FilteredListMixin, APIView):
    permission_classes = [ReadOrStaffModelPermission]
    staff_permissions = {"POST": ("core.add_event",)}
    pagination_class = Pagination  # for the schema; `get` pages with it
    filterset_class = EventFilters

    @extend_schema(responses=EventOutput(many=True))
    def get(self, request):
        """List events.

        Published, live and ended events (staff: drafts too), soonest first. Filter by date
        range, status, venue, `upcoming` or `live`; `search` in title and description;
        `ordering` by start, title or id."""
        events = filtered(request, self, event_list(user=request.user))
        paginator = Pagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(EventOutput(page, many=True).data)

    @extend_schema(request=EventInput, responses={201: EventOutput})
    def post(self, request):
        """Create an event.

        Staff with `core.add_event`. New events start as drafts unless a status is given;
        check-in at a venue needs the venue screen's code by default."""
        data = EventInput(data=request.data)
        data.is_valid(raise_exception=True)
        event = event_create(**data.validated_data)
        return Response(EventOutput(event).data, status=status.HTTP_201_CREATED)


class EventDetailView(APIView):
    permission_classes = [ReadOrStaffModelPermission]
    staff_permissions = {"PATCH": ("core.change_event",)}

    @extend_schema(responses=EventOutput)
    def get(self, request, pk: int):
        """Read an event.

        Drafts answer 404 except to staff."""
        return Response(EventOutput(event_get(event_id=pk, user=request.user)).data)

    @extend_schema(request=EventInput(partial=True), responses=EventOutput)
    def patch(self, request, pk: int):
        """Change an event.

        Staff with `core.change_event`. Moving an event out of the public statuses closes the
        streams of viewers who may no longer see it."""
        event = event_get(event_id=pk, user=request.user)
        data = EventInput(instance=event, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        event = event_update(event=event, fields=data.validated_data)
        return Response(EventOutput(event).data)
