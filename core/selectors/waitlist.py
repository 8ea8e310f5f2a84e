"""Referral waitlist reads. Positions are computed live, never stored."""

from __future__ import annotations

from django.db.models import Q

from core.models import User


def waitlist_position(user: User) -> int:
    """1-based position: more counted referrals first, earlier signup breaks ties."""
    ahead = User.objects.filter(
        Q(referral_count__gt=user.referral_count)
        | Q(referral_count=user.referral_count, date_joined__lt=user.date_joined)
        | Q(referral_count=user.referral_count, date_joined=user.date_joined, id__lt=user.id)
    ).count()
    return ahead + 1


def waitlist_block(user: User) -> dict:
    """The block every waitlist answer carries.

    {referral_code, referral_count, wait_list_position, total_registered}
    """
    user.refresh_from_db(fields=["referral_count"])
    return {
        "referral_code": user.referral_code,
        "referral_count": user.referral_count,
        "wait_list_position": waitlist_position(user),
        "total_registered": User.objects.count(),
    }
