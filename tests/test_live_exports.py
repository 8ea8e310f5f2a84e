"""Participant and check-in exports: right content, staff only, streamed."""

import csv
import io

import pytest
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from openpyxl import load_workbook

from live.models import CheckIn, Entry
from tests.conftest import assert_error
from tests.factories import draw_url, make_draw, make_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def draw(make_user):
    draw = make_draw(kind="lottery", prizes=[{"name": "Car", "rank": 1, "matches": 0}])
    ann = make_user(first_name="Ann", last_name="Lee", phone="+79161230001",
                    phone_verified_at=timezone.now())
    bob = make_user(first_name="=cmd|' /C calc'!A0")
    Entry.objects.create(draw=draw, user=ann, position=1, numbers="1,2,3")
    Entry.objects.create(draw=draw, user=bob, position=2, numbers="4,5,6")
    draw.entries_count = 2
    draw.save(update_fields=["entries_count"])
    return draw


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_participants_csv_lists_every_entry_with_its_prize(staff_api, draw):
    Entry.objects.filter(position=2).update(forwarded_at=timezone.now())
    draw.prizes.update(matches=None)  # no tier wins, then give the car to Ann by hand
    from live.models import Winner

    entry = Entry.objects.get(position=1)
    Winner.objects.create(draw=draw, prize=draw.prizes.get(), entry=entry, user=entry.user,
                          claim_deadline=timezone.now())
    response = staff_api.get(draw_url(draw, "participants.csv"))
    assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"] == (
        f'attachment; filename="draw-{draw.pk}-participants.csv"')
    header, ann, bob = csv_rows(response)
    assert header[:4] == ["entry_id", "position", "user_id", "name"]
    # Phones in E.164 are exported as they are; a name that is a formula is defused.
    assert ann[1:7] == ["1", str(entry.user_id), "Ann Lee", entry.user.email,
                        "+79161230001", "True"]
    assert ann[8:10] == ["1,2,3", "Car"] and ann[10] == ""
    assert bob[3].startswith("'=")  # a formula is defused
    assert bob[9] == "" and bob[10] != ""


def test_participants_xlsx_has_the_same_rows(staff_api, draw):
    response = staff_api.get(draw_url(draw, "participants.xlsx"))
    assert response.status_code == 200 and isinstance(response, FileResponse)
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3 and rows[1][3] == "Ann Lee" and rows[1][8] == "1,2,3"


def test_export_url_answers_without_the_trailing_slash_and_dot_is_literal(staff_api, draw):
    assert staff_api.get(draw_url(draw)[:-1] + "/participants.csv").status_code == 200
    assert staff_api.get(draw_url(draw) + "participantsxcsv").status_code == 404


def test_checkins_csv_and_xlsx(staff_api, make_user):
    event = make_event()
    ann = make_user(first_name="Ann")
    CheckIn.objects.create(event=event, user=ann)
    CheckIn.objects.create(event=make_event(), user=make_user())  # another event's
    response = staff_api.get(f"/api/events/{event.pk}/checkins.csv")
    assert isinstance(response, StreamingHttpResponse)
    header, row = csv_rows(response)
    assert header[0] == "checkin_id" and row[1:4] == [str(ann.pk), "Ann", ann.email]
    xlsx = staff_api.get(f"/api/events/{event.pk}/checkins.xlsx")
    assert isinstance(xlsx, FileResponse)
    sheet = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).active
    assert len(list(sheet.iter_rows(values_only=True))) == 2


@pytest.mark.parametrize("path", ["participants.csv", "participants.xlsx"])
def test_participant_exports_are_staff_only(api, user_api, draw, path):
    assert_error(api.get(draw_url(draw, path)), 401, "not_authenticated")
    assert_error(user_api.get(draw_url(draw, path)), 403, "permission_denied")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_checkin_exports_are_staff_only(api, user_api, fmt):
    event = make_event()
    assert_error(api.get(f"/api/events/{event.pk}/checkins.{fmt}"), 401, "not_authenticated")
    assert_error(user_api.get(f"/api/events/{event.pk}/checkins.{fmt}"), 403,
                 "permission_denied")


def test_export_of_a_draw_of_another_event_is_404(staff_api, draw):
    other = make_event()
    response = staff_api.get(f"/api/events/{other.pk}/draws/{draw.pk}/participants.csv")
    assert_error(response, 404, "draw_not_found")


def test_rows_come_from_a_chunked_iterator(draw, monkeypatch):
    """The export reads in chunks: rows are produced before the query is exhausted."""
    from live import exports

    monkeypatch.setattr(exports, "EXPORT_CHUNK", 1)
    rows = exports.participant_rows(draw)
    assert next(rows)[1] == 1  # first row out while the second is not fetched yet
    assert next(rows)[1] == 2
