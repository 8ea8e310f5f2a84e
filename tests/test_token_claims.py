"""Bearer tokens authenticated from their claims: no user query, revocation honoured.

core/authentication.py: the access token carries the user's id, is_staff,
is_superuser and when its session began; a deny entry in the cache ("sessions
begun before T are over") refuses it after deactivation, a new password, new
staff rights or deletion.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.authentication import SessionRefreshToken
from core.models import User
from core.services.accounts import user_tokens_revoke
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

WALLET = "/api/wallet/"  # reads the wallet by user id: needs nothing else of the user
ME = "/api/accounts/me/"
CODE_SEND = "/api/accounts/phone/verification/"  # throttled (code_send)
# One throttle (code_confirm); code sends have two (per user, per address).
CODE_CONFIRM = "/api/accounts/phone/verification/confirm/"
PASSWORD = "correct-horse-battery"


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def logged_in(user) -> APIClient:
    """A client with the access token /api/auth/token/ hands out."""
    response = APIClient().post("/api/auth/token/", {"email": user.email, "password": PASSWORD},
                                format="json")
    assert response.status_code == 200, response.content
    return bearer(response.json()["access"])


def user_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if '"core_user"' in q["sql"]]


def test_login_token_carries_the_claims(api, user):
    access = logged_in(user)._credentials["HTTP_AUTHORIZATION"].split()[1]
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken(access)
    assert (token["is_staff"], token["is_superuser"]) == (False, False)
    assert isinstance(token["auth_time"], float)


def test_a_cheap_endpoint_authenticates_without_a_user_query(user, django_assert_num_queries):
    client = logged_in(user)
    with CaptureQueriesContext(connection) as queries, django_assert_num_queries(1):
        response = client.get(WALLET)  # the one query: the wallet
    assert response.status_code == 200, response.content
    assert user_queries(queries.captured_queries) == []


def test_me_loads_the_user_row_once_when_it_needs_it(user, django_assert_num_queries):
    client = logged_in(user)
    with django_assert_num_queries(1):
        response = client.get(ME)
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["email"]) == (user.pk, "alice@example.com")


def test_the_user_from_claims_works_in_writes(user, sms_outbox):
    """A claims user is a real User: services save rows that point to it."""
    response = logged_in(user).post(CODE_SEND, {"phone": "+4915123456789"}, format="json")
    assert response.status_code == 202, response.content
    assert user.phone_verifications.count() == 1


def test_a_revoked_users_token_is_refused(user):
    client = logged_in(user)
    assert client.get(WALLET).status_code == 200
    user_tokens_revoke(user_id=user.pk)
    assert_error(client.get(WALLET), 401, "token_not_valid")
    # On a throttled view too (there the deny entry is read with the throttle).
    assert_error(client.post(CODE_SEND, {"phone": "+4915123456789"}, format="json"),
                 401, "token_not_valid")
    # And a new login starts a session that works.
    assert logged_in(user).get(WALLET).status_code == 200


def test_revoking_blacklists_the_refresh_tokens(api, user):
    refresh = str(SessionRefreshToken.for_user(user))
    user_tokens_revoke(user_id=user.pk)
    assert api.post("/api/auth/token/refresh/", {"refresh": refresh},
                    format="json").status_code == 401


def test_a_deactivated_users_token_is_refused_at_once(user):
    client = logged_in(user)
    user.is_active = False
    user.save()
    assert client.get(WALLET).status_code == 401
    assert client.post(CODE_SEND, {"phone": "+4915123456789"},
                       format="json").status_code == 401


def test_a_deleted_users_token_is_refused(user):
    client = logged_in(user)
    User.objects.filter(pk=user.pk).get().delete()
    assert client.get(WALLET).status_code == 401


def test_a_new_password_ends_every_session(user):
    client = logged_in(user)
    user.set_password("another-horse-battery")
    user.save()
    assert client.get(WALLET).status_code == 401


def test_losing_staff_rights_ends_the_sessions_that_claim_them(staff):
    client = logged_in(staff)
    assert client.get(WALLET).status_code == 200
    demoted = User.objects.get(pk=staff.pk)  # as the admin's form: a freshly read row
    demoted.is_staff = False
    demoted.save()
    assert client.get(WALLET).status_code == 401


def test_profile_and_login_saves_do_not_end_sessions(user):
    client = logged_in(user)
    assert client.patch(ME, {"first_name": "Alicia"}, format="json").status_code == 200
    logged_in(user)  # saves last_login
    assert client.get(WALLET).status_code == 200


@pytest.mark.redis
def test_token_check_and_throttle_share_one_redis_round_trip(
        user, settings, rates, redis_round_trips):
    """On a throttled view, the deny entry is read in the throttle's one round trip."""

    CountingConnection = redis_round_trips
    rates(code_send="100/min", code_confirm="100/min")
    client = logged_in(user)
    bad_phone = {"phone": "not a phone"}  # answered 400 right after the throttle
    assert client.post(CODE_CONFIRM, bad_phone, format="json").status_code == 400  # warm
    before = CountingConnection.sent
    assert client.post(CODE_CONFIRM, bad_phone, format="json").status_code == 400
    assert CountingConnection.sent - before == 1
    # Two throttles (per user, per address): one round trip each, the deny entry
    # riding on the first.
    before = CountingConnection.sent
    assert client.post(CODE_SEND, bad_phone, format="json").status_code == 400
    assert CountingConnection.sent - before == 2
    # A view without a throttle: the deny entry alone, one GET.
    before = CountingConnection.sent
    assert client.get(WALLET).status_code == 200
    assert CountingConnection.sent - before == 1
    # And revocation is seen through that same round trip.
    user_tokens_revoke(user_id=user.pk)
    assert client.post(CODE_SEND, bad_phone, format="json").status_code == 401


