"""Registration and the user's own profile (/api/accounts/me/)."""

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.db import connection
from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from core.errors import EmailTaken
from core.models import User
from core.services.accounts import user_register
from core.services.waitlist import email_confirmation_token
from tests.conftest import assert_error, client_for

REGISTER = "/api/accounts/register/"
ME = "/api/accounts/me/"
PASSWORD = "correct-horse-battery"

pytestmark = pytest.mark.django_db


def register(api, **fields):
    body = {"email": "new@example.com", "password": PASSWORD, **fields}
    return api.post(REGISTER, body, format="json")


def make_waitlist_member(email: str) -> User:
    """What the waitlist join endpoint creates: an email, no usable password."""
    return User.objects.create_user(email=email)


# --- registration: happy paths ---------------------------------------------------


def test_register_creates_account_and_logs_it_in(api):
    response = register(
        api, first_name="Ann", last_name="Lee", patronymic="Ivanovna",
        birthday="1990-04-05", address="1 Main St", phone="+49 151 23456789",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    user = User.objects.get(email="new@example.com")
    assert body["user"]["id"] == user.pk
    assert body["user"]["phone"] == "+4915123456789"
    assert body["user"]["birthday"] == "1990-04-05"
    assert body["user"]["phone_verified_at"] is None
    assert "password" not in body["user"]
    assert AccessToken(body["access"])["user_id"] == str(user.pk)
    assert body["referral"]["referral_code"] == user.referral_code
    assert body["referral"]["wait_list_position"] >= 1
    assert user.check_password(PASSWORD)
    assert (user.first_name, user.patronymic, user.address) == ("Ann", "Ivanovna", "1 Main St")


def test_register_access_token_works_for_me(api):
    access = register(api).json()["access"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get(ME).json()["email"] == "new@example.com"


def test_register_with_only_email_and_password(api):
    response = register(api)
    assert response.status_code == 201
    user = User.objects.get()
    assert user.phone is None and user.birthday is None and user.first_name == ""


def test_register_normalises_email(api):
    response = register(api, email="  New.Person@Example.COM ")
    assert response.status_code == 201
    assert response.json()["user"]["email"] == "new.person@example.com"
    assert User.objects.filter(email="new.person@example.com").count() == 1


def test_register_accepts_dotted_birthday(api):
    response = register(api, birthday="05.04.1990")
    assert response.status_code == 201
    assert User.objects.get().birthday == datetime.date(1990, 4, 5)


def test_register_reads_national_phone_in_default_region(api, settings):
    settings.PHONE_DEFAULT_REGION = "DE"
    response = register(api, phone="0151 23456789")
    assert response.status_code == 201
    assert User.objects.get().phone == "+4915123456789"


def test_register_with_referral_code_attaches_referrer(api, make_user):
    referrer = make_user(email="ref@example.com")
    response = register(api, referral_code=referrer.referral_code.lower())
    assert response.status_code == 201
    assert User.objects.get(email="new@example.com").referred_by == referrer


def test_register_completes_waitlist_only_account(api):
    member = make_waitlist_member("early@example.com")
    joined, code = member.date_joined, member.referral_code
    response = register(api, email="Early@Example.com", first_name="Eve",
                        email_token=email_confirmation_token(member))
    assert response.status_code == 201, response.content
    assert response.json()["user"]["id"] == member.pk
    assert response.json()["referral"]["referral_code"] == code
    member.refresh_from_db()
    assert member.has_usable_password() and member.check_password(PASSWORD)
    assert (member.first_name, member.referral_code, member.date_joined) == ("Eve", code, joined)
    assert member.email_verified_at is not None  # the token proved the address
    assert User.objects.count() == 1


def test_knowing_a_waitlist_email_is_not_enough_to_take_the_account(api):
    member = make_waitlist_member("early@example.com")
    assert_error(register(api, email="early@example.com"), 409, "email_confirmation_required")
    other = make_waitlist_member("other@example.com")
    stolen = register(api, email="early@example.com",
                      email_token=email_confirmation_token(other))
    assert_error(stolen, 400, "invalid_token")
    member.refresh_from_db()
    assert not member.has_usable_password()


def test_a_staff_account_without_password_cannot_be_completed_by_registering(api):
    staff = User.objects.create_user(email="ops@example.com", is_staff=True)
    response = register(api, email="ops@example.com", email_token=email_confirmation_token(staff))
    assert_error(response, 400, "email_taken")
    staff.refresh_from_db()
    assert not staff.has_usable_password()


def test_completing_waitlist_account_with_its_own_code_is_self_referral(api):
    member = make_waitlist_member("early@example.com")
    response = register(api, email="early@example.com", referral_code=member.referral_code,
                        email_token=email_confirmation_token(member))
    assert_error(response, 400, "self_referral")
    member.refresh_from_db()
    assert not member.has_usable_password()
    assert member.referred_by is None


def test_user_register_service_refuses_taken_email():
    user_register(email="a@example.com", password=PASSWORD)
    with pytest.raises(EmailTaken):
        user_register(email="A@example.com ", password=PASSWORD)


# --- registration: bad input -----------------------------------------------------


def test_register_refuses_email_with_usable_password(api, make_user):
    make_user(email="taken@example.com")
    response = register(api, email="TAKEN@example.com")
    assert_error(response, 400, "email_taken")
    assert User.objects.filter(email="taken@example.com").count() == 1


def test_register_does_not_reopen_a_deactivated_waitlist_account(api):
    member = make_waitlist_member("banned@example.com")
    User.objects.filter(pk=member.pk).update(is_active=False)
    assert_error(register(api, email="banned@example.com"), 400, "email_taken")
    member.refresh_from_db()
    assert not member.has_usable_password()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", ""),
        ("email", None),
        ("password", ""),
        ("birthday", "1990-13-01"),
        ("birthday", "31/12/1990"),
        ("birthday", "2999-01-01"),
        ("birthday", "01.01.1850"),
        ("phone", "12345"),
        ("phone", "+1 555"),
        ("phone", "x" * 100),
        ("phone", ["+4915123456789"]),
        ("first_name", "x" * 151),
        ("address", "x" * 501),
        ("referral_code", "x" * 17),
    ],
)
def test_register_refuses_bad_field(api, field, value):
    response = register(api, **{field: value})
    body = assert_error(response, 400, "invalid")
    assert field in body["fields"]
    assert not User.objects.exists()


