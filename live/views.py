"""Live REST endpoints: thin — parse, call a service, render the stream state.

Draw bodies are the same dicts as the realtime DRAW state (live/draw_messages.py).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.events import StaffWrites
from core.errors import NotFound
from core.pagination import Pagination
from core.schema import errors
from core.selectors.events import event_get
from core.throttles import ScopedThrottle
from live import exports, forwarding, notifications, selectors
from live.draw_messages import draw_state, mask_phone, mask_user
from live.errors import DrawNotFound
from live.models import Draw, ScreenKey
from live.serializers import (
    BallotInput,
    BallotOutput,
    CheckinInput,
    CheckinOutput,
    ClaimOutput,
    DateRange,
    DrawInput,
    DrawState,
    EntryOutput,
    ForwardInput,
    ForwardOutput,
    NotifyOutput,
    ParticipateInput,
    PerformInput,
    PerformInputSchema,
    ProofOutput,
    ResultLookupInput,
    ResultOutput,
    ScreenKeyInput,
    ScreenKeyIssuedOutput,
    ScreenKeyOutput,
    WinningBallotOutput,
)
from live.services.checkin import checkin_create, screen_key_issue, screen_key_revoke
from live.services.claims import prize_claim
from live.services.draws import draw_create, draw_enter, draw_update
from live.services.performing import draw_perform, draw_redraw


def paginated(request, view, rows, render):
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response([render(row) for row in page])


def _valid(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class IsStaff(permissions.IsAuthenticated):
    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.is_staff


# --- Check-in and screen keys ------------------------------------------------------


class CheckinView(APIView):
    throttle_classes = [ScopedThrottle]
    throttle_scope = "checkin"

    @extend_schema(
        operation_id="events_checkin",
        request=CheckinInput,
        responses={201: CheckinOutput, 200: OpenApiResponse(CheckinOutput, "The same nonce again."),
                   **errors(e400="invalid / invalid_checkin_code",
                            e409="already_checked_in, event_not_open")},
    )
    def post(self, request, pk: int):
        data = _valid(CheckinInput, request.data)
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


class ScreenKeyListView(APIView):
    permission_classes = [IsStaff]
    pagination_class = Pagination  # for the schema; `paginated` pages the answer

    @extend_schema(responses=ScreenKeyOutput(many=True))
    def get(self, request, pk: int):
        event = event_get(event_id=pk, user=request.user)
        return paginated(request, self, event.screen_keys.all(), _screen_key_body)

    @extend_schema(request=ScreenKeyInput, responses={201: ScreenKeyIssuedOutput})
    def post(self, request, pk: int):
        data = _valid(ScreenKeyInput, request.data)
        event = event_get(event_id=pk, user=request.user)
        row, key = screen_key_issue(event=event, actor=request.user, label=data["label"])
        return Response(_screen_key_body(row, key), status=status.HTTP_201_CREATED)


class ScreenKeyRevokeView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses=ScreenKeyOutput)
    def post(self, request, pk: int, key_id: int):
        row = get_object_or_404(ScreenKey, pk=key_id, event_id=pk)
        return Response(_screen_key_body(screen_key_revoke(screen_key=row)))


# --- Draws -------------------------------------------------------------------------


def _draw(request, pk: int, draw_id: int) -> Draw:
    return selectors.draw_get(event_id=pk, draw_id=draw_id, user=request.user)


def _fresh_state(draw: Draw) -> dict:
    return draw_state(selectors.draws_with_state().get(pk=draw.pk))


class DrawListView(APIView):
    permission_classes = [StaffWrites]
    pagination_class = Pagination  # for the schema

    @extend_schema(responses=DrawState(many=True))
    def get(self, request, pk: int):
        return paginated(request, self, selectors.draw_list(event_id=pk, user=request.user),
                         draw_state)

    @extend_schema(request=DrawInput, responses={201: DrawState})
    def post(self, request, pk: int):
        event = event_get(event_id=pk, user=request.user)
        data = _valid(DrawInput, request.data)
        draw = draw_create(event=event, actor=request.user, source="api", **data)
        return Response(_fresh_state(draw), status=status.HTTP_201_CREATED)


class DrawDetailView(APIView):
    permission_classes = [StaffWrites]

    @extend_schema(responses=DrawState)
    def get(self, request, pk: int, draw_id: int):
        return Response(draw_state(_draw(request, pk, draw_id)))

    @extend_schema(request=DrawInput(partial=True), responses={
        200: DrawState, **errors(e409="draw_not_editable: entries closed or performed")})
    def patch(self, request, pk: int, draw_id: int):
        draw = _draw(request, pk, draw_id)
        data = dict(_valid(DrawInput, request.data, instance=draw, partial=True))
        draw = draw_update(draw=draw, actor=request.user, source="api", **data)
        return Response(_fresh_state(draw))


def _ballot_body(entry) -> dict:
    return BallotOutput(entry).data


class ParticipateView(APIView):
    throttle_classes = [ScopedThrottle]
    throttle_scope = "draw_participate"

    @extend_schema(
        request=ParticipateInput,
        responses={201: EntryOutput, **errors(
            e400="invalid_ballot",
            e403="not_checked_in, not_ticket_holder, phone_not_verified",
            e409="entries_closed, already_entered, ballot_limit_reached, draw_not_enterable")},
    )
    def post(self, request, pk: int, draw_id: int):
        data = _valid(ParticipateInput, request.data)
        draw = _draw(request, pk, draw_id)
        entry = draw_enter(draw=draw, user=request.user, numbers=data["numbers"])
        body = {"id": entry.pk, "draw": draw.pk, "ballot_no": entry.ballot_no,
                "numbers": entry.number_list or None, "created_at": entry.created_at}
        return Response(body, status=status.HTTP_201_CREATED)


class PerformView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=PerformInputSchema, responses={
        200: DrawState, **errors(e409="already_performed, winners_already_imported")})
    def post(self, request, pk: int, draw_id: int):
        data = _valid(PerformInput, request.data)
        draw = _draw(request, pk, draw_id)
        draw_perform(draw=draw, actor=request.user, source="api",
                     external_winners=data["winners"])
        return Response(_fresh_state(draw))


class ClaimView(APIView):
    @extend_schema(request=None, responses={200: ClaimOutput, **errors(
        e403="not_a_winner", e409="claim_window_closed, already_claimed, not_performed")})
    def post(self, request, pk: int, draw_id: int):
        draw = _draw(request, pk, draw_id)
        claimed = prize_claim(draw=draw, user=request.user)
        return Response({"draw": draw.pk, "claimed": [
            {"winner_id": w.pk, "prize": w.prize.name, "claimed_at": w.claimed_at}
            for w in claimed]})


class RedrawView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses={200: DrawState, **errors(
        e409="claim_window_open, nothing_to_redraw, not_performed")})
    def post(self, request, pk: int, draw_id: int):
        draw = _draw(request, pk, draw_id)
        draw_redraw(draw=draw, actor=request.user, source="api")
        return Response(_fresh_state(draw))


class NotifyWinnersView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses={200: NotifyOutput, **errors(e409="not_performed")})
    def post(self, request, pk: int, draw_id: int):
        draw = _draw(request, pk, draw_id)
        return Response(notifications.winners_notify(draw=draw).as_dict())


class ProofView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: ProofOutput, **errors(e404="not_found, no_proof (external)")})
    def get(self, request, pk: int, draw_id: int):
        draw = _draw(request, pk, draw_id)
        if draw.kind == Draw.Kind.EXTERNAL:
            raise NotFound("External draws are decided outside; there is no proof.",
                           code="no_proof")
        return Response(selectors.draw_proof(draw))


# --- Lottery ballots -----------------------------------------------------------------


class LotteryListView(APIView):
    pagination_class = Pagination  # for the schema
    throttle_classes = [ScopedThrottle]
    throttle_scope = "draw_participate"

    @extend_schema(parameters=[DateRange], responses=BallotOutput(many=True))
    def get(self, request):
        dates = _valid(DateRange, request.query_params)
        return paginated(request, self, selectors.ballots_of(user=request.user, **dates),
                         _ballot_body)

    @extend_schema(request=BallotInput, responses={201: BallotOutput, **errors(
        e403="not_checked_in, not_ticket_holder, phone_not_verified",
        e404="draw_not_found",
        e409="entries_closed, ballot_limit_reached, draw_not_enterable")})
    def post(self, request):
        data = _valid(BallotInput, request.data)
        draw = Draw.objects.filter(pk=data["draw"], kind=Draw.Kind.LOTTERY).first()
        if draw is None:
            raise DrawNotFound("No such lottery draw.")
        draw = _draw(request, draw.event_id, draw.pk)
        entry = draw_enter(draw=draw, user=request.user, numbers=data["numbers"])
        return Response(_ballot_body(selectors.ballot_get(user=request.user, ballot_id=entry.pk)),
                        status=status.HTTP_201_CREATED)


class LotteryDetailView(APIView):
    @extend_schema(responses=BallotOutput)
    def get(self, request, pk: int):
        return Response(_ballot_body(selectors.ballot_get(user=request.user, ballot_id=pk)))


def _winning_ballot_body(winner) -> dict:
    return {"id": winner.pk, "draw": winner.draw_id, "draw_title": winner.draw.title,
            "ballot": winner.entry_id, "numbers": winner.entry.number_list,
            "winning_numbers": winner.draw.winning_numbers, "prize": winner.prize.name,
            "winner": mask_user(winner.user), "won_at": winner.created_at}


class WinningBallotsView(APIView):
    permission_classes = [permissions.AllowAny]
    pagination_class = Pagination  # for the schema

    @extend_schema(parameters=[DateRange], responses=WinningBallotOutput(many=True))
    def get(self, request):
        dates = _valid(DateRange, request.query_params)
        return paginated(request, self, selectors.winning_ballots(**dates), _winning_ballot_body)


# --- Public result lookup ------------------------------------------------------------


def _result_body(winner) -> dict:
    # Masked on purpose: anyone may ask, so nothing here identifies a person fully.
    return {"winner": mask_user(winner.user), "phone": mask_phone(winner.user.phone),
            "prize": winner.prize.name, "claimed": winner.claimed_at is not None}


class ResultLookupView(APIView):
    """Did a phone ending in these 4 digits win this draw? Public, throttled, masked."""

    permission_classes = [permissions.AllowAny]
    pagination_class = Pagination  # for the schema
    throttle_classes = [ScopedThrottle]
    throttle_scope = "phone_lookup"

    @extend_schema(operation_id="events_draws_results_list", parameters=[ResultLookupInput],
                   responses=ResultOutput(many=True))
    def get(self, request, pk: int, draw_id: int):
        data = _valid(ResultLookupInput, request.query_params)
        draw = _draw(request, pk, draw_id)
        rows = selectors.winners_by_phone_last4(draw=draw, last4=data["phone_last4"])
        return paginated(request, self, rows, _result_body)


# --- Exports (staff) -------------------------------------------------------------------


class ParticipantsExportView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR,
                   (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"):
                       OpenApiTypes.BINARY},
    )
    def get(self, request, pk: int, draw_id: int, fmt: str):
        draw = _draw(request, pk, draw_id)
        return exports.participants_export(draw=draw, fmt=fmt)


class CheckinsExportView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR,
                   (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"):
                       OpenApiTypes.BINARY},
    )
    def get(self, request, pk: int, fmt: str):
        event = event_get(event_id=pk, user=request.user)
        return exports.checkins_export(event=event, fmt=fmt)


# --- Forwarding to the operator (staff) -------------------------------------------------


class ForwardView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=ForwardInput, responses={201: ForwardOutput, **errors(
        e400="invalid, nothing_to_forward", e409="no_operator_endpoint")})
    def post(self, request, pk: int):
        data = _valid(ForwardInput, request.data)
        event = event_get(event_id=pk, user=request.user)
        batch = forwarding.entries_forward(event=event, entry_ids=data["entries"],
                                           actor=request.user)
        body = {"id": batch.pk, "event": event.pk, "status": batch.status,
                "entries": len(set(data["entries"])), "created_at": batch.created_at}
        return Response(body, status=status.HTTP_201_CREATED)
