"""core/serializers.py: a ModelSerializer that introspects its model once per class."""

import pytest
from rest_framework import serializers

from core.models import User
from core.serializers import CachedFieldsModelSerializer

FIELDS = ["id", "email", "phone", "birthday", "date_joined", "referral_code"]


class Cached(CachedFieldsModelSerializer):
    class Meta:
        model = User
        fields = FIELDS


class Plain(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = FIELDS


@pytest.mark.django_db
def test_fields_are_built_once_per_class_and_render_as_drf_would(user, monkeypatch):
    built = []
    original = serializers.ModelSerializer.get_fields

    def counting(self):
        built.append(type(self))
        return original(self)

    monkeypatch.setattr(serializers.ModelSerializer, "get_fields", counting)
    if "_field_templates" in Cached.__dict__:  # built by an earlier test: start over
        del Cached._field_templates
    outputs = [Cached(user).data for _ in range(3)]
    assert built.count(Cached) == 1
    assert all(out == Plain(user).data for out in outputs)


@pytest.mark.django_db
def test_each_use_gets_its_own_bound_fields(user):
    first, second = Cached(user), Cached(user)
    assert first.fields["email"] is not second.fields["email"]
    assert first.fields["email"].parent is first
    assert second.fields["email"].parent is second
