"""Phone numbers: one normal form (E.164) everywhere they are stored or compared."""

from __future__ import annotations

import phonenumbers
from django.conf import settings

from core.errors import InvalidPhone

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
