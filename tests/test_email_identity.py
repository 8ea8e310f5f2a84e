"""One mailbox, one account: emails compare in their canonical form (core/emails.py).

Registration, login, email change, the waitlist and referral credit all decide
"same address?" through one function; the database enforces it with a unique
index on the canonical form, so a race or a path around the services cannot
make two accounts of one address.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from core.emails import email_canonical, email_mailbox
from core.models import User
from core.services import waitlist
from tests.conftest import assert_error, client_for

pytestmark = pytest.mark.django_db

REGISTER = "/api/accounts/register/"
LOGIN = "/api/auth/token/"
ME = "/api/accounts/me/"
PASSWORD = "correct-horse-battery"


def register(api, email, **fields):
    return api.post(REGISTER, {"email": email, "password": PASSWORD, **fields}, format="json")


# --- the forms -------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "canonical"), [
    ("  Alice@Example.COM ", "alice@example.com"),
    ("a@\uff58.com", "a@x.com"),  # full-width x (NFKC)
    ("STRASSE@x.com", "strasse@x.com"),
    ("stra\u00dfe@x.com", "strasse@x.com"),  # ß case-folds to ss
    ("a\u200b@x.com", "a@x.com"),  # the canonical form drops invisible characters
])
def test_canonical_form(typed, canonical):
    assert email_canonical(typed) == canonical


@pytest.mark.parametrize(("typed", "mailbox"), [
    ("Joe+news@Example.com", "joe@example.com"),
    ("j.o.e+x@googlemail.com", "joe@gmail.com"),
    ("J.Oe@gmail.com", "joe@gmail.com"),
    ("j.oe@example.com", "j.oe@example.com"),  # dots matter for other providers
    ("+only@example.com", "+only@example.com"),
])
def test_mailbox_form(typed, mailbox):
    assert email_mailbox(typed) == mailbox


# --- the database is the last guard ---------------------------------------------------------


def test_two_spellings_of_one_address_cannot_both_be_stored():
    """Around every service (a shell, an import): the unique index refuses the second."""
    User.objects.create_user(email="strasse@x.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(email="STRA\u00dfE@x.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(email="Strasse@\uff58.com")


def test_bulk_created_users_get_their_canonical_forms():
    (user,) = User.objects.bulk_create([User(email="Bulk+Tag@GoogleMail.com")])
    user.refresh_from_db()
    assert (user.email_canonical, user.email_mailbox) == ("bulk+tag@googlemail.com",
                                                          "bulk@gmail.com")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_registrations_of_two_spellings_make_one_account():
    spellings = ["A@x.com", "a@X.com", "a@\uff38.com", "A@\uff58.COM"]
    barrier = threading.Barrier(len(spellings))

    def attempt(email: str) -> int:
        try:
            barrier.wait(timeout=10)
            return register(APIClient(), email).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(len(spellings)) as pool:
        statuses = sorted(pool.map(attempt, spellings))
    assert statuses == [201] + [400] * (len(spellings) - 1)
    assert User.objects.filter(email_canonical="a@x.com").count() == 1


# --- registration, login, email change ------------------------------------------------------


@pytest.mark.parametrize("second", ["A@X.com", "a@\uff58.com", "A@\uff38.COM"])
def test_register_refuses_another_spelling_of_a_taken_address(api, second):
    assert register(api, "a@x.com").status_code == 201
    assert_error(register(api, second), 400, "email_taken")
    assert User.objects.count() == 1


@pytest.mark.parametrize("email", ["a\u200b@x.com", "a@ex\u00adample.com", "\ufeffa@x.com",
                                   "a@x\u200d.com"])
def test_register_refuses_invisible_characters_with_a_clear_message(api, email):
    body = assert_error(register(api, email), 400, "invalid")
    assert "invisible" in " ".join(body["fields"]["email"])
    assert not User.objects.exists()


def test_login_finds_the_account_by_any_spelling(api, make_user):
    make_user(email="alice@x.com", password=PASSWORD)
    for typed in ("ALICE@x.com", "alice@\uff58.com"):
        response = api.post(LOGIN, {"email": typed, "password": PASSWORD}, format="json")
        assert response.status_code == 200, (typed, response.content)


def test_email_change_refuses_another_spelling_of_a_taken_address(user, make_user):
    make_user(email="taken@x.com")
    response = client_for(user).patch(ME, {"email": "TAKEN@\uff58.com",
                                           "current_password": PASSWORD}, format="json")
    assert_error(response, 400, "email_taken")


def test_email_change_refuses_invisible_characters(user):
    response = client_for(user).patch(ME, {"email": "new\u200b@x.com",
                                           "current_password": PASSWORD}, format="json")
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_staff_lookup_finds_a_member_by_any_spelling(staff_api, make_user):
    member = make_user(email="member@x.com")
    response = staff_api.get("/api/waitlist/lookup/", {"email": "MEMBER@\uff58.com"})
    assert response.status_code == 200 and response.json()["id"] == member.pk


# --- the waitlist and referral credit: one mailbox ------------------------------------------


def join(api, email, code=None):
    url = f"/api/waitlist/join/{code}/" if code else "/api/waitlist/join/"
    return api.post(url, {"email": email}, format="json")


@pytest.mark.parametrize("alias", ["Joe+2@gmail.com", "j.o.e@googlemail.com", "JOE@gmail.com"])
def test_waitlist_holds_one_place_per_mailbox(api, alias):
    assert join(api, "joe@gmail.com").status_code == 201
    assert_error(join(api, alias), 409, "already_on_waitlist")
    assert User.objects.count() == 1


def test_waitlist_refuses_invisible_characters(api):
    response = join(api, "j\u200boe@gmail.com")
    assert response.status_code == 400
    assert "invisible" in " ".join(response.json()["fields"]["email"])


def test_referring_your_own_mailbox_is_refused(api, make_user):
    referrer = make_user(email="joe@gmail.com")
    assert_error(join(api, "j.oe+2@gmail.com", referrer.referral_code), 400, "self_referral")
    assert_error(register(api, "joe+3@gmail.com", referral_code=referrer.referral_code),
                 400, "self_referral")


def test_a_referral_from_the_referrers_mailbox_never_counts(make_user, settings):
    settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL = False
    referrer = make_user(email="joe@gmail.com")
    referee = make_user(email="someone@example.com")
    waitlist.referral_attach(user=referee, referrer=referrer)
    referrer.refresh_from_db()
    assert referrer.referral_count == 1  # an ordinary referral counts
    alias = make_user(email="other@example.com")
    User.objects.filter(pk=alias.pk).update(referred_by=referrer)
    # The account later moved to the referrer's own mailbox: verifying it counts nothing.
    alias.email = "j.o.e+x@gmail.com"
    alias.save()
    alias.refresh_from_db()
    assert waitlist.referral_count_if_eligible(user=alias) is False
    referrer.refresh_from_db()
    assert referrer.referral_count == 1


def test_a_mailbox_earns_its_referrer_one_credit(api, make_user, settings):
    settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL = False
    referrer = make_user(email="referrer@example.com")
    for alias in ("fan@example.com", "fan+2@example.com", "fan+3@example.com"):
        response = register(api, alias, referral_code=referrer.referral_code)
        assert response.status_code == 201, response.content
    referrer.refresh_from_db()
    assert referrer.referral_count == 1
