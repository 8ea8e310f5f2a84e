"""The JSON body parser every API view uses (REST_FRAMEWORK DEFAULT_PARSER_CLASSES).

DRF's JSONParser turns a ValueError into a 400 but lets a RecursionError through:
``[[[[...]]]]`` a few thousand levels deep, sent by anyone (anonymous endpoints
parse too), was a 500. Bodies nesting deeper than any request of ours needs are
refused as well, so that a merely deep body cannot reach a recursive serializer,
the JSON encoder of an audit or webhook payload, or the database.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def nesting_depth_exceeds(data: Any, limit: int) -> bool:
    """Does `data` (decoded JSON) nest more than `limit` arrays/objects deep? No recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(gettext("JSON parse error - the body nests too deeply.")) from None
        if nesting_depth_exceeds(data, settings.API_JSON_MAX_DEPTH):
            raise ParseError(
                f"JSON parse error - the body nests more than {settings.API_JSON_MAX_DEPTH} "
                "levels deep.")
        return data
