"""Phone verification: send a code by SMS, confirm it; expiry, attempts, cooldown, privacy."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from core.models import PhoneVerification, User
from tests.conftest import assert_error, client_for
from tests.sms_server import sms_provider

SEND = "/api/accounts/phone/verification/"
CONFIRM = "/api/accounts/phone/verification/confirm/"
PHONE = "+4915123456789"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]


def send(client, phone=PHONE):
    return client.post(SEND, {"phone": phone}, format="json")


def confirm(client, code, phone=PHONE):
    return client.post(CONFIRM, {"phone": phone, "code": code}, format="json")


def code_in(message) -> str:
    return re.search(r"\b(\d{6})\b", message.text).group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


@pytest.fixture
def sent_code(user_api, sms_outbox):
    """The code texted to PHONE for `user`."""
    assert send(user_api).status_code == 202
    return code_in(sms_outbox[-1])


# --- sending -------------------------------------------------------------------------


def test_send_texts_a_six_digit_code_and_stores_only_its_hash(user_api, user, sms_outbox):
    response = send(user_api, phone="+49 (151) 234-56789")
    assert response.status_code == 202, response.content
    assert response.json() == {
        "phone": PHONE, "expires_in_seconds": 300, "resend_after_seconds": 60,
    }
    [message] = sms_outbox
    assert message.to == PHONE
    code = code_in(message)
    verification = PhoneVerification.objects.get()
    assert verification.user == user and verification.phone == PHONE
    assert code not in verification.code_hash and len(verification.code_hash) == 64
    assert (verification.expires_at - verification.created_at).total_seconds() == 300


def test_send_reads_national_number_in_default_region(user_api, settings, sms_outbox):
    settings.PHONE_DEFAULT_REGION = "DE"
    assert send(user_api, phone="0151 23456789").json()["phone"] == PHONE
    assert sms_outbox[0].to == PHONE


def test_send_needs_login(api, sms_outbox):
    assert_error(send(api), 401, "not_authenticated")
    assert sms_outbox == [] and not PhoneVerification.objects.exists()


@pytest.mark.parametrize("phone", ["", "12345", "+1 555", "0151 23456789", "x" * 40, None])
def test_send_refuses_bad_phone(user_api, phone, sms_outbox):
    body = assert_error(send(user_api, phone=phone), 400, "invalid")
    assert "phone" in body["fields"]
    assert sms_outbox == []


def test_send_again_within_cooldown_is_429_with_retry_after(user_api, sms_outbox):
    send(user_api)
    body = assert_error(send(user_api), 429, "code_resend_too_soon")
    assert 1 <= body["retry_after_seconds"] <= 60
    assert len(sms_outbox) == 1 and PhoneVerification.objects.count() == 1


def test_cooldown_holds_whoever_asks_for_the_phone(user_api, other_api, sms_outbox):
    send(user_api)
    assert_error(send(other_api), 429, "code_resend_too_soon")
    assert len(sms_outbox) == 1


def test_resend_after_cooldown_replaces_the_old_code(user_api, user, settings, sms_outbox):
    settings.PHONE_CODE_RESEND_SECONDS = 0
    send(user_api)
    send(user_api)
    first, second = code_in(sms_outbox[0]), code_in(sms_outbox[1])
    if first != second:
        assert_error(confirm(user_api, first), 400, "invalid_code")
    assert confirm(user_api, second).status_code == 200


def test_send_answers_the_same_whether_or_not_the_phone_is_registered(
    user_api, other_api, make_user, settings, sms_outbox
):
    settings.PHONE_CODE_RESEND_SECONDS = 0
    free = send(user_api, phone="+4915199999999")
    make_user(phone=PHONE, phone_verified_at=timezone.now())
    taken = send(other_api, phone=PHONE)
    assert (free.status_code, taken.status_code) == (202, 202)
    assert {**free.json(), "phone": PHONE} == taken.json()
    assert free.headers.keys() == taken.headers.keys()


def test_provider_failure_is_503_and_stores_no_code(user_api, settings):
    settings.SMS_BACKEND = "http"
    with sms_provider(status=500) as provider:
        settings.SMS_HTTP_URL = provider.url
        response = send(user_api)
    assert_error(response, 503, "sms_unavailable")
    assert not PhoneVerification.objects.exists()
    assert len(provider.received) == 1


def test_send_through_the_http_provider_delivers_the_code(user_api, user, settings):
    settings.SMS_BACKEND = "http"
    with sms_provider() as provider:
        settings.SMS_HTTP_URL = provider.url
        assert send(user_api).status_code == 202
    [request] = provider.received
    code = re.search(r"\b(\d{6})\b", request["body"]["text"]).group(1)
    assert confirm(user_api, code).status_code == 200
    user.refresh_from_db()
    assert user.phone == PHONE and user.phone_verified_at is not None


# --- confirming ----------------------------------------------------------------------


def test_confirm_verifies_the_phone_for_the_user(user_api, user, sent_code):
    response = confirm(user_api, sent_code)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["phone"] == PHONE and body["phone_verified_at"]
    user.refresh_from_db()
    assert user.phone == PHONE and user.phone_verified_at is not None
    assert PhoneVerification.objects.get().verified_at is not None


def test_confirm_with_wrong_code_counts_the_attempt(user_api, user, sent_code):
    assert_error(confirm(user_api, wrong(sent_code)), 400, "invalid_code")
    assert PhoneVerification.objects.get().attempts == 1
    user.refresh_from_db()
    assert user.phone_verified_at is None


def test_confirm_after_max_attempts_refuses_even_the_right_code(user_api, user, sent_code):
    for _ in range(5):
        assert_error(confirm(user_api, wrong(sent_code)), 400, "invalid_code")
    assert_error(confirm(user_api, sent_code), 400, "too_many_attempts")
    user.refresh_from_db()
    assert user.phone_verified_at is None
    assert PhoneVerification.objects.get().attempts == 5


def test_max_attempts_is_a_setting(user_api, settings, sent_code):
    settings.PHONE_CODE_MAX_ATTEMPTS = 1
    confirm(user_api, wrong(sent_code))
    assert_error(confirm(user_api, sent_code), 400, "too_many_attempts")


def test_confirm_after_expiry_is_refused(user_api, user, settings, sms_outbox):
    settings.PHONE_CODE_TTL_SECONDS = 0
    send(user_api)
    assert_error(confirm(user_api, code_in(sms_outbox[0])), 400, "code_expired")
    user.refresh_from_db()
    assert user.phone_verified_at is None


def test_code_cannot_be_used_twice(user_api, sent_code):
    assert confirm(user_api, sent_code).status_code == 200
    assert_error(confirm(user_api, sent_code), 400, "invalid_code")


def test_confirm_without_a_sent_code_is_invalid(user_api):
    assert_error(confirm(user_api, "123456"), 400, "invalid_code")


def test_code_sent_for_another_user_does_not_verify_me(other_api, other_user, sent_code):
    assert_error(confirm(other_api, sent_code), 400, "invalid_code")
    other_user.refresh_from_db()
    assert other_user.phone is None


def test_code_is_bound_to_its_phone(user_api, sent_code):
    assert_error(confirm(user_api, sent_code, phone="+4915199999999"), 400, "invalid_code")


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", None, ["123456"]])
def test_confirm_refuses_malformed_code(user_api, code):
    body = assert_error(confirm(user_api, code), 400, "invalid")
    assert "code" in body["fields"]


def test_confirm_refuses_bad_phone(user_api):
    body = assert_error(confirm(user_api, "123456", phone="nope"), 400, "invalid")
    assert "phone" in body["fields"]


def test_confirm_needs_login(api):
    assert_error(confirm(api, "123456"), 401, "not_authenticated")


def test_confirm_takes_the_phone_from_an_unverified_holder(user_api, user, make_user, sms_outbox):
    squatter = make_user(email="squat@example.com", phone=PHONE)
    send(user_api)
    assert confirm(user_api, code_in(sms_outbox[0])).status_code == 200
    squatter.refresh_from_db()
    user.refresh_from_db()
    assert squatter.phone is None and user.phone == PHONE


def test_phone_verified_by_another_account_is_not_stolen(user_api, user, make_user, sms_outbox):
    owner = make_user(email="owner@example.com", phone=PHONE, phone_verified_at=timezone.now())
    assert send(user_api).status_code == 202
    [message] = sms_outbox
    assert message.to == PHONE
    assert not re.search(r"\d{6}", message.text)  # the owner is told, nobody gets a code
    for guess in ("000000", "123456", "999999"):
        assert_error(confirm(user_api, guess), 400, "invalid_code")
    owner.refresh_from_db()
    user.refresh_from_db()
    assert owner.phone == PHONE and owner.phone_verified_at is not None
    assert user.phone is None


def test_phone_verified_elsewhere_after_the_code_was_sent_is_not_stolen(
    user_api, user, other_user, sent_code
):
    User.objects.filter(pk=other_user.pk).update(phone=PHONE, phone_verified_at=timezone.now())
    assert_error(confirm(user_api, sent_code), 400, "invalid_code")
    other_user.refresh_from_db()
    assert other_user.phone == PHONE
    user.refresh_from_db()
    assert user.phone is None


def test_confirm_counts_the_referral(make_user, sms_outbox):
    referrer = make_user(email="ref@example.com")
    referee = make_user(email="referee@example.com", referred_by=referrer)
    client = client_for(referee)
    send(client)
    referrer.refresh_from_db()
    assert referrer.referral_count == 0
    assert confirm(client, code_in(sms_outbox[0])).status_code == 200
    referrer.refresh_from_db()
    referee.refresh_from_db()
    assert referrer.referral_count == 1 and referee.referral_counted_at is not None


def test_failed_confirm_does_not_count_the_referral(make_user, sms_outbox):
    referrer = make_user(email="ref@example.com")
    referee = make_user(email="referee@example.com", referred_by=referrer)
    client = client_for(referee)
    send(client)
    confirm(client, wrong(code_in(sms_outbox[0])))
    referrer.refresh_from_db()
    assert referrer.referral_count == 0


def test_purge_deletes_only_old_codes(user):
    now = timezone.now()
    for age in (timedelta(days=8), timedelta(minutes=1)):
        PhoneVerification.objects.create(
            phone=PHONE, user=user, code_hash="x", created_at=now - age, expires_at=now - age
        )
    out = StringIO()
    call_command("purge_phone_verifications", "--days", "7", stdout=out)
    assert "Deleted 1 " in out.getvalue()
    assert PhoneVerification.objects.get().created_at > now - timedelta(days=1)


def test_purge_refuses_to_delete_live_codes(user):
    with pytest.raises(CommandError, match="at least"):
        call_command("purge_phone_verifications", "--days", "0")