def test_a_refresh_carrying_rights_the_account_lost_is_refused(staff):
    # A login that raced a demotion minted its tokens from the row it read before:
    # is_staff in the claims, the session begun after the deny entry. The refresh
    # compares the claims with the row and sends the client back to log in.
    from core.authentication import SessionRefreshToken
    from core.models import User

    stale = User.objects.get(pk=staff.pk)
    staff.is_staff = False
    staff.save()
    refresh = SessionRefreshToken.for_user(stale)
    answer = APIClient().post("/api/auth/token/refresh/", {"refresh": str(refresh)},
                              format="json")
    assert answer.status_code == 401, answer.content


def test_a_login_whose_password_check_straddles_a_revocation_is_revoked(user, monkeypatch):
    # The session begins when the login starts: a revocation that lands while the
    # password is being checked (argon2 takes a while) covers the tokens it mints.
    import rest_framework_simplejwt.serializers as jwt_serializers

    from core.services.accounts import user_tokens_revoke

    real_authenticate = jwt_serializers.authenticate

    def authenticate_while_revoked(**credentials):
        found = real_authenticate(**credentials)
        user_tokens_revoke(user_id=user.pk)  # lands during the check
        return found

    monkeypatch.setattr(jwt_serializers, "authenticate", authenticate_while_revoked)
    answer = APIClient().post("/api/auth/token/", {"email": user.email,
                                                   "password": "correct-horse-battery"},
                              format="json")
    assert answer.status_code == 200, answer.content
    assert bearer(answer.json()["access"]).get("/api/wallet/").status_code == 401


def test_a_revoked_access_token_opens_no_websocket(user):
    from consumers.middleware import _user_from_token
    from consumers.protocol import ProtocolError
    from core.authentication import SessionRefreshToken
    from core.services.accounts import user_tokens_revoke

    access = str(SessionRefreshToken.for_user(user).access_token)
    assert _user_from_token(access) == user
    user_tokens_revoke(user_id=user.pk)
    with pytest.raises(ProtocolError):
        _user_from_token(access)
