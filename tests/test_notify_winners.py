"""Notify winners: SMS to a verified phone, else email; logged; never twice per prize."""

import pytest
from django.core import mail
from django.utils import timezone

from live.models import Winner, WinnerNotification
from live.notifications import winners_notify
from live.services.performing import draw_perform
from tests.conftest import assert_error
from tests.factories import draw_url, make_draw
from tests.receivers import http_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def draw(make_user):
    draw = make_draw(kind="external", prizes=[{"name": "Car", "rank": 1},
                                              {"name": "Mug", "rank": 2}])
    texted = make_user(email="sms@example.com", phone="+79161230001",
                       phone_verified_at=timezone.now())
    mailed = make_user(email="mail@example.com", phone="+79161230002")  # unverified phone
    car, mug = draw.prizes.order_by("rank")
    draw_perform(draw=draw, actor=None, source="scheduler", external_winners=[
        {"prize_id": car.pk, "user_id": texted.pk}, {"prize_id": mug.pk, "user_id": mailed.pk}])
    return draw


def test_winners_get_an_sms_or_an_email_and_it_is_logged(staff_api, draw, sms_outbox):
    response = staff_api.post(draw_url(draw, "notify"))
    assert response.status_code == 200
    assert response.json() == {"sent": 2, "failed": 0, "skipped": 0}
    (sms,) = sms_outbox
    assert sms.to == "+79161230001" and "Car" in sms.text
    (email,) = mail.outbox
    assert email.to == ["mail@example.com"] and "Mug" in email.subject
    log = {n.channel: n for n in WinnerNotification.objects.all()}
    assert log["sms"].status == "sent" and log["email"].status == "sent"


def test_a_second_run_sends_nothing_again(staff_api, draw, sms_outbox):
    staff_api.post(draw_url(draw, "notify"))
    again = staff_api.post(draw_url(draw, "notify"))
    assert again.json() == {"sent": 0, "failed": 0, "skipped": 2}
    assert len(sms_outbox) == 1 and len(mail.outbox) == 1
    assert WinnerNotification.objects.count() == 2


def test_failed_sms_is_logged_and_does_not_stop_the_others(draw, settings):
    settings.SMS_BACKEND = "http"
    with http_receiver(statuses=[503]) as provider:
        settings.SMS_HTTP_URL = provider.url
        report = winners_notify(draw=draw)
    assert report.as_dict() == {"sent": 1, "failed": 1, "skipped": 0}
    assert len(provider.requests) == 1 and len(mail.outbox) == 1
    failed = WinnerNotification.objects.get(channel="sms")
    assert failed.status == "failed" and "SmsUnavailable" in failed.error


def test_a_failed_message_is_retried_by_the_next_run(draw, settings):
    settings.SMS_BACKEND = "http"
    with http_receiver(statuses=[503, 200]) as provider:
        settings.SMS_HTTP_URL = provider.url
        winners_notify(draw=draw)
        report = winners_notify(draw=draw)
    assert report.as_dict() == {"sent": 1, "failed": 0, "skipped": 1}
    sms = WinnerNotification.objects.get(channel="sms")
    assert sms.status == "sent" and sms.attempts == 2 and sms.error == ""
    assert len(provider.requests) == 2


def test_forfeited_winners_are_not_notified(draw, sms_outbox):
    Winner.objects.filter(user__email="mail@example.com").update(forfeited_at=timezone.now())
    assert winners_notify(draw=draw).sent == 1
    assert not mail.outbox


def test_notify_before_perform_is_409(staff_api):
    assert_error(staff_api.post(draw_url(make_draw(), "notify")), 409, "not_performed")


def test_notify_is_staff_only(api, user_api, draw, sms_outbox):
    assert_error(api.post(draw_url(draw, "notify")), 401, "not_authenticated")
    assert_error(user_api.post(draw_url(draw, "notify")), 403, "permission_denied")
    assert not sms_outbox and not WinnerNotification.objects.exists()


def test_the_database_refuses_a_second_notification_for_a_winner(draw):
    from django.db import IntegrityError, transaction

    winner = Winner.objects.first()
    WinnerNotification.objects.create(winner=winner, channel="sms", to="x", status="sent")
    with pytest.raises(IntegrityError), transaction.atomic():
        WinnerNotification.objects.create(winner=winner, channel="email", to="y", status="sent")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_message_once(draw, sms_outbox):
    import threading

    from django.db import connection

    reports = []
    barrier = threading.Barrier(2)

    def run():
        barrier.wait()
        reports.append(winners_notify(draw=draw))
        connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sms_outbox) == 1 and len(mail.outbox) == 1
    assert sum(r.sent for r in reports) == 2 and sum(r.skipped for r in reports) == 2
