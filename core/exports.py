"""Streamed CSV and Excel exports: rows come from an iterator and never sit in memory together.

CSV is streamed straight to the client (StreamingHttpResponse over a generator).
Excel (openpyxl's write-only workbook) is written row by row to a temporary
file, which is then streamed; memory stays flat either way (bench/exports.py).

Times are written in the zone the caller names (an event's, default TIME_ZONE): in
CSV as local ISO 8601 with the offset ("2026-12-05T19:30:00+01:00"), in Excel as the
local date and time (spreadsheets have no zones); `zoned_header` names the zone in
the time columns' headers of both.
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime

from django.http import FileResponse, StreamingHttpResponse
from openpyxl import Workbook

from core.local_time import UTC, zone

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Cells starting with these are formulas to a spreadsheet: prefix them so an
# attendee named "=HYPERLINK(...)" cannot run anything on the organiser's machine.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


_E164 = re.compile(r"^\+[0-9]{6,15}$")


def safe_cell(value: object, tz: str | None = None) -> object:
    """A cell's value made safe for a spreadsheet; an aware datetime moved into zone `tz`."""
    # A phone in E.164 ("+79991234567") is digits only: no formula can hide in it.
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES) and not _E164.match(value):
        return "'" + value
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(zone(tz))
    return value


def zoned_header(header: Sequence[str], time_columns: Iterable[str], tz: str | None):
    """The header with the zone named on each time column: "entered_at (Europe/Berlin)"."""
    times = set(time_columns)
    name = str(zone(tz))
    return [f"{column} ({name})" if column in times else column for column in header]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]], *,
              tz: str | None = None) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # BOM: Excel opens UTF-8 CSV with names in Cyrillic correctly
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_csv_value(safe_cell(v, tz)) for v in row])


def _csv_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]], *,
                 tz: str | None = None):
    response = StreamingHttpResponse(csv_lines(header, rows, tz=tz),
                                     content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _xlsx_value(value: object) -> object:
    # Excel has no zones: the local date and time, whose zone the header names.
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def write_xlsx(file, header: Sequence[str], rows: Iterable[Sequence[object]], *, title: str,
               tz: str | None = None):
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "Sheet")
    sheet.append(list(header))
    for row in rows:
        sheet.append([_xlsx_value(safe_cell(v, tz)) for v in row])
    workbook.save(file)


def xlsx_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]], *,
                  title: str = "Export", tz: str | None = None):
    # Spooled: small exports stay in memory, large ones spill to disk.
    buffer = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 (FileResponse closes it)
    write_xlsx(buffer, header, rows, title=title, tz=tz)
    buffer.seek(0)
    return FileResponse(
        buffer, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE
    )
