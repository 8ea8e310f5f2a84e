"""Times people can read and texts in their language (issue 15).

- The API writes every datetime in ISO 8601 with its offset.
- Messages, exports and the venue screen write the event's local time and name its zone.
- Error details, emails, SMS, the account pages and the venue screen speak English or
  Russian: the API by Accept-Language (on both middleware chains), screens and messages
  about an event by the event's language. Error codes never change.
- The Russian catalog is complete, and the compiled .mo matches its .po.
"""

from __future__ import annotations

import csv
import gettext
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polib
import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone
from openpyxl import load_workbook

from core.local_time import local_format, zone_label
from live.models import CheckIn, Winner
from live.notifications import winners_notify
from live.services.checkin import screen_key_issue
from live.services.performing import draw_perform
from tests.conftest import assert_error, client_for
from tests.factories import make_draw, make_event

pytestmark = pytest.mark.django_db

CATALOG = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES" / "django.po"
# 2026-12-05 18:30 UTC: winter, so Berlin is CET (+01:00) and Moscow MSK (+03:00).
WINTER = datetime(2026, 12, 5, 18, 30, tzinfo=UTC)


# --- The helper ---------------------------------------------------------------------


def test_a_time_is_written_in_the_zone_with_its_label():
    assert local_format(WINTER, tz="Europe/Berlin", language="en") == "Sat 5 Dec 2026, 19:30 CET"
    assert local_format(WINTER + timedelta(days=200), tz="Europe/Berlin", language="en") == (
        "Wed 23 Jun 2027, 20:30 CEST")
    assert local_format(WINTER, tz="Europe/Moscow", language="ru") == (
        "Сб, 5 декабря 2026, 21:30 MSK")
    assert local_format(WINTER, tz="Europe/Moscow", date=False) == "21:30 MSK"


def test_a_zone_without_an_abbreviation_is_labelled_by_its_offset():
    assert zone_label(WINTER.astimezone(ZoneInfo("Asia/Dubai"))) == "UTC+04:00"
    assert local_format(WINTER, tz="America/Sao_Paulo", language="en").endswith("UTC-03:00")


# --- Events: zone and language ------------------------------------------------------


def test_an_event_takes_the_servers_zone_and_language_unless_it_names_its_own(staff_api,
                                                                              settings):
    settings.TIME_ZONE = "Europe/Berlin"
    created = staff_api.post("/api/events/", {"title": "Fair", "starts_at": "2030-01-01T10:00Z"})
    assert created.status_code == 201, created.json()
    assert created.json()["time_zone"] == "Europe/Berlin"
    assert created.json()["language"] == "en"
    own = staff_api.post("/api/events/", {"title": "Ярмарка", "starts_at": "2030-01-01T10:00Z",
                                          "time_zone": "Europe/Moscow", "language": "ru"})
    assert (own.json()["time_zone"], own.json()["language"]) == ("Europe/Moscow", "ru")
    changed = staff_api.patch(f"/api/events/{own.json()['id']}/", {"language": "en"})
    assert changed.status_code == 200 and changed.json()["language"] == "en"


def test_an_unknown_zone_or_language_is_refused_by_the_api_and_the_model(staff_api):
    for field, value in (("time_zone", "Mars/Olympus"), ("language", "de")):
        response = staff_api.post("/api/events/", {
            "title": "x", "starts_at": "2030-01-01T10:00Z", field: value})
        body = assert_error(response, 400, "invalid")
        assert field in body["fields"]
    with pytest.raises(ValidationError) as refused:
        make_event(time_zone="Mars/Olympus").full_clean()
    assert "time_zone" in refused.value.message_dict


# --- API datetimes carry their offset -------------------------------------------------

ISO_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
WITH_OFFSET = re.compile(r"(Z|[+-]\d\d:\d\d)$")


def _datetimes(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _datetimes(v)]
    if isinstance(value, list):
        return [s for v in value for s in _datetimes(v)]
    return [value] if isinstance(value, str) and ISO_DATETIME.match(value) else []