def test_register_requires_email_and_password(api):
    body = assert_error(api.post(REGISTER, {}, format="json"), 400, "invalid")
    assert set(body["fields"]) == {"email", "password"}


@pytest.mark.parametrize(
    "password", ["short", "password123", "12345678901", "new@example.com"]
)
def test_register_refuses_password_failing_validators(api, password):
    body = assert_error(register(api, password=password), 400, "invalid")
    assert body["fields"]["password"]
    assert not User.objects.exists()


def test_register_refuses_national_phone_without_default_region(api, settings):
    settings.PHONE_DEFAULT_REGION = ""
    body = assert_error(register(api, phone="0151 23456789"), 400, "invalid")
    assert "phone" in body["fields"]


def test_register_accepts_phone_of_another_account_unverified(api, make_user):
    """The answer must not reveal that the number is another account's
    (tests/test_phone_ownership.py); verification decides who owns it."""
    make_user(phone="+4915123456789", phone_verified_at=timezone.now())
    response = register(api, phone="+49 151 2345 6789")
    assert response.status_code == 201, response.content
    assert response.json()["user"]["phone_verified_at"] is None


def test_register_with_unknown_referral_code_is_404_and_writes_nothing(api):
    assert_error(register(api, referral_code="ZZZZZZZZ"), 404, "unknown_referral_code")
    assert not User.objects.exists()


