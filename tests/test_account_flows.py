"""Account flows end to end: links that land, password reset and change, email
confirmation and change, logging out everywhere (issue 15, "Accounts").

Mail goes through Django's locmem backend (the test settings' stand-in for the
console backend); each test reads the link out of the sent mail and follows it,
as a person would: the page first, then the form on it.
"""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client, TestCase

from core import links
from core.authentication import AUTH_TIME_CLAIM, SessionRefreshToken
from core.models import AuditEntry, User
from tests.conftest import assert_error, client_for
from tests.factories import make_draw, make_event

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "another-horse-staple-7"
RESET = "/api/accounts/password/reset/"
RESET_CONFIRM = "/api/accounts/password/reset/confirm/"


@pytest.fixture(autouse=True)
def no_public_base_url(settings):
    """Links follow the request's address unless a test sets PUBLIC_BASE_URL."""
    settings.PUBLIC_BASE_URL = ""


def after_commit():
    return TestCase.captureOnCommitCallbacks(execute=True)


def sent_to(address: str) -> list:
    return [m for m in mail.outbox if address in m.to]


def link_in(message, path: str) -> str:
    match = re.search(rf"(\S*{re.escape(path)}\S*)", message.body)
    assert match, message.body
    return match.group(1)


def local(url: str) -> str:
    """A link's path and query, to follow it with the test client."""
    return re.sub(r"^https?://[^/]+", "", url)


def login(api, email: str, password: str):
    return api.post("/api/auth/token/", {"email": email, "password": password}, format="json")


# --- links ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_links_in_mails_use_the_address_the_request_came_in_on(api):
    # Real commits: the mail goes out on commit, inside the request, as in production.
    with after_commit():
        body = api.post("/api/waitlist/join/", {"email": "new@example.com"}, format="json",
                        HTTP_HOST="localhost:8123").json()
    (welcome,) = mail.outbox
    assert link_in(welcome, "/confirm-email?token=").startswith(
        "http://localhost:8123/confirm-email?token=")
    assert f"http://localhost:8123/?ref={body['referral_code']}" in welcome.body
    assert ":8000" not in welcome.body


def test_proof_url_names_the_address_the_request_came_in_on(api):
    draw = make_draw()
    response = api.get(f"/api/events/{draw.event_id}/draws/{draw.pk}/", HTTP_HOST="localhost:9001")
    assert response.json()["proof_url"] == (
        f"http://localhost:9001/api/events/{draw.event_id}/draws/{draw.pk}/proof/")


def test_public_base_url_wins_over_the_request(api, settings):
    settings.PUBLIC_BASE_URL = "https://tombola.example/"
    with after_commit():
        api.post(RESET, {"email": "nobody@example.com"}, format="json")
        api.post("/api/waitlist/join/", {"email": "new@example.com"}, format="json",
                 HTTP_HOST="localhost:8123")
    assert link_in(mail.outbox[0], "/confirm-email").startswith("https://tombola.example/")


def test_without_a_request_links_name_the_served_listener_or_stay_relative(monkeypatch):
    monkeypatch.setattr(links, "_serve_base", "")
    assert links.absolute_url("/x") == "/x"
    links.serve_base_url("127.0.0.1", 8765)
    assert links.absolute_url("/x") == "http://127.0.0.1:8765/x"
    links.serve_base_url("0.0.0.0", 8765)  # noqa: S104 - a wildcard is no address to link to
    assert links.absolute_url("/x") == "/x"