@pytest.mark.parametrize("server_zone", ["UTC", "Europe/Berlin"])
def test_every_api_datetime_carries_its_offset(user_api, user, settings, server_zone):
    settings.TIME_ZONE = server_zone
    event = make_event(time_zone="Europe/Moscow", ends_at=timezone.now() + timedelta(days=2))
    draw = make_draw(event, scheduled_at=timezone.now() + timedelta(hours=3))
    found = []
    for path in (f"/api/events/{event.pk}/", "/api/events/", f"/api/events/{event.pk}/draws/",
                 f"/api/events/{event.pk}/draws/{draw.pk}/", "/api/accounts/me/"):
        response = user_api.get(path)
        assert response.status_code == 200, (path, response.content)
        found += _datetimes(response.json())
    # The early check-in answer formats its own datetime (core.local_time.api_iso).
    early = make_event(starts_at=timezone.now() + timedelta(days=3), checkin_opens_before=60)
    found += _datetimes(user_api.post(f"/api/events/{early.pk}/checkin/", {}).json())
    assert len(found) >= 8, found
    assert all(WITH_OFFSET.search(value) for value in found), found
    if server_zone == "UTC":  # one form: Z, as DRF's fields and encoder write UTC
        assert all(value.endswith("Z") for value in found), found


# --- Messages: the event's language, its local time and zone ---------------------------


def _winner_of(event, user, *, deadline):
    draw = make_draw(event, kind="external", prizes=[{"name": "Bicycle", "rank": 1}])
    (prize,) = draw.prizes.all()
    draw_perform(draw=draw, actor=None, source="scheduler",
                 external_winners=[{"prize_id": prize.pk, "user_id": user.pk}])
    Winner.objects.filter(draw=draw).update(claim_deadline=deadline)
    return draw


def test_a_russian_events_winner_sms_is_in_russian_with_moscow_time(make_user, sms_outbox):
    event = make_event(title="Кубок", time_zone="Europe/Moscow", language="ru")
    texted = make_user(phone="+79161230001", phone_verified_at=timezone.now())
    draw = _winner_of(event, texted, deadline=WINTER)
    assert winners_notify(draw=draw).sent == 1
    (sms,) = sms_outbox
    assert sms.text == ("Вы выиграли Bicycle в розыгрыше «Grand raffle»! Получите приз в "
                        "приложении Tombola до Сб, 5 декабря 2026, 21:30 MSK.")


def test_a_berlin_events_winner_email_names_the_local_time_and_zone(make_user):
    event = make_event(time_zone="Europe/Berlin", language="en")
    mailed = make_user(email="winner@example.com")
    draw = _winner_of(event, mailed, deadline=WINTER)
    winners_notify(draw=draw)
    (email,) = mail.outbox
    assert email.subject == "You won Bicycle"
    assert "before Sat 5 Dec 2026, 19:30 CET." in email.body  # not 18:30, unlabelled


def test_a_winner_email_links_the_draws_verifier_and_the_sms_stays_short(make_user,
                                                                          sms_outbox, settings):
    from live.notifications import winner_message
    from live.services.draws import draw_enter

    settings.PUBLIC_BASE_URL = "https://tombola.example/"

    event = make_event(time_zone="Europe/Berlin", language="ru")
    draw = make_draw(event, prizes=[{"name": "Bicycle", "rank": 1, "quantity": 2}])
    mailed, texted = make_user(email="mailed@example.com"), make_user(
        email="texted@example.com", phone="+79161230002", phone_verified_at=timezone.now())
    for user in (mailed, texted):
        draw_enter(draw=draw, user=user)
    draw = draw_perform(draw=draw, actor=None, source="scheduler")
    assert winners_notify(draw=draw).sent == 2
    link = f"/app/#/events/{event.pk}/draws/{draw.pk}/verify"
    (email,) = mail.outbox
    assert email.body.endswith("Проверьте этот розыгрыш сами, шаг за шагом: "
                               "https://tombola.example" + link)
    (sms,) = sms_outbox  # one message: no link
    assert "/verify" not in sms.text
    # An external draw has no proof: no link.
    external = _winner_of(event, make_user(email="ext@example.com"), deadline=WINTER)
    mail.outbox.clear()
    winners_notify(draw=external)
    (email,) = mail.outbox
    assert "/verify" not in email.body
    assert winner_message(external.winners.get())[1] in email.body
    # Without a host to link to (a command on embedded defaults), no relative link.
    settings.PUBLIC_BASE_URL = ""
    from live.notifications import verifier_line

    assert verifier_line(draw) == ""