def test_register_refuses_malformed_json(api):
    response = api.post(REGISTER, "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_register_refuses_a_list_body(api):
    assert_error(api.post(REGISTER, [1, 2], format="json"), 400, "invalid")


def test_register_ignores_a_stale_token(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert register(api).status_code == 201


def test_register_answers_without_trailing_slash(api):
    assert api.post(REGISTER.rstrip("/"), {"email": "x@example.com", "password": PASSWORD},
                    format="json").status_code == 201


def test_register_get_is_405_in_error_shape(api):
    assert_error(api.get(REGISTER), 405, "method_not_allowed")


# --- /me ------------------------------------------------------------------------------


def test_me_requires_login(api):
    assert_error(api.get(ME), 401, "not_authenticated")


def test_me_shows_own_account(user_api, user):
    body = user_api.get(ME).json()
    assert body["id"] == user.pk and body["email"] == "alice@example.com"
    assert body["referral_code"] == user.referral_code


def test_me_patch_changes_profile(user_api, user):
    response = user_api.patch(
        ME, {"last_name": "Smith", "birthday": "31.12.1999", "address": "Elm St"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["birthday"] == "1999-12-31"
    user.refresh_from_db()
    assert (user.last_name, user.birthday, user.first_name) == (
        "Smith", datetime.date(1999, 12, 31), "Alice",
    )


def test_me_patch_new_phone_clears_verification(make_user):
    me = make_user(email="v@example.com", phone="+4915123456789",
                   phone_verified_at=timezone.now())
    response = client_for(me).patch(ME, {"phone": "+49 151 99999999"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["phone_verified_at"] is None
    me.refresh_from_db()
    assert me.phone == "+4915199999999" and me.phone_verified_at is None


def test_me_patch_same_phone_keeps_verification(make_user):
    me = make_user(phone="+4915123456789", phone_verified_at=timezone.now())
    response = client_for(me).patch(ME, {"phone": "+49 151 23456789"}, format="json")
    assert response.status_code == 200
    me.refresh_from_db()
    assert me.phone_verified_at is not None


def test_me_patch_empty_phone_removes_it(make_user):
    me = make_user(phone="+4915123456789", phone_verified_at=timezone.now())
    assert client_for(me).patch(ME, {"phone": ""}, format="json").status_code == 200
    me.refresh_from_db()
    assert me.phone is None and me.phone_verified_at is None


def test_me_patch_accepts_phone_of_another_account_unverified(user_api, user, make_user):
    make_user(phone="+4915123456789", phone_verified_at=timezone.now())
    response = user_api.patch(ME, {"phone": "+4915123456789"}, format="json")
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.phone, user.phone_verified_at) == ("+4915123456789", None)


def test_me_patch_email_mails_a_link_and_keeps_the_old_address_until_it_is_opened(
        user_api, user):
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = user_api.patch(
            ME, {"email": " Alice.New@Example.com", "current_password": PASSWORD}, format="json"
        )
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.email == "alice@example.com"  # tests/test_account_flows.py follows the link
    assert sorted(m.to[0] for m in mail.outbox) == ["alice.new@example.com", "alice@example.com"]


@pytest.mark.parametrize("current_password", [None, "", "wrong-password"])
def test_me_patch_email_needs_the_current_password(user_api, user, current_password):
    body = {"email": "other@example.com"}
    if current_password is not None:
        body["current_password"] = current_password
    response = user_api.patch(ME, body, format="json")
    if current_password == "":
        assert_error(response, 400, "invalid")
    else:
        assert_error(response, 400, "wrong_current_password")
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_me_patch_refuses_taken_email(user_api, user, other_user):
    response = user_api.patch(
        ME, {"email": "BOB@example.com", "current_password": PASSWORD}, format="json"
    )
    assert_error(response, 400, "email_taken")
    user.refresh_from_db()
    assert user.email == "alice@example.com"


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "nope"), ("birthday", "yesterday"), ("phone", "123"), ("last_name", "x" * 151)],
)
def test_me_patch_refuses_bad_field(user_api, user, field, value):
    body = assert_error(user_api.patch(ME, {field: value}, format="json"), 400, "invalid")
    assert field in body["fields"]


def test_me_patch_ignores_read_only_fields(user_api, user):
    response = user_api.patch(ME, {"referral_code": "HACKED22", "is_staff": True}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.referral_code != "HACKED22" and not user.is_staff


def test_me_put_is_not_allowed(user_api):
    assert_error(user_api.put(ME, {}, format="json"), 405, "method_not_allowed")


def test_register_stores_an_argon2_hash(api, settings):
    from core import settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    assert register(api).status_code == 201
    assert User.objects.get().password.startswith("argon2")


def test_register_counts_referral_at_once_when_verification_is_not_required(
    api, make_user, settings
):
    settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL = False
    referrer = make_user(email="ref@example.com")
    assert register(api, referral_code=referrer.referral_code).status_code == 201
    referrer.refresh_from_db()
    assert referrer.referral_count == 1


def test_register_waits_for_verification_before_counting_referral(api, make_user):
    referrer = make_user(email="ref@example.com")
    register(api, referral_code=referrer.referral_code)
    referrer.refresh_from_db()
    assert referrer.referral_count == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_email_make_one_account():
    clients = 4
    barrier = threading.Barrier(clients)

    def attempt(n: int) -> int:
        try:
            barrier.wait(timeout=10)
            body = {"email": "race@example.com", "password": PASSWORD, "first_name": f"n{n}"}
            return APIClient().post(REGISTER, body, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(clients) as pool:
        statuses = sorted(pool.map(attempt, range(clients)))
    assert statuses == [201] + [400] * (clients - 1)
    assert User.objects.filter(email="race@example.com").count() == 1


def test_schema_names_each_views_serializers_apart(api):
    components = api.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert {"RegisterInputRequest", "RegisterOutput", "PhoneVerificationSendInputRequest",
            "PhoneVerificationConfirmInputRequest", "LogoutInputRequest"} <= set(components)


JUNK = [None, True, 12345, 1.5, [], ["x"], {"a": 1}, "", " ", "a\x00b", "x" * 5000, "😀"]
ENDPOINT_FIELDS = [
    ("post", REGISTER, ["email", "password", "first_name", "birthday", "phone", "address",
                        "referral_code"]),
    ("patch", ME, ["email", "current_password", "birthday", "phone", "patronymic"]),
    ("post", "/api/accounts/phone/verification/", ["phone"]),
    ("post", "/api/accounts/phone/verification/confirm/", ["phone", "code"]),
    ("post", "/api/auth/token/", ["email", "password"]),
    ("post", "/api/auth/token/refresh/", ["refresh"]),
    ("post", "/api/auth/token/verify/", ["token"]),
    ("post", "/api/auth/logout/", ["refresh"]),
]


@pytest.mark.parametrize(("method", "path", "fields"), ENDPOINT_FIELDS)
def test_junk_in_any_field_never_answers_500(user_api, user, method, path, fields,
                                                   sms_outbox):
    valid = {"email": "junk@example.com", "password": PASSWORD, "phone": "+4915123456789",
             "code": "123456", "current_password": PASSWORD}
    for field in fields:
        for value in JUNK:
            body = {**{name: valid.get(name, "x") for name in fields}, field: value}
            response = getattr(user_api, method)(path, body, format="json")
            assert response.status_code < 500, (field, value, response.content)
            if response.status_code >= 400:  # some junk is valid here (an empty name, ...)
                assert {"code", "detail"} <= set(response.json()), (field, value)


# --- changing the password through PATCH /me ---------------------------------------------


@pytest.mark.parametrize("current", [None, "wrong-password"])
def test_me_patch_password_needs_the_current_password(user_api, user, current):
    body = {"password": "a-brand-new-passphrase"}
    if current is not None:
        body["current_password"] = current
    assert_error(user_api.patch(ME, body, format="json"), 400, "wrong_current_password")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_me_patch_changes_the_password_and_ends_every_session(user_api, user, api):
    response = user_api.patch(ME, {"password": "a-brand-new-passphrase",
                                   "current_password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.check_password("a-brand-new-passphrase")
    assert user_api.get(ME).status_code == 401  # this session ended too: log in again
    login = api.post("/api/auth/token/", {"email": user.email,
                                          "password": "a-brand-new-passphrase"}, format="json")
    assert login.status_code == 200


def test_me_patch_refuses_a_weak_new_password(user_api, user):
    body = assert_error(user_api.patch(ME, {"password": "12345678",
                                            "current_password": PASSWORD}, format="json"),
                        400, "invalid")
    assert "password" in body["fields"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_me_patch_guesses_at_the_current_password_are_throttled(user_api, user, rates):
    rates(credentials_change="2/hour")
    guesses = [user_api.patch(ME, {"password": "a-brand-new-passphrase",
                                   "current_password": f"guess-{n}"}, format="json")
               for n in range(3)]
    assert [g.status_code for g in guesses] == [400, 400, 429]
    assert_error(guesses[-1], 429, "throttled")
    # Plain profile edits are not what the limit is for.
    assert user_api.patch(ME, {"first_name": "Al"}, format="json").status_code == 200
