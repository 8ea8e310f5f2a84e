"""Draws: list, create, edit, enter, perform, claim, redraw, notify, proof, and the
public result lookup.

Draw bodies are the same dicts as the realtime DRAW state (live/draw_messages.py).
"""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.filters import FilteredListMixin
from core.pagination import Pagination
from core.permissions import ReadOrStaffModelPermission, StaffModelPermission
from core.schema import errors
from core.selectors.events import event_get
from core.throttles import ScopedThrottle
from live import notifications, selectors
from live.draw_messages import draw_state, mask_phone, mask_user
from live.filters import DrawFilters, ResultLookupFilters
from live.models import Draw
from live.serializers import (
    ClaimOutput,
    DrawCreateInput,
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


class DrawListView(FilteredListMixin, APIView):
    permission_classes = [ReadOrStaffModelPermission]
    staff_permissions = {"POST": ("live.add_draw",)}
    pagination_class = Pagination  # for the schema
    filterset_class = DrawFilters

    @extend_schema(responses=DrawState(many=True))
    def get(self, request, pk: int):
        """List an event's draws.

        Each draw as its stream state: kind, status, schedule, prizes, the seed commitment and,
        once performed, the seed and winners. Filter by status and kind; `search` in titles."""
        return paginated(request, self, selectors.draw_list(event_id=pk, user=request.user),
                         draw_state)

    @extend_schema(request=DrawCreateInput, responses={201: DrawState, **errors(
        e400="invalid, scheduled_in_past (scheduled_at must be in the future), "
             "beacon_not_configured")})
    def post(self, request, pk: int):
        """Create a draw.

        Staff with `live.add_draw`: a raffle, lottery or external draw with its prizes,
        eligibility and schedule. The seed is committed at once (its SHA-256 is public)."""
        event = event_get(event_id=pk, user=request.user)
        data = validated(DrawCreateInput, request.data)
        draw = draw_create(event=event, actor=request.user, source="api", **data)
        return Response(_fresh_state(draw), status=status.HTTP_201_CREATED)


class DrawDetailView(APIView):
    permission_classes = [ReadOrStaffModelPermission]
    staff_permissions = {"PATCH": ("live.change_draw",)}

    @extend_schema(responses=DrawState)
    def get(self, request, pk: int, draw_id: int):
        """Read a draw.

        The draw's stream state, as the draw stream's snapshot carries it."""
        return Response(draw_state(visible_draw(request, pk, draw_id)))

    @extend_schema(request=DrawInput(partial=True), responses={
        200: DrawState, **errors(
            e400="invalid, scheduled_in_past (a new scheduled_at must be in the future)",
            e409="draw_not_editable: entries closed or performed")})
    def patch(self, request, pk: int, draw_id: int):
        """Change a draw.

        Staff with `live.change_draw`, while entries are open."""
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
        """Enter a draw.

        Raffles take no body; lotteries take the ballot's `numbers`. Eligibility (registered,
        checked in, ticket holder, verified phone) is checked at entry."""
        data = validated(ParticipateInput, request.data)
        draw = visible_draw(request, pk, draw_id)
        entry = draw_enter(draw=draw, user=request.user, numbers=data["numbers"])
        body = {"id": entry.pk, "draw": draw.pk, "ballot_no": entry.ballot_no,
                "numbers": entry.number_list or None, "created_at": entry.created_at}
        return Response(body, status=status.HTTP_201_CREATED)


PERFORM_EXAMPLES = [
    OpenApiExample("A raffle or lottery: no body", request_only=True, value={}),
    OpenApiExample("An external draw: its winners", request_only=True,
                   value={"winners": [{"prize_id": 31, "user_id": 42}]}),
    OpenApiExample("Performed", response_only=True, status_codes=["200"], value={
        "id": 9, "event_id": 12, "title": "Grand raffle", "kind": "raffle",
        "status": "performed", "eligibility": "checked_in", "requires_verified_phone": False,
        "algorithm": "tombola-hmac-sha256-v1", "beacon": None,
        "scheduled_at": "2026-11-30T20:00:00Z", "entries_close_at": None,
        "claim_window_minutes": 60,
        "seed_commitment": "9f2c1e...sha256 of the seed", "seed": "4b7d0a...the seed",
        "entries_count": 1480, "entries_digest": "c41f9b...sha256 of the entries",
        "closed_at": "2026-11-30T20:00:00Z", "performed_at": "2026-11-30T20:00:01Z",
        "winning_numbers": None,
        "proof_url": "https://tombola.example/api/events/12/draws/9/proof/",
        "lottery": None, "recurrence": "none",
        "prizes": [{"id": 31, "name": "Bicycle", "quantity": 1, "rank": 1, "matches": None}],
        "winners": [{"id": 55, "prize_id": 31, "prize": "Bicycle", "rank": 1,
                     "winner": "Ann L.", "entry_id": 8123, "round": 0,
                     "claim_deadline": "2026-11-30T21:00:01Z", "claimed_at": None,
                     "forfeited_at": None}]}),
]


class PerformView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("live.change_draw",)}

    @extend_schema(request=PerformInputSchema, responses={
        200: DrawState, 202: DrawState, **errors(
            e409="already_performed, winners_already_imported, beacon_fallback_not_allowed")},
        examples=PERFORM_EXAMPLES)
    def post(self, request, pk: int, draw_id: int):
        """Perform a draw.

        Staff with `live.change_draw`: closes entries, draws the winners from the committed seed
        and the entries' digest, reveals the seed and publishes the winners. External draws take
        their `winners` in the body. Performing twice answers 409.

        A tombola-beacon-v2 draw whose beacon round is not published yet (or that no relay
        serves) answers 202 with status `awaiting_beacon`: the scheduler performs it once the
        round is there. After BEACON_FALLBACK_AFTER_SECONDS of waiting, `beacon_fallback`
        (a reason) performs it without the beacon; the proof says so."""
        data = validated(PerformInput, request.data)
        draw = visible_draw(request, pk, draw_id)
        performed = draw_perform(draw=draw, actor=request.user, source="api",
                                 external_winners=data["winners"],
                                 beacon_fallback=data["beacon_fallback"])
        waiting = performed.status == Draw.Status.AWAITING_BEACON
        return Response(_fresh_state(draw),
                        status=status.HTTP_202_ACCEPTED if waiting else status.HTTP_200_OK)


