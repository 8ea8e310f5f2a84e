"""One JSON round-trip for values that leave Python: history, audit rows, webhook
payloads, stored idempotent answers."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


def to_jsonable(value: Any) -> Any:
    """`value` as a client (or a JSONField read back) would see it: datetimes, dates,
    Decimals, UUIDs and lazy strings become strings, tuples lists, the rest unchanged.

    Storing or sending this rather than `value` means what is kept equals what is read
    back later, so hashes and comparisons over it do not depend on where it came from.
    """
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
