"""Lottery ballots across draws: a user's own ballots, buying one, and the public
list of winning ballots."""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.filters import FilteredListMixin
from core.pagination import Pagination
from core.schema import errors
from core.throttles import ScopedThrottle
from live import selectors
from live.draw_messages import mask_user
from live.errors import DrawNotFound
from live.filters import BallotFilters, WinningBallotFilters
from live.models import Draw
from live.serializers import BallotInput, BallotOutput, WinningBallotOutput
from live.services.draws import draw_enter
from live.views.common import paginated, validated, visible_draw


def _ballot_body(entry) -> dict:
    return BallotOutput(entry).data


class LotteryListView(FilteredListMixin, APIView):
    pagination_class = Pagination  # for the schema
    filterset_class = BallotFilters
    throttle_classes = [ScopedThrottle]
    throttle_scope = "draw_participate"

    @extend_schema(responses=BallotOutput(many=True))
    def get(self, request):
        """List my lottery ballots.

        Newest first, each with its numbers, the winning numbers, matches and prize once drawn."""
        return paginated(request, self, selectors.ballots_of(user=request.user), _ballot_body)

    @extend_schema(request=BallotInput, responses={201: BallotOutput, **errors(
        e403="not_checked_in, not_ticket_holder, phone_not_verified",
        e404="draw_not_found",
        e409="entries_closed, ballot_limit_reached, draw_not_enterable")})
    def post(self, request):
        """Buy a lottery ballot.

        Enters the lottery `draw` with the ballot's `numbers` (as participate does)."""
        data = validated(BallotInput, request.data)
        draw = Draw.objects.filter(pk=data["draw"], kind=Draw.Kind.LOTTERY).first()
        if draw is None:
            raise DrawNotFound(gettext("No such lottery draw."))
        draw = visible_draw(request, draw.event_id, draw.pk)
        entry = draw_enter(draw=draw, user=request.user, numbers=data["numbers"])
        return Response(_ballot_body(selectors.ballot_get(user=request.user, ballot_id=entry.pk)),
                        status=status.HTTP_201_CREATED)


class LotteryDetailView(APIView):
    @extend_schema(responses=BallotOutput)
    def get(self, request, pk: int):
        """Read one of my ballots.

        Another user's ballot answers 404."""
        return Response(_ballot_body(selectors.ballot_get(user=request.user, ballot_id=pk)))


def _winning_ballot_body(winner) -> dict:
    return {"id": winner.pk, "draw": winner.draw_id, "event": winner.draw.event_id,
            "draw_title": winner.draw.title,
            "ballot": winner.entry_id, "numbers": winner.entry.number_list,
            "winning_numbers": winner.draw.winning_numbers, "prize": winner.prize.name,
            "winner": mask_user(winner.user), "won_at": winner.created_at}


class WinningBallotsView(FilteredListMixin, APIView):
    permission_classes = [permissions.AllowAny]
    pagination_class = Pagination  # for the schema
    filterset_class = WinningBallotFilters

    @extend_schema(responses=WinningBallotOutput(many=True))
    def get(self, request):
        """List winning ballots.

        Public: lottery winners of public events, newest first, the winner's name masked."""
        return paginated(request, self, selectors.winning_ballots(), _winning_ballot_body)


class WinningBallotDetailView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: WinningBallotOutput,
                              **errors(e404="winning_ballot_not_found")})
    def get(self, request, pk: int):
        """Read a winning ballot.

        Public: the ballot's numbers, the winning numbers, the prize and the masked winner."""
        return Response(_winning_ballot_body(selectors.winning_ballot_get(winner_id=pk)))
