"""Prize claims: a winner claims within the prize's claim window."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core import audit
from core.models import User
from live.draw_messages import draw_claimed_data
from live.errors import (
    AlreadyClaimed,
    ClaimWindowClosed,
    NotAWinner,
    NotPerformed,
)
from live.models import Draw, Winner
from live.services.webhooks import emit_draw_webhook
from live.streams import publish_draw


@transaction.atomic
def prize_claim(*, draw: Draw, user: User) -> list[Winner]:
    """Claim `user`'s pending prizes in `draw` within their claim window.

    Raises NotPerformed / AlreadyClaimed / ClaimWindowClosed (409), NotAWinner (403).
    Publishes draw.claimed, queues the prize.claimed webhook and writes the
    prize.claimed audit entry per claimed prize.
    """
    if not Draw.objects.filter(pk=draw.pk, status=Draw.Status.PERFORMED).exists():
        raise NotPerformed()
    wins = list(Winner.objects.select_for_update().select_related("prize")
                .filter(draw=draw, user=user).order_by("id"))
    if not wins:
        raise NotAWinner()
    now = timezone.now()
    pending = [w for w in wins if w.claimed_at is None and w.forfeited_at is None]
    if not pending:
        if any(w.claimed_at for w in wins):
            raise AlreadyClaimed()
        raise ClaimWindowClosed()
    claimable = [w for w in pending if w.claim_deadline > now]
    if not claimable:
        raise ClaimWindowClosed()
    Winner.objects.filter(pk__in=[w.pk for w in claimable]).update(claimed_at=now)
    for winner in claimable:
        winner.claimed_at = now
        publish_draw(draw, "draw.claimed", draw_claimed_data(winner))
        claim = {"draw_id": draw.pk, "winner_id": winner.pk, "user_id": user.pk,
                 "prize": {"id": winner.prize_id, "name": winner.prize.name}, "claimed_at": now}
        emit_draw_webhook(draw, "prize.claimed", claim)
        audit.record(action="prize.claimed", obj=winner, actor=user, data=claim)
    return claimable
