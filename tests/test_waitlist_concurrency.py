"""Concurrent sign-ups and verifications against a real database."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from core.errors import AlreadyOnWaitlist
from core.models import User
from core.services.waitlist import (
    referral_attach,
    referral_count_if_eligible,
    waitlist_join,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]



def run_at_once(fn, workers: int) -> list:
    barrier = threading.Barrier(workers)

    def task(_):
        try:
            barrier.wait()
            return fn()
        except Exception as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(task, range(workers)))


def test_simultaneous_signups_with_one_email_create_one_account():
    results = run_at_once(lambda: waitlist_join(email="race@example.com"), workers=6)
    created = [r for r in results if isinstance(r, User)]
    refused = [r for r in results if isinstance(r, AlreadyOnWaitlist)]
    assert len(created) == 1 and len(refused) == 5, results
    assert User.objects.filter(email="race@example.com").count() == 1


def test_simultaneous_verifications_count_a_referral_once(make_user):
    referrer, friend = make_user(), make_user(phone_verified_at=timezone.now())
    friend.referred_by = referrer
    friend.save(update_fields=["referred_by"])
    results = run_at_once(lambda: referral_count_if_eligible(user=friend), workers=6)
    assert results.count(True) == 1 and results.count(False) == 5, results
    referrer.refresh_from_db()
    assert referrer.referral_count == 1


def test_attach_after_verification_counts_at_once(make_user):
    referrer, friend = make_user(), make_user(phone_verified_at=timezone.now())
    referral_attach(user=friend, referrer=referrer)
    referrer.refresh_from_db()
    assert referrer.referral_count == 1
