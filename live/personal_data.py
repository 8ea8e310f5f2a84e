"""Live's part of a person's data export and account erasure (core/personal_data.py).

Kept on erasure, pointing at the anonymised account: check-ins, entries of draws
whose entry list is frozen (the fairness proof's digest covers them: removing one
would make the published proof fail) and wins. Deleted: entries of draws still
open (the person leaves them). Blanked: the address a win notice went to. A prize
still to claim blocks the erasure: claim it or let its deadline pass.
"""

from __future__ import annotations

from django.utils import timezone

from core.models import User
from core.personal_data import PersonalDataSection
from live.models import CheckIn, Draw, Entry, Winner, WinnerNotification


def _pending_wins(user: User):
    return Winner.objects.filter(user=user, claimed_at__isnull=True, forfeited_at__isnull=True,
                                 claim_deadline__gt=timezone.now())


def export(user: User) -> dict:
    return {
        "checkins": list(CheckIn.objects.filter(user=user).order_by("created_at").values(
            "event_id", "event__title", "created_at")),
        "draw_entries": list(Entry.objects.filter(user=user).order_by("created_at", "id").values(
            "id", "draw_id", "draw__title", "draw__kind", "draw__status", "draw__event_id",
            "ballot_no", "position", "numbers", "created_at", "forwarded_at")),
        "wins": list(Winner.objects.filter(user=user).order_by("created_at", "id").values(
            "id", "draw_id", "draw__title", "prize__name", "entry_id", "round", "created_at",
            "claim_deadline", "claimed_at", "forfeited_at")),
        "win_notifications": list(
            WinnerNotification.objects.filter(winner__user=user).order_by("updated_at").values(
                "winner_id", "channel", "to", "status", "attempts", "updated_at")),
    }


def audit_objects(user: User) -> list[tuple[str, str]]:
    return [(Winner._meta.label_lower, str(pk))
            for pk in Winner.objects.filter(user=user).values_list("pk", flat=True)]


def blockers(user: User) -> list[dict]:
    pending = list(_pending_wins(user).values("draw_id", "prize__name", "claim_deadline"))
    if pending:
        return [{"code": "prize_claim_pending", "prizes": pending,
                 "detail": "A prize is still to claim: claim it, or wait for its deadline."}]
    return []


def erase(user: User) -> None:
    Entry.objects.filter(user=user, draw__status=Draw.Status.OPEN, win__isnull=True).delete()
    WinnerNotification.objects.filter(winner__user=user).update(to="")


SECTION = PersonalDataSection(name="live", export=export, audit_objects=audit_objects,
                              blockers=blockers, erase=erase)
