"""JWT auth: obtain, refresh (rotating), verify, logout; both header prefixes."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from core.models import User
from tests.conftest import assert_error

TOKEN = "/api/auth/token/"
REFRESH = "/api/auth/token/refresh/"
VERIFY = "/api/auth/token/verify/"
LOGOUT = "/api/auth/logout/"
ME = "/api/accounts/me/"
PASSWORD = "correct-horse-battery"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]


def login(api, email="alice@example.com", password=PASSWORD):
    return api.post(TOKEN, {"email": email, "password": password}, format="json")


def test_login_returns_access_and_refresh(api, user):
    response = login(api)
    assert response.status_code == 200, response.content
    body = response.json()
    assert RefreshToken(body["refresh"])["user_id"] == str(user.pk)
    user.refresh_from_db()
    assert user.last_login is not None


def test_login_email_is_case_insensitive(api, user):
    assert login(api, email="  ALICE@Example.com").status_code == 200


@pytest.mark.parametrize("prefix", ["Bearer", "JWT"])
def test_access_token_works_with_either_header_prefix(api, user, prefix):
    access = login(api).json()["access"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{prefix} {access}")
    response = client.get(ME)
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"


def test_unknown_header_prefix_is_not_authenticated(api, user):
    access = login(api).json()["access"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {access}")
    assert_error(api.get(ME), 401, "not_authenticated")


def test_wrong_password_is_401_with_code(api, user):
    body = assert_error(login(api, password="wrong-password"), 401, "no_active_account")
    assert "access" not in body


def test_unknown_email_answers_like_wrong_password(api, user):
    assert_error(login(api, email="nobody@example.com"), 401, "no_active_account")


def test_waitlist_only_account_cannot_log_in(api):
    User.objects.create_user(email="early@example.com")  # unusable password
    assert_error(login(api, email="early@example.com", password=""), 400, "invalid")
    assert_error(login(api, email="early@example.com", password="anything"), 401,
                 "no_active_account")


def test_inactive_account_cannot_log_in(api, make_user):
    make_user(email="gone@example.com", is_active=False)
    assert_error(login(api, email="gone@example.com"), 401, "no_active_account")


def test_login_requires_both_fields(api):
    body = assert_error(api.post(TOKEN, {}, format="json"), 400, "invalid")
    assert set(body["fields"]) == {"email", "password"}


def test_refresh_rotates_and_blacklists_the_old_token(api, user):
    old = login(api).json()["refresh"]
    response = api.post(REFRESH, {"refresh": old}, format="json")
    assert response.status_code == 200
    new = response.json()
    assert new["refresh"] != old and new["access"]
    old_jti = RefreshToken(old, verify=False)["jti"]
    assert BlacklistedToken.objects.filter(token__jti=old_jti).exists()
    assert_error(api.post(REFRESH, {"refresh": old}, format="json"), 401, "token_not_valid")


def test_refresh_refuses_a_garbage_token(api):
    assert_error(api.post(REFRESH, {"refresh": "garbage"}, format="json"), 401, "token_not_valid")


def test_refresh_refuses_an_access_token(api, user):
    access = login(api).json()["access"]
    assert_error(api.post(REFRESH, {"refresh": access}, format="json"), 401, "token_not_valid")


def test_verify_accepts_a_valid_token(api, user):
    access = login(api).json()["access"]
    response = api.post(VERIFY, {"token": access}, format="json")
    assert response.status_code == 200


def test_verify_refuses_a_tampered_token(api, user):
    access = login(api).json()["access"]
    tampered = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    assert_error(api.post(VERIFY, {"token": tampered}, format="json"), 401, "token_not_valid")


def test_logout_blacklists_the_refresh_token(api, user):
    refresh = login(api).json()["refresh"]
    response = api.post(LOGOUT, {"refresh": refresh}, format="json")
    assert response.status_code == 204
    jti = RefreshToken(refresh, verify=False)["jti"]
    assert BlacklistedToken.objects.filter(token__jti=jti).exists()
    assert_error(api.post(REFRESH, {"refresh": refresh}, format="json"), 401, "token_not_valid")


def test_logout_twice_is_400(api, user):
    refresh = login(api).json()["refresh"]
    api.post(LOGOUT, {"refresh": refresh}, format="json")
    assert_error(api.post(LOGOUT, {"refresh": refresh}, format="json"), 400, "token_not_valid")


@pytest.mark.parametrize("refresh", ["garbage", "a.b.c"])
def test_logout_refuses_a_bad_token(api, refresh):
    assert_error(api.post(LOGOUT, {"refresh": refresh}, format="json"), 400, "token_not_valid")
    assert not BlacklistedToken.objects.exists()


def test_logout_refuses_an_access_token(api, user):
    access = login(api).json()["access"]
    assert_error(api.post(LOGOUT, {"refresh": access}, format="json"), 400, "token_not_valid")


def test_logout_does_not_need_a_valid_access_token(api, user):
    refresh = login(api).json()["refresh"]
    api.credentials(HTTP_AUTHORIZATION="Bearer expired-or-garbage")
    assert api.post(LOGOUT, {"refresh": refresh}, format="json").status_code == 204


@pytest.mark.parametrize(
    ("path", "field"), [(REFRESH, "refresh"), (VERIFY, "token"), (LOGOUT, "refresh")]
)
@pytest.mark.parametrize("body", [{}, {"token": "", "refresh": ""}])
def test_token_endpoints_require_their_field(api, path, field, body):
    response = assert_error(api.post(path, body, format="json"), 400, "invalid")
    assert field in response["fields"]


def test_garbage_access_token_is_401_in_error_shape(api):
    api.credentials(HTTP_AUTHORIZATION="JWT garbage")
    assert_error(api.get(ME), 401, "token_not_valid")
