"""Streamed CSV and Excel exports: rows come from an iterator and never sit in memory together.

CSV is streamed straight to the client (StreamingHttpResponse over a generator).
Excel (openpyxl's write-only workbook) is written row by row to a temporary
file, which is then streamed; memory stays flat either way (bench/exports.py).
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from openpyxl import Workbook

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Cells starting with these are formulas to a spreadsheet: prefix them so an
# attendee named "=HYPERLINK(...)" cannot run anything on the organiser's machine.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


_E164 = re.compile(r"^\+[0-9]{6,15}$")


def safe_cell(value: object) -> object:
    # A phone in E.164 ("+79991234567") is digits only: no formula can hide in it.
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES) and not _E164.match(value):
        return "'" + value
    if isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # BOM: Excel opens UTF-8 CSV with names in Cyrillic correctly
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_csv_value(safe_cell(v)) for v in row])


def _csv_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else value


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]):
    response = StreamingHttpResponse(csv_lines(header, rows), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def write_xlsx(file, header: Sequence[str], rows: Iterable[Sequence[object]], *, title: str):
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "Sheet")
    sheet.append(list(header))
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
    workbook.save(file)


def xlsx_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]], *,
                  title: str = "Export"):
    # Spooled: small exports stay in memory, large ones spill to disk.
    buffer = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 (FileResponse closes it)
    write_xlsx(buffer, header, rows, title=title)
    buffer.seek(0)
    return FileResponse(
        buffer, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE
    )
