"""Streamed CSV/Excel building blocks (the participant and check-in exports use them)."""

import csv
import io
from datetime import UTC, datetime

from openpyxl import load_workbook

from core.exports import csv_lines, csv_response, write_xlsx, xlsx_response

HEADER = ["id", "name", "joined"]


def _rows(n):
    for i in range(n):
        yield [i, f"Name {i}", datetime(2026, 1, 1, 12, tzinfo=UTC)]


def test_csv_is_streamed_row_by_row_and_parses_back():
    response = csv_response("p.csv", HEADER, _rows(3))
    assert response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="p.csv"'
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == HEADER
    # Times carry their offset (the default zone, settings.TIME_ZONE, is UTC here).
    assert parsed[1] == ["0", "Name 0", "2026-01-01T12:00:00+00:00"]
    assert len(parsed) == 4


def test_csv_generator_does_not_consume_rows_ahead():
    consumed = []

    def rows():
        for i in range(1000):
            consumed.append(i)
            yield [i, "x", None]

    lines = csv_lines(HEADER, rows())
    next(lines), next(lines), next(lines)  # BOM, header, first row
    assert consumed == [0]


def test_formula_cells_are_neutralised_in_both_formats(tmp_path):
    evil = [[1, '=HYPERLINK("http://evil.example","x")', None]]
    text = "".join(csv_lines(HEADER, evil))
    assert "'=HYPERLINK" in text
    path = tmp_path / "e.xlsx"
    write_xlsx(path, HEADER, evil, title="t")
    sheet = load_workbook(path).active
    assert sheet["B2"].value.startswith("'=")


def test_xlsx_response_is_a_real_workbook():
    response = xlsx_response("p.xlsx", HEADER, _rows(5), title="Participants")
    body = b"".join(response.streaming_content)
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet.title == "Participants"
    assert [c.value for c in sheet[1]] == HEADER
    assert sheet.max_row == 6
    assert sheet["C2"].value == datetime(2026, 1, 1, 12)


def test_e164_phones_stay_as_they_are_but_formulas_do_not():
    text = "".join(csv_lines(["phone"], [["+79991234567"], ["+1 (555) =1+1"], ["-2+3"]]))
    assert "\r\n+79991234567\r\n" in text
    assert "'+1 (555) =1+1" in text and "'-2+3" in text