def test_a_russian_events_winner_email_is_in_russian(make_user):
    event = make_event(time_zone="Europe/Berlin", language="ru")
    draw = _winner_of(event, make_user(email="pobeditel@example.com"), deadline=WINTER)
    winners_notify(draw=draw)
    (email,) = mail.outbox
    assert email.subject == "Вы выиграли: Bicycle"
    assert "до Сб, 5 декабря 2026, 19:30 CET." in email.body


def test_the_phone_code_sms_speaks_the_language_of_the_request(user_api, sms_outbox):
    response = user_api.post("/api/accounts/phone/verification/", {"phone": "+4915112345678"},
                             HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code in (200, 201, 202), response.content
    (sms,) = sms_outbox
    assert sms.text.startswith("Ваш код Tombola: ")


# --- Exports: local times, zone named -------------------------------------------------


def test_a_checkin_export_writes_local_times_and_names_the_zone(staff_api, make_user):
    event = make_event(time_zone="Europe/Berlin")
    checkin = CheckIn.objects.create(event=event, user=make_user(first_name="Ann"))
    CheckIn.objects.filter(pk=checkin.pk).update(created_at=WINTER)
    response = staff_api.get(f"/api/events/{event.pk}/checkins.csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header, row = list(csv.reader(io.StringIO(text)))
    assert header[-1] == "checked_in_at (Europe/Berlin)"
    assert row[-1] == "2026-12-05T19:30:00+01:00"
    xlsx = staff_api.get(f"/api/events/{event.pk}/checkins.xlsx")
    sheet = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).active
    header, row = list(sheet.iter_rows(values_only=True))
    assert header[-1] == "checked_in_at (Europe/Berlin)"
    assert row[-1] == datetime(2026, 12, 5, 19, 30)  # the local time Excel shows


# --- API errors by Accept-Language ---------------------------------------------------


def test_an_api_error_is_in_english_by_default_and_russian_when_asked(user_api):
    english = assert_error(user_api.get("/api/events/999999/"), 404, "event_not_found")
    assert english["detail"] == "No such event."
    russian = user_api.get("/api/events/999999/", HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9,en;q=0.5")
    assert assert_error(russian, 404, "event_not_found")["detail"] == "Такого мероприятия нет."
    assert russian["Content-Language"] == "ru"
    assert "Accept-Language" in russian["Vary"]
    german = user_api.get("/api/events/999999/", HTTP_ACCEPT_LANGUAGE="de")
    assert german.json()["detail"] == "No such event."  # a language we do not ship: English
    # An error Django answers before DRF (an unknown path, core.errors.api_json_errors).
    nowhere = user_api.get("/api/nowhere/", HTTP_ACCEPT_LANGUAGE="ru")
    assert assert_error(nowhere, 404, "not_found")["detail"] == "Не найдено."
    assert nowhere["Content-Language"] == "ru"


def test_the_bearer_token_chain_chooses_the_language_too(user):
    # Bearer /api/ requests skip the browser middleware (core/http.py TokenAPIHandler);
    # the language middleware is on that chain as well.
    assert "core.i18n.choose_language" in settings.TOKEN_API_MIDDLEWARE
    with override_settings(MIDDLEWARE=settings.TOKEN_API_MIDDLEWARE):
        response = client_for(user).post("/api/events/999999/checkin/", {},
                                         HTTP_ACCEPT_LANGUAGE="ru")
    assert assert_error(response, 404, "event_not_found")["detail"] == "Такого мероприятия нет."


def test_a_domain_error_with_values_and_a_validation_error_in_russian(user_api, api):
    early = make_event(starts_at=WINTER + timedelta(days=3650), checkin_opens_before=60,
                       time_zone="Europe/Moscow")
    refused = user_api.post(f"/api/events/{early.pk}/checkin/", {}, HTTP_ACCEPT_LANGUAGE="ru")
    body = assert_error(refused, 409, "checkin_not_open_yet")
    opens = local_format(early.starts_at - timedelta(minutes=60), tz="Europe/Moscow",
                         language="ru")
    assert body["detail"] == f"Регистрация откроется {opens}."
    assert "MSK" in body["detail"] and body["opens_at"].endswith("Z")
    # DRF's and Django's own messages come from their Russian catalogs.
    invalid = api.post("/api/accounts/register/", {}, HTTP_ACCEPT_LANGUAGE="ru")
    body = assert_error(invalid, 400, "invalid")
    assert body["detail"] == "Неверные данные."
    assert body["fields"]["email"] == ["Обязательное поле."]


# --- Pages: the account pages by the browser, the venue screen by the event ------------


def test_the_account_pages_follow_the_browsers_language(client):
    russian = client.get("/reset-password", HTTP_ACCEPT_LANGUAGE="ru")
    assert '<html lang="ru">' in russian.content.decode()
    assert "Забыли пароль?" in russian.content.decode()
    assert "Forgot your password?" in client.get("/reset-password").content.decode()


def test_the_venue_screen_speaks_the_events_language_and_zone(client, staff):
    event = make_event(title="Кубок", starts_at=WINTER, time_zone="Europe/Moscow",
                       language="ru")
    _, key = screen_key_issue(event=event, actor=staff)
    page = client.get(f"/screen/events/{event.pk}/?key={key}",
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()  # the event decides
    assert '<html lang="ru">' in page
    assert '"winners-heading">Победители</h2>' in page and ">Winners</h2>" not in page
    assert ">Сб, 5 декабря 2026, 21:30 MSK<" in page
    config = json.loads(re.search(r'id="screen-config"[^>]*>(.*?)</script>', page).group(1))
    assert (config["language"], config["time_zone"]) == ("ru", "Europe/Moscow")
    assert config["zone_labels"] == {"180": "MSK"}  # the script labels its times with these
    assert config["strings"]["draw_at"] == "в {time}" and config["strings"]["live"] == "в эфире"
    assert config["strings"]["imported"] == "Победители внешнего розыгрыша"
    refused = client.get(f"/screen/events/{event.pk}/?key=wrong")
    assert refused.status_code == 403
    assert "Этот ключ экрана недействителен" in refused.content.decode()


# --- The Russian catalog -------------------------------------------------------------


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\(\w+\)[sd]|\{\w+\}", text))


def test_every_message_has_a_russian_translation_with_the_same_placeholders():
    catalog = polib.pofile(str(CATALOG))
    assert len(catalog) > 150
    assert not catalog.fuzzy_entries() and not catalog.untranslated_entries()
    for entry in catalog:
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [
            entry.msgstr]
        for text in translations:
            assert _placeholders(text) == _placeholders(entry.msgid), entry.msgid


def test_the_compiled_catalog_matches_its_source():
    mo_path = CATALOG.with_suffix(".mo")
    assert mo_path.exists(), "run `make setup` (manage.py compile_translations)"
    with mo_path.open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for entry in polib.pofile(str(CATALOG)):
        message = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        if entry.msgid_plural:
            assert compiled.ngettext(entry.msgid, entry.msgid_plural, 5) == (
                entry.msgstr_plural[2]), "stale .mo: run `make setup`"
        else:
            assert compiled._catalog.get(message) == entry.msgstr, (
                f"stale .mo for {entry.msgid!r}: run `make setup`")



def test_payment_errors_speak_the_requests_language():
    from django.utils import translation

    from ticketing.errors import PaymentNotFound, TopUpDailyLimitReached

    with translation.override("ru"):
        assert PaymentNotFound().as_dict()["detail"] == "Такого платежа нет."
        assert "не более 5 в сутки" in TopUpDailyLimitReached(limit=5, used=3).as_dict()["detail"]
    with translation.override("en"):
        assert PaymentNotFound().as_dict()["detail"] == "No such payment."
