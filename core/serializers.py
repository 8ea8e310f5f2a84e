"""Shared DRF serializer bases."""

from __future__ import annotations

import copy

from rest_framework import serializers


class CachedFieldsModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that introspects its model once per class, not once per use.

    DRF's ModelSerializer.get_fields() rebuilds every field from the model's
    metadata each time a serializer is used: on /api/accounts/me/ that was a
    third of the request's CPU (cProfile). The fields a class builds never
    change, so they are built once and each use gets a deep copy (fields are
    bound to their serializer instance, so they cannot be shared as they are).
    Only for serializers whose fields do not depend on the instance or context.
    """

    def get_fields(self):
        cls = type(self)
        template = cls.__dict__.get("_field_templates")
        if template is None:
            template = super().get_fields()
            cls._field_templates = template  # per class: subclasses build their own
        return copy.deepcopy(template)
