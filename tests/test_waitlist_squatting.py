"""Email squatting and referral squatting on the waitlist.

Anyone can put a stranger's address on the waitlist, through their own referral
link. That must neither lock the address's owner out (a fresh confirmation link
is always one request away, throttled, with the same answer for any address) nor
win the squatter the referral credit (the credit goes to the referrer whose link
the owner actually confirmed).

Transactional: the emails leave after commit.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail

from core.models import User
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db(transaction=True)

RESEND = "/api/waitlist/confirm-email/resend/"
CONFIRM = "/api/waitlist/confirm-email/"
REGISTER = "/api/accounts/register/"
PASSWORD = "correct-horse-battery"
VICTIM = "victim@example.com"


def join(api, email, code=None):
    url = f"/api/waitlist/join/{code}/" if code else "/api/waitlist/join/"
    return api.post(url, {"email": email}, format="json")


def resend(api, email, code=None):
    body = {"email": email, **({"referral_code": code} if code else {})}
    return api.post(RESEND, body, format="json")


def last_token(to: str) -> str:
    sent = [m for m in mail.outbox if to in m.to]
    assert sent, f"no mail to {to}"
    return re.search(r"confirm-email\?token=(\S+)", sent[-1].body).group(1)


@pytest.fixture
def squatted(api, make_user):
    """A squatter put the victim's address on the waitlist through their own link."""
    squatter = make_user(email="squatter@example.com")
    assert join(api, VICTIM, squatter.referral_code).status_code == 201
    mail.outbox.clear()  # the victim never saw (or lost) the welcome email
    return squatter


def test_the_owner_gets_a_fresh_link_and_registers(api, squatted):
    assert_error(api.post(REGISTER, {"email": VICTIM, "password": PASSWORD}, format="json"),
                 409, "email_confirmation_required")
    assert resend(api, VICTIM).status_code == 202
    response = api.post(REGISTER, {"email": VICTIM, "password": PASSWORD,
                                   "email_token": last_token(VICTIM)}, format="json")
    assert response.status_code == 201, response.content
    victim = User.objects.get(email=VICTIM)
    assert victim.has_usable_password()
    # The owner asked for the link without a code: the squatter gets no credit.
    squatted.refresh_from_db()
    assert victim.referred_by is None and squatted.referral_count == 0


def test_the_credit_goes_to_the_referrer_whose_link_the_owner_confirmed(api, squatted,
                                                                       make_user):
    friend = make_user(email="friend@example.com")
    # The owner follows a friend's link; the address is taken, so they ask for a new one.
    assert_error(join(api, VICTIM, friend.referral_code), 409, "already_on_waitlist")
    assert resend(api, VICTIM, friend.referral_code).status_code == 202
    assert api.post(CONFIRM, {"token": last_token(VICTIM)}, format="json").status_code == 200
    friend.refresh_from_db()
    squatted.refresh_from_db()
    assert (friend.referral_count, squatted.referral_count) == (1, 0)
    assert User.objects.get(email=VICTIM).referred_by_id == friend.pk


def test_confirming_the_squatters_own_link_still_credits_the_squatter(api, make_user):
    """The owner chose to click it: that is the link they confirmed."""
    squatter = make_user(email="squatter@example.com")
    join(api, VICTIM, squatter.referral_code)
    assert api.post(CONFIRM, {"token": last_token(VICTIM)}, format="json").status_code == 200
    squatter.refresh_from_db()
    assert squatter.referral_count == 1


def test_registering_with_the_owners_code_replaces_the_squatter(api, squatted, make_user):
    friend = make_user(email="friend@example.com")
    resend(api, VICTIM)
    response = api.post(REGISTER, {"email": VICTIM, "password": PASSWORD,
                                   "referral_code": friend.referral_code,
                                   "email_token": last_token(VICTIM)}, format="json")
    assert response.status_code == 201, response.content
    friend.refresh_from_db()
    squatted.refresh_from_db()
    assert (friend.referral_count, squatted.referral_count) == (1, 0)


def test_resend_answers_the_same_for_any_address_and_mails_only_waitlist_members(
        api, make_user):
    make_user(email="registered@example.com")
    User.objects.create_user(email="ops@example.com", is_staff=True)
    answers = {resend(api, email).json()["detail"]
               for email in ("nobody@example.com", "registered@example.com", "ops@example.com")}
    assert len(answers) == 1
    assert mail.outbox == []


def test_resend_mails_an_address_once_per_cooldown(api, squatted, settings):
    settings.WAITLIST_CONFIRMATION_RESEND_SECONDS = 300
    for _ in range(3):
        assert resend(api, VICTIM).status_code == 202
    assert len([m for m in mail.outbox if VICTIM in m.to]) == 1


def test_resend_is_throttled_per_client(api, rates):
    rates(confirmation_resend="2/hour")
    assert [resend(api, f"x{i}@example.com").status_code for i in range(3)] == [202, 202, 429]


def test_resend_with_an_unknown_code_is_404(api, squatted):
    assert_error(resend(api, VICTIM, "NOPE2345"), 404, "unknown_referral_code")
