"""Django admin for accounts: staff find users by email/phone/code and filter them."""

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from core.admin import UserEditForm
from core.models import PhoneVerification, User
from demo.management.commands.seed_demo import DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/core/user/"


@pytest.fixture
def admin_client_for_staff(staff):
    """A browser session of a staff member allowed to view users (not a superuser)."""
    staff.user_permissions.add(
        Permission.objects.get(codename="view_user"),
        Permission.objects.get(codename="view_phoneverification"),
    )
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def superuser_client(make_user):
    client = Client()
    client.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def people(make_user):
    ref = make_user(email="referrer@example.com", phone="+4915123456789",
                    phone_verified_at=timezone.now(), referral_count=7)
    plain = make_user(email="plain@example.com", referred_by=ref)
    mailed = make_user(email="mailed@example.com", email_verified_at=timezone.now(),
                       referral_count=2)
    return {"ref": ref, "plain": plain, "mailed": mailed}


def listed(response) -> set[str]:
    """Emails shown in the changelist's result rows."""
    assert response.status_code == 200
    return {user.email for user in response.context["cl"].result_list}


def test_staff_searches_users_by_email(admin_client_for_staff, people):
    assert listed(admin_client_for_staff.get(CHANGELIST, {"q": "PLAIN@"})) == {
        "plain@example.com"
    }


@pytest.mark.parametrize("term", ["+4915123456789", "+49 151 2345 6789", "15123456789"])
def test_staff_searches_users_by_phone_written_any_way(admin_client_for_staff, people, term):
    assert listed(admin_client_for_staff.get(CHANGELIST, {"q": term})) == {
        "referrer@example.com"
    }


def test_staff_searches_users_by_referral_code(admin_client_for_staff, people):
    code = people["mailed"].referral_code
    assert listed(admin_client_for_staff.get(CHANGELIST, {"q": code.lower()})) == {
        "mailed@example.com"
    }


@pytest.mark.parametrize(
    ("verified", "emails"),
    [
        ("yes", {"referrer@example.com", "mailed@example.com"}),
        ("phone", {"referrer@example.com"}),
        ("no", {"plain@example.com", "staff@example.com"}),
    ],
)
def test_staff_filters_users_by_verified(admin_client_for_staff, people, verified, emails):
    assert listed(admin_client_for_staff.get(CHANGELIST, {"verified": verified})) == emails


@pytest.mark.parametrize(
    ("bucket", "emails"),
    [
        ("0", {"plain@example.com", "staff@example.com"}),
        ("1-4", {"mailed@example.com"}),
        ("5-19", {"referrer@example.com"}),
        ("20+", set()),
    ],
)
def test_staff_filters_users_by_referral_count(admin_client_for_staff, people, bucket, emails):
    assert listed(admin_client_for_staff.get(CHANGELIST, {"referrals": bucket})) == emails


def test_staff_combines_search_and_filter(admin_client_for_staff, people):
    response = admin_client_for_staff.get(CHANGELIST, {"q": "example.com", "verified": "no"})
    assert listed(response) == {"plain@example.com", "staff@example.com"}


def test_referees_link_lists_who_a_user_referred(admin_client_for_staff, people):
    response = admin_client_for_staff.get(
        CHANGELIST, {"referred_by__id__exact": people["ref"].pk}
    )
    assert listed(response) == {"plain@example.com"}


def test_non_staff_cannot_open_the_user_changelist(user):
    client = Client()
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_permission_is_refused(bare_staff):
    client = Client()
    client.force_login(bare_staff)
    assert client.get(CHANGELIST).status_code == 403


def test_anonymous_is_sent_to_the_admin_login():
    response = Client().get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_demo_staff_from_seed_demo_logs_in_to_the_admin():
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": DEMO_STAFF_EMAIL.upper(), "password": DEMO_STAFF_PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get(CHANGELIST).status_code == 200


def test_wrong_password_does_not_log_in_to_the_admin():
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    response = Client().post(
        "/admin/login/?next=/admin/", {"username": DEMO_STAFF_EMAIL, "password": "nope"}
    )
    assert response.status_code == 200  # the form again, with its error
    assert "_auth_user_id" not in response.wsgi_request.session


def test_superuser_adds_a_user_through_the_admin(superuser_client):
    assert superuser_client.get("/admin/core/user/add/").status_code == 200
    response = superuser_client.post("/admin/core/user/add/", {
        "email": "Added@Example.com", "usable_password": "true",
        "password1": "correct-horse-battery", "password2": "correct-horse-battery",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    added = User.objects.get(email="added@example.com")
    assert added.check_password("correct-horse-battery")


def test_admin_refuses_an_email_taken_in_another_case(superuser_client, user):
    response = superuser_client.post("/admin/core/user/add/", {
        "email": " ALICE@example.com", "usable_password": "false",
    })
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert User.objects.filter(email="alice@example.com").count() == 1


@pytest.mark.parametrize(
    ("typed", "stored"), [("+49 151 2345-6789", "+4915123456789"), ("", None)]
)
def test_admin_user_form_stores_phones_in_e164(user, typed, stored):
    form = UserEditForm(instance=user, data={"phone": typed})
    form.is_valid()
    assert "phone" not in form.errors
    assert form.cleaned_data["phone"] == stored


def test_admin_user_form_refuses_an_invalid_phone(user):
    form = UserEditForm(instance=user, data={"phone": "12345"})
    assert not form.is_valid()
    assert "phone" in form.errors


def test_superuser_opens_a_user_change_page(superuser_client, people):
    response = superuser_client.get(f"/admin/core/user/{people['ref'].pk}/change/")
    assert response.status_code == 200
    assert people["ref"].referral_code in response.content.decode()


def test_phone_verifications_are_view_only(admin_client_for_staff, superuser_client, user):
    PhoneVerification.objects.create(
        phone="+4915123456789", user=user, code_hash="x" * 64, expires_at=timezone.now()
    )
    response = admin_client_for_staff.get("/admin/core/phoneverification/", {"q": "0151"})
    assert response.status_code == 200
    response = superuser_client.get(
        "/admin/core/phoneverification/", {"q": "+49 151 23456789"}
    )
    assert len(response.context["cl"].result_list) == 1
    assert superuser_client.get("/admin/core/phoneverification/add/").status_code == 403