class ClaimView(APIView):
    @extend_schema(request=None, responses={200: ClaimOutput, **errors(
        e403="not_a_winner", e409="claim_window_closed, already_claimed, not_performed")})
    def post(self, request, pk: int, draw_id: int):
        """Claim my prize.

        The winner claims within the claim window; after it the prize may be redrawn."""
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
        """Redraw unclaimed prizes.

        Staff with `live.change_draw`, raffles only, after the claim window: unclaimed wins are
        forfeited and drawn again from the same seed."""
        draw = visible_draw(request, pk, draw_id)
        draw_redraw(draw=draw, actor=request.user, source="api")
        return Response(_fresh_state(draw))


class NotifyWinnersView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("live.change_draw",)}

    @extend_schema(request=None, responses={200: NotifyOutput, **errors(e409="not_performed")})
    def post(self, request, pk: int, draw_id: int):
        """Notify the winners.

        Staff with `live.change_draw`: an SMS to winners with a verified phone, an email to the
        others; a sent message is never repeated, a failed one is retried by the next call."""
        draw = visible_draw(request, pk, draw_id)
        return Response(notifications.winners_notify(draw=draw).as_dict())


class ProofView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: ProofOutput, **errors(e404="not_found, no_proof (external)")})
    def get(self, request, pk: int, draw_id: int):
        """Read a draw's fairness proof.

        The commitment, the seed (after the draw), the entries' digest and ids, and the winners:
        everything `python -m live.verify` needs to recompute the result."""
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


class ResultLookupView(FilteredListMixin, APIView):
    """Did a phone ending in these 4 digits win this draw? Public, throttled, masked."""

    permission_classes = [permissions.AllowAny]
    pagination_class = Pagination  # for the schema
    filterset_class = ResultLookupFilters
    extra_query_parameters = ("phone_last4",)  # ResultLookupInput
    throttle_classes = [ScopedThrottle]
    throttle_scope = "phone_lookup"

    @extend_schema(operation_id="events_draws_results_list", parameters=[ResultLookupInput],
                   responses=ResultOutput(many=True))
    def get(self, request, pk: int, draw_id: int):
        """Look a result up by phone digits.

        Public and throttled: the winners of the draw whose phone ends with `phone_last4`,
        masked (`Ivan P.`, `+7******1234`)."""
        data = validated(ResultLookupInput, request.query_params)
        draw = visible_draw(request, pk, draw_id)
        rows = selectors.winners_by_phone_last4(draw=draw, last4=data["phone_last4"])
        return paginated(request, self, rows, _result_body)
