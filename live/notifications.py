"""Telling winners they won: an SMS to a verified phone, else an email; once per prize won.

Written in the event's language, with the claim deadline in the event's local time and
its zone ("Sat 5 Dec 2026, 19:30 CET", core/local_time.py).

Each winner is handled in its own transaction under its row lock, so a failing
SMS provider costs only that winner's message (logged as failed and retried by
the next run) and two runs at once never send the same message twice.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.errors import SmsUnavailable
from core.links import absolute_url
from core.local_time import event_time
from core.sms import send_sms
from live.errors import NotPerformed
from live.models import Draw, Winner, WinnerNotification

logger = logging.getLogger(__name__)
SENT = WinnerNotification.Status.SENT


@dataclass(frozen=True)
class NotifyReport:
    sent: int
    failed: int
    skipped: int  # already notified before this run

    def as_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped}


def winner_message(winner: Winner) -> tuple[str, str]:
    """(subject, text) in the event's language; the deadline in its zone."""
    event = winner.draw.event
    with translation.override(event.language):
        names = {"prize": winner.prize.name, "draw": winner.draw.title,
                 "deadline": event_time(event, winner.claim_deadline)}
        return (_("You won %(prize)s") % names,
                _("You won %(prize)s in %(draw)s! Claim it in the Tombola app before "
                  "%(deadline)s.") % names)


def verifier_line(draw: Draw) -> str:
    """For the winner's email: the link to the attendee app's verifier, where the phone
    recomputes the draw from its public proof (an external draw has none). Only with
    PUBLIC_BASE_URL: winners are told from a staff request or the scheduler, whose host
    (an admin name, a tunnel) is not necessarily one the public can reach."""
    if draw.kind == Draw.Kind.EXTERNAL or not settings.PUBLIC_BASE_URL:
        return ""
    with translation.override(draw.event.language):
        return "\n\n" + _("Check this draw yourself, step by step: %(url)s") % {
            "url": absolute_url(f"/app/#/events/{draw.event_id}/draws/{draw.pk}/verify")}


def _send(winner: Winner) -> tuple[str, str, str]:
    """Send one winner's message; (channel, to, error) with error "" on success."""
    user = winner.user
    subject, text = winner_message(winner)
    if user.phone and user.is_phone_verified:
        channel, to = WinnerNotification.Channel.SMS, user.phone
    else:
        channel, to = WinnerNotification.Channel.EMAIL, user.email
    try:
        if channel == WinnerNotification.Channel.SMS:
            send_sms(to=to, text=text)
        else:  # an SMS stays one message; an email has room for the verifier's link
            send_mail(subject, text + verifier_line(winner.draw), None, [to])
    except (SmsUnavailable, smtplib.SMTPException, OSError) as exc:
        logger.warning("Winner %s: %s to %s failed: %s", winner.pk, channel, to, exc)
        return channel, to, f"{exc.__class__.__name__}: {exc}"[:500]
    return channel, to, ""


def _notify_one(winner_id: int) -> str:
    """'sent', 'failed' or 'skipped' for one winner, in its own transaction."""
    with transaction.atomic():
        winner = (Winner.objects.select_for_update(of=("self",))
                  .select_related("user", "prize", "draw__event")
                  .get(pk=winner_id))
        previous = WinnerNotification.objects.filter(winner=winner).first()
        if previous is not None and previous.status == SENT:
            return "skipped"
        channel, to, error = _send(winner)
        status = WinnerNotification.Status.FAILED if error else SENT
        WinnerNotification.objects.update_or_create(winner=winner, defaults={
            "channel": channel, "to": to, "status": status, "error": error,
            "attempts": (previous.attempts if previous else 0) + 1,
            "updated_at": timezone.now()})
        return status


def winners_notify(*, draw: Draw) -> NotifyReport:
    """Send every current winner of `draw` their message unless it was sent already.

    One transaction per winner (row lock on the winner); a send that fails is
    logged as ``failed`` and retried by the next run; a sent one is never repeated
    (WinnerNotification is one-to-one with the winner). Raises NotPerformed (409).
    """
    if not Draw.objects.filter(pk=draw.pk, status=Draw.Status.PERFORMED).exists():
        raise NotPerformed()
    # One read decides what each winner counts as in this run's report: two
    # separate queries (sent count, then pending list) could miss a winner that
    # another run notified in between.
    winners = (Winner.objects.filter(draw=draw, forfeited_at__isnull=True).order_by("id")
               .values_list("id", "notification__status"))
    counts = {"sent": 0, "failed": 0, "skipped": 0}
    for winner_id, status in list(winners):
        counts["skipped" if status == SENT else _notify_one(winner_id)] += 1
    return NotifyReport(**counts)