def test_a_forged_host_never_reaches_a_reset_link(api, user):
    with after_commit():
        response = api.post(RESET, {"email": user.email}, format="json",
                            HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert mail.outbox == []


# --- password reset ---------------------------------------------------------------------


def test_password_reset_end_to_end_through_the_mail(api, user):
    old_session = SessionRefreshToken.for_user(user)
    with after_commit():
        response = api.post(RESET, {"email": "ALICE@example.com"}, format="json")
    assert response.status_code == 202
    (message,) = sent_to(user.email)
    link = local(link_in(message, "/reset-password?"))

    browser = Client()
    page = browser.get(link)
    assert page.status_code == 200 and b"Choose a new password" in page.content
    form = dict(re.findall(r'name="(uid|token)" value="([^"]+)"', page.content.decode()))
    with after_commit():
        done = browser.post("/reset-password", {**form, "password": NEW_PASSWORD,
                                                "password_again": NEW_PASSWORD})
    assert done.status_code == 200 and b"Your password is set" in done.content
    assert b'href="/app/#/signin"' in done.content  # on to the attendee app

    assert login(api, user.email, NEW_PASSWORD).status_code == 200
    assert login(api, user.email, PASSWORD).status_code == 401
    # Every refresh token of the account was revoked.
    assert api.post("/api/auth/token/refresh/", {"refresh": str(old_session)},
                    format="json").status_code == 401
    # Single use: the same link is dead now.
    again = browser.get(link)
    assert again.status_code == 400 and b"does not work" in again.content
    assert sent_to(user.email)[-1].subject == "Your Tombola password was changed"
    assert AuditEntry.objects.filter(action="account.password_reset",
                                     object_id=str(user.pk)).exists()


def test_reset_answers_the_same_whether_or_not_the_address_has_an_account(api, user):
    with after_commit():
        known = api.post(RESET, {"email": user.email}, format="json")
        unknown = api.post(RESET, {"email": "nobody@example.com"}, format="json")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert [m.to for m in mail.outbox] == [[user.email]]


def test_reset_confirm_validates_the_password_like_registration(api, user):
    uid, token = _reset_link_parts(api, user)
    body = assert_error(api.post(RESET_CONFIRM, {"uid": uid, "token": token,
                                                 "password": "12345678"}, format="json"),
                        400, "invalid")
    assert "password" in body["fields"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    ok = api.post(RESET_CONFIRM, {"uid": uid, "token": token, "password": NEW_PASSWORD},
                  format="json")
    assert ok.status_code == 200
    assert_error(api.post(RESET_CONFIRM, {"uid": uid, "token": token, "password": PASSWORD},
                          format="json"), 400, "invalid_reset_link")


def test_reset_link_expires(api, user, settings, monkeypatch):
    uid, token = _reset_link_parts(api, user)
    later = default_token_generator._now().timestamp() + settings.PASSWORD_RESET_TIMEOUT + 5
    monkeypatch.setattr(type(default_token_generator), "_now",
                        lambda self: __import__("datetime").datetime.fromtimestamp(later))
    assert_error(api.post(RESET_CONFIRM, {"uid": uid, "token": token,
                                          "password": NEW_PASSWORD}, format="json"),
                 400, "invalid_reset_link")


@pytest.mark.parametrize("uid", ["", "!!", "MTIzNDU2Nzg5MA", "x" * 64])
def test_reset_confirm_with_a_bad_uid_is_a_400(api, uid):
    response = api.post(RESET_CONFIRM, {"uid": uid or "A", "token": "abc-def",
                                        "password": NEW_PASSWORD}, format="json")
    assert_error(response, 400, "invalid_reset_link")


def test_reset_is_throttled_per_email_address_across_client_addresses(api, user, rates):
    rates(password_reset_email="2/hour")
    for n, email in enumerate([user.email, "Alice@Example.com", user.email]):
        response = api.post(RESET, {"email": email}, format="json", REMOTE_ADDR=f"10.0.0.{n}")
    assert_error(response, 429, "throttled")
    # An address without an account is limited the same way: a 429 tells nothing.
    for n in range(3):
        response = api.post(RESET, {"email": "nobody@example.com"}, format="json",
                            REMOTE_ADDR=f"10.0.1.{n}")
    assert_error(response, 429, "throttled")


def test_reset_is_throttled_per_client_address(api, rates):
    rates(password_reset="2/hour")
    for n in range(3):
        response = api.post(RESET, {"email": f"x{n}@example.com"}, format="json")
    assert_error(response, 429, "throttled")


def test_a_waitlist_member_asking_for_a_reset_gets_the_welcome_link(api, make_user):
    member = User.objects.create_user(email="early@example.com")
    with after_commit():
        api.post(RESET, {"email": member.email}, format="json")
    (message,) = mail.outbox
    assert "/confirm-email?token=" in message.body and "/reset-password" not in message.body


def test_the_reset_request_page_mails_a_link(user):
    browser = Client()
    assert browser.get("/reset-password").status_code == 200
    with after_commit():
        page = browser.post("/reset-password", {"email": user.email})
    assert page.status_code == 200 and b"on its way" in page.content
    assert "/reset-password?uid=" in sent_to(user.email)[0].body


def test_the_reset_page_shows_the_password_rules_it_breaks(api, user):
    uid, token = _reset_link_parts(api, user)
    page = Client().post("/reset-password", {"uid": uid, "token": token,
                                             "password": "12345678", "password_again": "12345678"})
    assert page.status_code == 400 and b"entirely numeric" in page.content
    mismatch = Client().post("/reset-password", {"uid": uid, "token": token,
                                                 "password": NEW_PASSWORD, "password_again": "x"})
    assert mismatch.status_code == 400 and b"differ" in mismatch.content


def _reset_link_parts(api, user) -> tuple[str, str]:
    with after_commit():
        api.post(RESET, {"email": user.email}, format="json")
    link = link_in(sent_to(user.email)[-1], "/reset-password?")
    return (re.search(r"uid=([^&\s]+)", link).group(1),
            re.search(r"token=([^&\s]+)", link).group(1))


# --- email confirmation -----------------------------------------------------------------


def test_registration_mails_a_link_whose_page_confirms_the_address(api):
    with after_commit():
        response = api.post("/api/accounts/register/", {"email": "new@example.com",
                                                        "password": PASSWORD}, format="json")
    assert response.status_code == 201
    link = local(link_in(sent_to("new@example.com")[0], "/confirm-email?token="))
    page = Client().get(link)
    assert page.status_code == 200 and b"Your email address is confirmed" in page.content
    assert b'href="/app/#/signin"' in page.content  # on to the attendee app
    assert User.objects.get(email="new@example.com").email_verified_at is not None
    again = Client().get(link)
    assert again.status_code == 200 and b"Already confirmed" in again.content


def test_an_expired_link_page_offers_a_button_that_mails_a_new_link(api, settings):
    with after_commit():
        api.post("/api/waitlist/join/", {"email": "new@example.com"}, format="json")
    link = local(link_in(mail.outbox[0], "/confirm-email?token="))
    settings.WAITLIST_EMAIL_TOKEN_MAX_AGE = -1
    page = Client().get(link)
    assert page.status_code == 400 and b"has expired" in page.content
    assert b"Send me a new link" in page.content
    assert b"/app/#/signin" not in page.content  # nothing to sign in with yet
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)
    with after_commit():
        sent = Client().post("/confirm-email", {"token": token})
    assert sent.status_code == 200 and b"Check your mailbox" in sent.content
    assert len(sent_to("new@example.com")) == 2


def test_a_broken_link_page_says_so(db):
    page = Client().get("/confirm-email?token=not-a-token")
    assert page.status_code == 400 and b"does not work" in page.content


def test_email_resend_api_mails_the_logged_in_account_until_it_is_confirmed(user, user_api, api):
    with after_commit():
        assert user_api.post("/api/accounts/email/resend/", {}, format="json").status_code == 202
    assert "/confirm-email?token=" in sent_to(user.email)[0].body
    User.objects.filter(pk=user.pk).update(email_verified_at="2026-01-01T00:00:00Z")
    mail.outbox.clear()
    with after_commit():
        assert client_for(user).post("/api/accounts/email/resend/", {},
                                     format="json").status_code == 202
    assert mail.outbox == []
    assert_error(api.post("/api/accounts/email/resend/", {}, format="json"), 400, "invalid")


def test_the_referral_link_page_joins_the_waitlist_with_its_code(user):
    page = Client().get(f"/?ref={user.referral_code}")
    assert page.status_code == 200 and user.referral_code.encode() in page.content
    with after_commit():
        joined = Client().post(f"/?ref={user.referral_code}", {"email": "friend@example.com"})
    assert joined.status_code == 200 and b"You are on the list" in joined.content
    assert User.objects.get(email="friend@example.com").referred_by == user


# --- email change -------------------------------------------------------------------------


def test_email_change_end_to_end_through_the_mail(api, user, user_api):
    with after_commit():
        response = user_api.post("/api/accounts/email/change/", {
            "email": "Alice.New@Example.com", "current_password": PASSWORD}, format="json")
    assert response.status_code == 202
    (notice,) = sent_to("alice@example.com")
    assert "a***@example.com" in notice.body  # the old address is told, masked
    link = local(link_in(sent_to("alice.new@example.com")[0], "/confirm-email-change?token="))
    user.refresh_from_db()
    assert user.email == "alice@example.com"  # not before the link is opened

    with after_commit():
        page = Client().get(link)
    assert page.status_code == 200 and b"alice.new@example.com" in page.content
    user.refresh_from_db()
    assert user.email == "alice.new@example.com" and user.email_verified_at is not None
    assert sent_to("alice@example.com")[-1].subject == "Your Tombola email address was changed"
    assert login(api, "alice.new@example.com", PASSWORD).status_code == 200
    assert Client().get(link).status_code == 400  # used once
    audit = AuditEntry.objects.filter(object_id=str(user.pk), action__startswith="account.email")
    assert {e.action for e in audit} == {"account.email_change_requested", "account.email_changed"}
    assert "alice" not in str([e.data for e in audit])


def test_email_change_needs_the_current_password_and_a_free_address(user_api, other_user):
    change = "/api/accounts/email/change/"
    assert_error(user_api.post(change, {"email": "x@example.com", "current_password": "wrong"},
                               format="json"), 400, "wrong_current_password")
    assert_error(user_api.post(change, {"email": other_user.email.upper(),
                                        "current_password": PASSWORD}, format="json"),
                 400, "email_taken")


def test_an_address_taken_before_the_link_is_opened_is_refused(api, user, user_api, make_user):
    with after_commit():
        user_api.post("/api/accounts/email/change/", {
            "email": "wanted@example.com", "current_password": PASSWORD}, format="json")
    token = re.search(r"token=(\S+)", sent_to("wanted@example.com")[0].body).group(1)
    make_user(email="wanted@example.com")
    assert_error(api.post("/api/accounts/email/change/confirm/", {"token": token},
                          format="json"), 400, "email_taken")


def test_an_email_change_kills_earlier_reset_links(api, user, user_api):
    uid, token = _reset_link_parts(api, user)
    with after_commit():
        user_api.post("/api/accounts/email/change/", {
            "email": "moved@example.com", "current_password": PASSWORD}, format="json")
    confirm = re.search(r"token=(\S+)", sent_to("moved@example.com")[0].body).group(1)
    assert api.post("/api/accounts/email/change/confirm/", {"token": confirm},
                    format="json").status_code == 200
    assert_error(api.post(RESET_CONFIRM, {"uid": uid, "token": token,
                                          "password": NEW_PASSWORD}, format="json"),
                 400, "invalid_reset_link")


# --- password change, logging out everywhere ---------------------------------------------


def _session(user, *, begun: float | None = None):
    refresh = SessionRefreshToken.for_user(user)
    if begun is not None:
        refresh[AUTH_TIME_CLAIM] = begun
    client = client_for(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}")
    return client, refresh


@pytest.mark.django_db(transaction=True)
def test_password_change_ends_the_other_sessions_and_gives_this_one_new_tokens(api, user):
    # Real commits: the deny entry written on commit must not cover the new session.
    this, this_refresh = _session(user, begun=time.time() - 5)
    other, other_refresh = _session(user, begun=time.time() - 5)
    with after_commit():
        response = this.post("/api/accounts/password/change/", {
            "current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    assert other.get("/api/accounts/me/").status_code == 401
    for refresh in (this_refresh, other_refresh):
        assert api.post("/api/auth/token/refresh/", {"refresh": str(refresh)},
                        format="json").status_code == 401
    fresh = client_for(user)
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert fresh.get("/api/accounts/me/").status_code == 200
    assert api.post("/api/auth/token/refresh/", {"refresh": response.json()["refresh"]},
                    format="json").status_code == 200
    assert sent_to(user.email)[-1].subject == "Your Tombola password was changed"


def test_password_change_needs_the_current_password_and_a_valid_new_one(user_api):
    change = "/api/accounts/password/change/"
    assert_error(user_api.post(change, {"current_password": "nope",
                                        "new_password": NEW_PASSWORD}, format="json"),
                 400, "wrong_current_password")
    body = assert_error(user_api.post(change, {"current_password": PASSWORD,
                                               "new_password": "alice"}, format="json"),
                        400, "invalid")
    assert "password" in body["fields"]


def test_logging_out_everywhere_ends_every_session(api, user):
    one, one_refresh = _session(user, begun=time.time() - 5)
    two, two_refresh = _session(user, begun=time.time() - 5)
    assert one.post("/api/auth/logout/all/").status_code == 204
    for client, refresh in ((one, one_refresh), (two, two_refresh)):
        assert client.get("/api/accounts/me/").status_code == 401
        assert api.post("/api/auth/token/refresh/", {"refresh": str(refresh)},
                        format="json").status_code == 401
    assert AuditEntry.objects.filter(action="account.sessions_ended").count() == 1
    assert login(api, user.email, PASSWORD).status_code == 200  # logging in again works


def test_the_event_page_is_not_shadowed_by_the_home_page(api):
    # "/" is the home page now; the API and the admin keep their own paths.
    assert api.get(f"/api/events/{make_event().pk}/").status_code == 200
    assert Client().get("/").status_code == 200


def test_pages_answer_503_not_500_when_rate_limits_cannot_be_counted(monkeypatch, db):
    import redis

    from core.throttles import ScopedThrottle

    def down(self, request, view):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(ScopedThrottle, "count_request", down)
    page = Client().post("/reset-password", {"email": "a@example.com"})
    assert page.status_code == 503 and b"Try again shortly" in page.content
