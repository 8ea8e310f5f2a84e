"""Times written for a person: in the event's zone, labelled with that zone.

The API speaks ISO 8601 with an offset (UTC, "Z"); whatever a person reads (an SMS,
an email, an export, the venue screen) shows the event's local time and names its
zone, so "19:30 CET" is never read as the reader's own time:

    local_format(dt, tz="Europe/Berlin")          "Sat 5 Dec 2026, 19:30 CET"
    local_format(dt, tz="Europe/Moscow") in ru    "Сб, 5 декабря 2026, 21:30 MSK"

The zone's label is its abbreviation where the tz database has one (CET, CEST, MSK,
EST); zones without one (Asia/Dubai's "+04") get "UTC+04:00".
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import dateformat
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override, pgettext

UTC = ZoneInfo("UTC")


def api_iso(dt: datetime | None) -> str | None:
    """A datetime as the API writes it: ISO 8601 in UTC with "Z", as DRF's fields and
    encoder do, for the few values our code formats itself (error bodies, queue state)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def zone(name: str | None) -> tzinfo:
    """The ZoneInfo of an IANA name; settings.TIME_ZONE for an empty one (UTC for an
    unknown one, which validation keeps out of the database)."""
    return _zone(name) if name else _zone(settings.TIME_ZONE)


@lru_cache(maxsize=512)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # validated on save; never a 500 here
        return ZoneInfo("UTC")


def validate_time_zone(value: str) -> None:
    """Model and serializer validator: an IANA zone name zoneinfo knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("Unknown time zone (use an IANA name such as Europe/Berlin)."),
                              code="invalid_time_zone") from None


def zone_label(local: datetime) -> str:
    """The zone of an aware datetime as a reader knows it: "CET", or "UTC+04:00"."""
    name = local.tzname() or ""
    if name.isalpha():
        return name
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def local_format(dt: datetime | None, *, tz: str | None, language: str | None = None,
                 date: bool = True) -> str:
    """`dt` in zone `tz` with its label, in `language` (default: the active one).

    date=False: the time of day only ("19:30 CET"). None gives "".
    """
    if dt is None:
        return ""
    if dt.tzinfo is None:  # a naive value is UTC here, as the database stores it
        dt = dt.replace(tzinfo=UTC)
    local = dt.astimezone(zone(tz))
    with override(language) if language else nullcontext():
        # Translators: a date and time for Django's date filter (docs: "date" template filter).
        pattern = pgettext("local datetime", "D j M Y, H:i") if date else "H:i"
        return f"{dateformat.format(local, pattern)} {zone_label(local)}"


def event_time(event, dt: datetime | None, *, date: bool = True) -> str:
    """`dt` as the event's audience reads it: its zone, its language."""
    return local_format(dt, tz=event.time_zone, language=event.language, date=date)


def zone_labels(tz: str | None, *, around: datetime, days: int = 400) -> dict[int, str]:
    """{UTC offset in minutes: label} the zone uses within `days` of `around`.

    The venue screen labels times it formats itself (in the browser) with these.
    """
    tzinfo_ = zone(tz)
    labels: dict[int, str] = {}
    start = around.astimezone(UTC) - timedelta(days=days // 4)
    for day in range(0, days, 7):
        local = (start + timedelta(days=day)).astimezone(tzinfo_)
        offset = int((local.utcoffset() or timedelta(0)).total_seconds()) // 60
        labels.setdefault(offset, zone_label(local))
    return labels
