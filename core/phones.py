"""Phone numbers: one normal form (E.164) everywhere they are stored or compared."""

from __future__ import annotations

import phonenumbers
from django.conf import settings

from core.errors import InvalidPhone, PhoneNotMobile, PhoneRegionNotAllowed

# Longer input is not a phone number; refusing it early keeps the parser cheap.
MAX_PHONE_INPUT_LENGTH = 32


def normalize_phone(raw: str) -> str:
    """`raw` as E.164 (``+4915112345678``), or raise InvalidPhone.

    National numbers are read in settings.PHONE_DEFAULT_REGION; without one,
    only numbers written with their ``+country`` code are accepted.
    """
    text = (raw or "").strip()
    if not text or len(text) > MAX_PHONE_INPUT_LENGTH:
        raise InvalidPhone()
    try:
        number = phonenumbers.parse(text, settings.PHONE_DEFAULT_REGION or None)
    except phonenumbers.NumberParseException:
        raise InvalidPhone() from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# The number types a code may be texted to: SMS pumping fraud sends codes to
# premium-rate, shared-cost, satellite or otherwise unusual ranges the fraudster is
# paid for; a person verifying their own phone has a mobile.
TEXTABLE_TYPES = frozenset({
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
})


def phone_check_textable(e164: str) -> None:
    """Raise unless a verification code may be texted to `e164` (E.164).

    PhoneRegionNotAllowed: the number's region is not in PHONE_ALLOWED_REGIONS
    (satellite and other non-geographic ranges have none); PhoneNotMobile: not a
    MOBILE or FIXED_LINE_OR_MOBILE number (premium-rate, shared-cost, VoIP,
    personal, pager, toll-free, fixed-line, unknown).
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhone() from None
    region = phonenumbers.region_code_for_number(number)
    if region not in settings.PHONE_ALLOWED_REGIONS:
        raise PhoneRegionNotAllowed()
    if phonenumbers.number_type(number) not in TEXTABLE_TYPES:
        raise PhoneNotMobile()
