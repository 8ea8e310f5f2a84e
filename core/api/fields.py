"""Serializer fields shared by the account and waitlist endpoints."""

from __future__ import annotations

from rest_framework import serializers

from core.emails import email_has_invisible
from core.errors import InvalidEmail


class EmailInputField(serializers.EmailField):
    """An email address as typed; one with an invisible character is refused with a
    message that says so (core/emails.py), before Django's validator would let
    IDNA quietly drop it from the domain."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and email_has_invisible(data):
            raise serializers.ValidationError(str(InvalidEmail.detail), code=InvalidEmail.code)
        return super().to_internal_value(data)
