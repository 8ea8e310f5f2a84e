"""Draws: list, create, edit, enter, perform, claim, redraw, notify, proof, and the
public result lookup.

Draw bodies are the same dicts as the realtime DRAW state (live/draw_messages.py).
"""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.pagination import Pagination
from core.permissions import ReadOrStaffModelPermission, StaffModelPermission
from core.schema import errors
from core.selectors.events import event_get
from core.throttles import ScopedThrottle
from live import notifications, selectors
from live.draw_messages import draw_state, mask_phone, mask_user
from live.models import Draw
from live.serializers import (
    ClaimOutput,
    DrawInput,
    DrawState,
    EntryOutput,
    NotifyOutput,
    ParticipateInput,
    PerformInput,
    PerformInputSchema,
    ProofOutput,
    ResultLookupInput,
    ResultOutput,
)
from live.services.claims import prize_claim
from live.services.draws import draw_create, draw_enter, draw_update
from live.services.performing import draw_perform, draw_redraw
from live.views.common import paginated, validated, visible_draw


def _fresh_state(draw: Draw) -> dict:
    return draw_state(selectors.draws_with_state().get(pk=draw.pk))


class DrawListView(APIView):
    permission_classes = [ReadOrStaffModelPermission]
    staff_permissions = {"POST": ("live.add_draw",)}
    pagination_class = Pagination  # for the schema

    @extend_schema(responses=DrawState(many=True))
    def get(self, request, pk: int):
        return paginated(request, self, selectors.draw_list(event_id=pk, user=request.user),
                         draw_state)

    @extend_schema(request=DrawInput, responses={201: DrawState, **errors(
        e400="invalid, scheduled_in_past (scheduled_at must be in the future)")})
    def post(self, request, pk: int):
        event = event_get(event_id=pk, user=request.user)
        data = validated(DrawInput, request.data)
        draw = draw_create(event=event, actor=request.user, source="api", **data)
        return Response(_fresh_state(draw), status=status.HTTP_201_CREATED)


class DrawDetailView(APIView):
    permission_classes = [ReadOrStaffModelPermission]
    staff_permissions = {"PATCH": ("live.change_draw",)}

    @extend_schema(responses=DrawState)
    def get(self, request, pk: int, draw_id: int):
        return Response(draw_state(visible_draw(request, pk, draw_id)))

    @extend_schema(request=DrawInput(partial=True), responses={
        200: DrawState, **errors(
            e400="invalid, scheduled_in_past (a new scheduled_at must be in the future)",
            e409="draw_not_editable: entries closed or performed")})
    def patch(self, request, pk: int, draw_id: int):
        draw = visible_draw(request, pk, draw_id)
        data = dict(validated(DrawInput, request.data, instance=draw, partial=True))
        draw = draw_update(draw=draw, actor=request.user, source="api", **data)
        return Response(_fresh_state(draw))


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
        data = validated(ParticipateInput, request.data)
        draw = visible_draw(request, pk, draw_id)
        entry = draw_enter(draw=draw, user=request.user, numbers=data["numbers"])
        body = {"id": entry.pk, "draw": draw.pk, "ballot_no": entry.ballot_no,
                "numbers": entry.number_list or None, "created_at": entry.created_at}
        return Response(body, status=status.HTTP_201_CREATED)


class PerformView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("live.change_draw",)}

    @extend_schema(request=PerformInputSchema, responses={
        200: DrawState, **errors(e409="already_performed, winners_already_imported")})
    def post(self, request, pk: int, draw_id: int):
        data = validated(PerformInput, request.data)
        draw = visible_draw(request, pk, draw_id)
        draw_perform(draw=draw, actor=request.user, source="api",
                     external_winners=data["winners"])
        return Response(_fresh_state(draw))


class ClaimView(APIView):
    @extend_schema(request=None, responses={200: ClaimOutput, **errors(
        e403="not_a_winner", e409="claim_window_closed, already_claimed, not_performed")})
    def post(self, request, pk: int, draw_id: int):
        draw = visible_draw(request, pk, draw_id)
        claimed = prize_claim(draw=draw, user=request.user)
        return Response({"draw": draw.pk, "claimed": [
            {"winner_id": w.pk, "prize": w.prize.name, "claimed_at": w.claimed_at}
            for w in claimed]})


class RedrawView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("live.change_draw",)}

    @extend_schema(request=None, responses={200: DrawState, **errors(
        e409="claim_window_open, nothing_to_redraw, not_performed")})
    def post(self, request, pk: int, draw_id: int):
        draw = visible_draw(request, pk, draw_id)
        draw_redraw(draw=draw, actor=request.user, source="api")
        return Response(_fresh_state(draw))


class NotifyWinnersView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("live.change_draw",)}

    @extend_schema(request=None, responses={200: NotifyOutput, **errors(e409="not_performed")})
    def post(self, request, pk: int, draw_id: int):
        draw = visible_draw(request, pk, draw_id)
        return Response(notifications.winners_notify(draw=draw).as_dict())


class ProofView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: ProofOutput, **errors(e404="not_found, no_proof (external)")})
    def get(self, request, pk: int, draw_id: int):
        draw = visible_draw(request, pk, draw_id)
        if draw.kind == Draw.Kind.EXTERNAL:
            raise NotFound(gettext("External draws are decided outside; there is no proof."),
                           code="no_proof")
        return Response(selectors.draw_proof(draw))


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
        data = validated(ResultLookupInput, request.query_params)
        draw = visible_draw(request, pk, draw_id)
        rows = selectors.winners_by_phone_last4(draw=draw, last4=data["phone_last4"])
        return paginated(request, self, rows, _result_body)
