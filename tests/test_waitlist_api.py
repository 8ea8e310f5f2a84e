"""Waitlist endpoints: join (with and without a referral code), me, by code, staff lookup.

Transactional tests: the welcome email and the Redis ranking follow commits,
so the commits must really happen.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.db import transaction

from core.models import User
from core.services.waitlist import email_confirmation_token, waitlist_join

pytestmark = [
    pytest.mark.django_db(transaction=True),
]


BLOCK_KEYS = {"referral_code", "referral_count", "wait_list_position", "total_registered"}


def join(api, email, code=None):
    url = f"/api/waitlist/join/{code}/" if code else "/api/waitlist/join/"
    return api.post(url, {"email": email}, format="json")


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def test_join_creates_an_account_without_usable_password(api):
    response = join(api, "new@example.com")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == BLOCK_KEYS
    member = User.objects.get(email="new@example.com")
    assert not member.has_usable_password()
    assert body == {
        "referral_code": member.referral_code,
        "referral_count": 0,
        "wait_list_position": 1,
        "total_registered": 1,
    }


def test_join_places_members_in_signup_order(api, make_user):
    make_user(email="first@example.com")
    body = join(api, "second@example.com").json()
    assert body["wait_list_position"] == 2
    assert body["total_registered"] == 2


def test_join_never_logs_anyone_in(api):
    body = join(api, "new@example.com").json()
    assert "access" not in body and "refresh" not in body
    assert_error(api.get("/api/waitlist/me/"), 401, "not_authenticated")


def test_join_refuses_the_same_normalised_email_twice(api):
    assert join(api, "Twice@Example.com ").status_code == 201
    assert_error(join(api, "twice@example.COM"), 409, "already_on_waitlist")
    assert User.objects.filter(email="twice@example.com").count() == 1


def test_join_refuses_an_email_that_already_has_an_account(api, user):
    assert_error(join(api, user.email.upper()), 409, "already_on_waitlist")
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "payload", [{}, {"email": ""}, {"email": "not-an-email"}, {"email": ["a@b.co"]}]
)
def test_join_rejects_a_missing_or_malformed_email(api, payload):
    body = assert_error(api.post("/api/waitlist/join/", payload, format="json"), 400, "invalid")
    assert "email" in body["fields"]
    assert User.objects.count() == 0
    assert mail.outbox == []


def test_join_with_a_code_records_the_referrer_without_counting_until_verified(api, user):
    response = join(api, "friend@example.com", user.referral_code)
    assert response.status_code == 201
    friend = User.objects.get(email="friend@example.com")
    assert friend.referred_by == user
    assert friend.referral_counted_at is None
    user.refresh_from_db()
    assert user.referral_count == 0


def test_join_with_a_code_counts_at_once_when_verification_is_not_required(
    api, settings, make_user
):
    settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL = False
    early = make_user(email="early@example.com")
    late = make_user(email="late@example.com")
    join(api, "friend@example.com", late.referral_code.lower())
    late.refresh_from_db()
    assert late.referral_count == 1
    body = api.get(f"/api/waitlist/{late.referral_code}/").json()
    assert body["wait_list_position"] == 1
    assert api.get(f"/api/waitlist/{early.referral_code}/").json()["wait_list_position"] == 2


def test_join_with_an_unknown_code_is_404_and_creates_nothing(api):
    assert_error(join(api, "friend@example.com", "ZZZZZZZZ"), 404, "unknown_referral_code")
    assert User.objects.count() == 0
    assert mail.outbox == []


def test_join_with_your_own_code_is_refused(api, user):
    assert_error(join(api, user.email, user.referral_code), 400, "self_referral")
    user.refresh_from_db()
    assert user.referral_count == 0


def test_join_sends_a_welcome_email_with_the_referral_link(api, settings):
    settings.PUBLIC_BASE_URL = "https://tombola.example/"
    body = join(api, "new@example.com").json()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new@example.com"]
    assert f"https://tombola.example/?ref={body['referral_code']}" in message.body


def test_no_welcome_email_for_a_rolled_back_signup(db):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        waitlist_join(email="new@example.com")
        raise Abort
    assert mail.outbox == []
    assert not User.objects.filter(email="new@example.com").exists()


def test_join_is_throttled(api, settings):
    # The waitlist views use core.throttles.ScopedThrottle, which reads the live setting.
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "waitlist_join": "2/min"},
    }
    assert join(api, "a@example.com").status_code == 201
    assert join(api, "b@example.com").status_code == 201
    body = assert_error(join(api, "c@example.com"), 429, "throttled")
    assert body["retry_after_seconds"] > 0
    assert not User.objects.filter(email="c@example.com").exists()


def test_me_answers_the_logged_in_members_block(user_api, user, make_user):
    make_user(email="later@example.com")
    response = user_api.get("/api/waitlist/me")  # no trailing slash: same endpoint
    assert response.status_code == 200
    assert response.json() == {
        "referral_code": user.referral_code,
        "referral_count": 0,
        "wait_list_position": 1,
        "total_registered": 2,
    }


def test_me_needs_a_login(api):
    assert_error(api.get("/api/waitlist/me/"), 401, "not_authenticated")


def test_staff_have_no_position_and_are_not_counted(staff_api, user):
    body = staff_api.get("/api/waitlist/me/").json()
    assert body["wait_list_position"] is None
    assert body["total_registered"] == 1


def test_public_standing_by_code_shows_no_email(api, user, other_user):
    response = api.get(f"/api/waitlist/{other_user.referral_code.lower()}/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == BLOCK_KEYS
    assert body["wait_list_position"] == 2
    assert other_user.email not in response.content.decode()


def test_public_standing_of_an_unknown_code_is_404(api):
    assert_error(api.get("/api/waitlist/ZZZZZZZZ/"), 404, "unknown_referral_code")


@pytest.mark.parametrize(
    "query", ["email=ALICE@example.com", "code={code}", "email=alice@example.com&code={code}"]
)
def test_staff_lookup_by_email_or_code(staff_api, user, query):
    response = staff_api.get("/api/waitlist/lookup/?" + query.format(code=user.referral_code))
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == user.email
    assert body["id"] == user.pk
    assert body["wait_list_position"] == 1
    assert body["referred_by"] is None


def test_staff_lookup_shows_the_referrer_code(staff_api, user, make_user):
    friend = make_user(email="friend@example.com", referred_by=user)
    body = staff_api.get(f"/api/waitlist/lookup/?code={friend.referral_code}").json()
    assert body["referred_by"] == user.referral_code


def test_staff_lookup_with_email_and_code_of_different_members_is_404(staff_api, user, other_user):
    query = f"email={user.email}&code={other_user.referral_code}"
    assert_error(staff_api.get("/api/waitlist/lookup/?" + query), 404, "not_found")


def test_staff_lookup_without_email_or_code_is_400(staff_api):
    body = assert_error(staff_api.get("/api/waitlist/lookup/"), 400, "invalid")
    assert "non_field_errors" in body["fields"]


def test_staff_lookup_with_a_malformed_email_is_400(staff_api):
    body = assert_error(staff_api.get("/api/waitlist/lookup/?email=nope"), 400, "invalid")
    assert "email" in body["fields"]


def test_staff_lookup_of_nobody_is_404(staff_api):
    assert_error(staff_api.get("/api/waitlist/lookup/?email=ghost@example.com"), 404, "not_found")


def test_lookup_is_forbidden_to_members(user_api):
    response = user_api.get("/api/waitlist/lookup/?email=x@example.com")
    assert_error(response, 403, "permission_denied")


def test_lookup_needs_a_login(api):
    assert_error(api.get("/api/waitlist/lookup/?email=x@example.com"), 401, "not_authenticated")


def _confirmation_token(message) -> str:
    match = re.search(r"confirm-email\?token=(\S+)", message.body)
    assert match, message.body
    return match.group(1)


def test_confirming_the_email_from_the_welcome_mail_counts_the_referral(api, user):
    join(api, "friend@example.com", user.referral_code)
    token = _confirmation_token(mail.outbox[0])
    response = api.post("/api/waitlist/confirm-email/", {"token": token}, format="json")
    assert response.status_code == 200
    assert set(response.json()) == BLOCK_KEYS
    friend = User.objects.get(email="friend@example.com")
    assert friend.email_verified_at is not None
    user.refresh_from_db()
    assert user.referral_count == 1
    # A second click changes nothing.
    assert api.post("/api/waitlist/confirm-email/", {"token": token}).status_code == 200
    user.refresh_from_db()
    assert user.referral_count == 1


@pytest.mark.parametrize("token", ["", "garbage", "eyJ1IjoxfQ:bad:signature"])
def test_confirm_email_rejects_a_bad_token(api, token):
    response = api.post("/api/waitlist/confirm-email/", {"token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid", "invalid_token"}


def test_confirm_email_rejects_a_token_for_a_changed_address(api, user):
    token = email_confirmation_token(user)
    User.objects.filter(pk=user.pk).update(email="elsewhere@example.com")
    assert_error(api.post("/api/waitlist/confirm-email/", {"token": token}), 400, "invalid_token")
    assert User.objects.get(pk=user.pk).email_verified_at is None


def test_confirm_email_rejects_an_expired_token(api, user, settings):
    settings.WAITLIST_EMAIL_TOKEN_MAX_AGE = -1
    token = email_confirmation_token(user)
    assert_error(api.post("/api/waitlist/confirm-email/", {"token": token}), 400, "token_expired")
    assert User.objects.get(pk=user.pk).email_verified_at is None
