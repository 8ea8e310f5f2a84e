"""SMS pumping: codes go only to mobile numbers of allowed regions, within a daily
budget, and the console backend (which logs codes) never serves with DEBUG off.

The per-address send limit and the budget are attacked in tests/test_brute_force.py.
"""

from __future__ import annotations

import phonenumbers
import pytest
from django.core.exceptions import ImproperlyConfigured
from phonenumbers import PhoneNumberType as T

from core.conf import assert_safe_to_serve
from core.phones import phone_check_textable
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

SEND = "/api/accounts/phone/verification/"


def example(region: str, kind) -> str:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None, (region, kind)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def first_example(kind) -> str:
    """An example number of `kind` from any allowed region that has one."""
    from django.conf import settings

    for region in sorted(settings.PHONE_ALLOWED_REGIONS):
        number = phonenumbers.example_number_for_type(region, kind)
        if number is not None and phonenumbers.number_type(number) == kind:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise AssertionError(f"no allowed region has a {kind} example")


@pytest.mark.parametrize("kind", [T.PREMIUM_RATE, T.SHARED_COST, T.VOIP, T.PERSONAL_NUMBER,
                                  T.TOLL_FREE, T.UAN, T.FIXED_LINE])
def test_codes_are_not_texted_to_numbers_that_are_not_mobiles(user_api, sms_outbox, kind):
    response = user_api.post(SEND, {"phone": first_example(kind)}, format="json")
    assert_error(response, 400, "phone_not_mobile")
    assert sms_outbox == []


def test_codes_are_not_texted_to_satellite_numbers(user_api, sms_outbox):
    satellite = phonenumbers.example_number_for_non_geo_entity(881)
    phone = phonenumbers.format_number(satellite, phonenumbers.PhoneNumberFormat.E164)
    assert_error(user_api.post(SEND, {"phone": phone}, format="json"), 400,
                 "phone_region_not_allowed")
    assert sms_outbox == []


def test_codes_are_not_texted_outside_the_allowed_regions(user_api, sms_outbox, settings):
    settings.PHONE_ALLOWED_REGIONS = frozenset({"DE"})
    assert_error(user_api.post(SEND, {"phone": example("AT", T.MOBILE)}, format="json"),
                 400, "phone_region_not_allowed")
    assert user_api.post(SEND, {"phone": example("DE", T.MOBILE)},
                         format="json").status_code == 202
    assert len(sms_outbox) == 1


def test_the_default_regions_are_a_short_list():
    from django.conf import settings

    assert "DE" in settings.PHONE_ALLOWED_REGIONS and len(settings.PHONE_ALLOWED_REGIONS) <= 25


def test_mobiles_and_fixed_line_or_mobile_numbers_get_codes(settings):
    phone_check_textable(example("DE", T.MOBILE))
    phone_check_textable(first_example(T.FIXED_LINE_OR_MOBILE))


def test_console_sms_backend_refuses_to_serve_with_debug_off(settings):
    settings.SECRET_KEY = "a-real-secret-from-the-environment"
    settings.SMS_BACKEND = "console"
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured, match="SMS_BACKEND=console"):
        assert_safe_to_serve()
    settings.DEBUG = True
    assert_safe_to_serve()
    settings.DEBUG = False
    settings.SMS_BACKEND = "http"
    assert_safe_to_serve()
