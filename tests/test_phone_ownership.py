"""One phone, one verified account, and no way to learn whose a number is.

The rule is "kept", not "moved" (docs/security.md, "Accounts"): a number
verified on one account cannot be verified on another while the first keeps
it. Typing a number into a profile (registration, PATCH /me) answers the same
whether or not another account has it: the number is stored unverified, and
the conflict is settled by verification, where the requester only ever sees
what a wrong code looks like.
"""

from __future__ import annotations

import re

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.models import User
from tests.conftest import assert_error, client_for

pytestmark = pytest.mark.django_db

ME = "/api/accounts/me/"
REGISTER = "/api/accounts/register/"
SEND = "/api/accounts/phone/verification/"
CONFIRM = "/api/accounts/phone/verification/confirm/"
PHONE = "+4915123456789"
FREE = "+4915199999999"


def code_in(message) -> str:
    return re.search(r"\b(\d{6})\b", message.text).group(1)


def shape(response) -> tuple:
    body = response.json()
    return response.status_code, sorted(body), sorted(response.headers)


@pytest.fixture
def owner(make_user):
    return make_user(email="owner@example.com", phone=PHONE, phone_verified_at=timezone.now())


def test_patch_me_answers_the_same_for_a_taken_and_a_free_number(owner, make_user):
    first, second = make_user(), make_user()
    taken = client_for(first).patch(ME, {"phone": PHONE}, format="json")
    free = client_for(second).patch(ME, {"phone": FREE}, format="json")
    assert shape(taken) == shape(free)
    assert taken.status_code == 200


def test_registration_answers_the_same_for_a_taken_and_a_free_number(api, owner):
    taken = api.post(REGISTER, {"email": "a@example.com", "password": "correct-horse-battery",
                                "phone": PHONE}, format="json")
    free = api.post(REGISTER, {"email": "b@example.com", "password": "correct-horse-battery",
                               "phone": FREE}, format="json")
    assert shape(taken) == shape(free)
    assert taken.status_code == 201


def test_a_number_verified_on_one_account_cannot_be_verified_on_another(
        owner, make_user, sms_outbox):
    intruder = make_user(email="intruder@example.com")
    api = client_for(intruder)
    assert api.patch(ME, {"phone": PHONE}, format="json").status_code == 200
    assert api.post(SEND, {"phone": PHONE}, format="json").status_code == 202
    assert not re.search(r"\d{6}", sms_outbox[-1].text)  # the owner is told; no code
    assert_error(api.post(CONFIRM, {"phone": PHONE, "code": "123456"}, format="json"),
                 400, "invalid_code")
    owner.refresh_from_db()
    intruder.refresh_from_db()
    assert owner.phone == PHONE and owner.phone_verified_at is not None
    assert intruder.phone_verified_at is None


def test_the_number_is_free_again_once_its_holder_lets_go(owner, make_user, sms_outbox):
    assert client_for(owner).patch(ME, {"phone": None}, format="json").status_code == 200
    newcomer = make_user(email="new@example.com")
    api = client_for(newcomer)
    api.post(SEND, {"phone": PHONE}, format="json")
    response = api.post(CONFIRM, {"phone": PHONE, "code": code_in(sms_outbox[-1])},
                        format="json")
    assert response.status_code == 200, response.content
    newcomer.refresh_from_db()
    assert newcomer.phone == PHONE and newcomer.phone_verified_at is not None


def test_the_database_refuses_a_second_verified_holder(owner, make_user):
    other = make_user(email="other@example.com", phone=PHONE)  # unverified: allowed
    other.phone_verified_at = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        other.save(update_fields=["phone_verified_at"])
    assert User.objects.filter(phone=PHONE, phone_verified_at__isnull=False).count() == 1


def test_a_winners_file_naming_a_phone_picks_its_verified_owner(owner, make_user):
    """Anyone may type any number into a profile: the import trusts verification."""
    from live.imports import _users_by

    squatter = make_user(email="squat@example.com", phone=PHONE)
    assert _users_by("phone", [PHONE]) == {PHONE: owner.pk}
    owner.phone = None
    owner.save()
    assert _users_by("phone", [PHONE]) == {PHONE: squatter.pk}  # the only holder
    make_user(email="another@example.com", phone=PHONE)
    assert _users_by("phone", [PHONE]) == {}  # two unverified holders: nobody
