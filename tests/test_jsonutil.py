"""core.jsonutil.to_jsonable: what is stored or sent equals what is read back."""

import datetime as dt
import uuid
from decimal import Decimal

from core.jsonutil import to_jsonable


def test_values_become_what_a_json_reader_gets_back():
    when = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    key = uuid.UUID(int=1)
    assert to_jsonable({"at": when, "price": Decimal("4.50"), "id": key, "seats": (1, 2)}) == {
        "at": "2026-11-30T12:00:00Z", "price": "4.50", "id": str(key), "seats": [1, 2]}
    assert to_jsonable(to_jsonable({"at": when})) == to_jsonable({"at": when})
