"""The order confirmation email: the tickets with their QR codes in the body and as a
PDF attachment (ticketing/ticket_pdf.py).

Sent by the scheduler (``order_confirmations_send``, every second), not by the purchase:
drawing the QR codes and the PDF costs tens of milliseconds of CPU an order, which in
the purchase's own request made every buyer of a sale's rush wait for it
(bench/waiting_room.py: purchase p50 810 ms against 358 for a hold). A rolled-back
purchase leaves no order, so nothing is sent for it. At most once per order: the send
first claims the order with one conditional UPDATE (confirmation_sent_at NULL -> now),
so two schedulers claim it once, and an idempotent retry of the purchase makes no
second order. A send that fails un-claims the order and is tried again after
RETRY_AFTER (per scheduler process), for a day. A process that dies between the claim
and the send loses that email: once at most, never twice.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from email.mime.image import MIMEImage

from django.core.mail import EmailMultiAlternatives
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext

from ticketing.models import Order, Ticket
from ticketing.services.ticket_codes import ticket_code
from ticketing.ticket_pdf import qr_png, ticket_lines, tickets_pdf

logger = logging.getLogger(__name__)

# Orders are confirmed for a day after their purchase; a send that failed is tried again
# after RETRY_AFTER (remembered per process: at most that often per scheduler).
RETRY_AFTER = 60.0
RETRY_WINDOW = timedelta(days=1)
_failed_until: dict[int, float] = {}  # order id -> monotonic time of its next try
_clock = time.monotonic


def order_confirmation_send(*, order_id: int) -> bool:
    """Send the order's confirmation unless it was (being) sent. -> True when sent now."""
    now = timezone.now()
    if not Order.objects.filter(pk=order_id, confirmation_sent_at__isnull=True).update(
            confirmation_sent_at=now):
        return False
    try:
        _send(order_id)
    except Exception:
        Order.objects.filter(pk=order_id, confirmation_sent_at=now).update(
            confirmation_sent_at=None)
        if len(_failed_until) > 10_000:
            _failed_until.clear()
        _failed_until[order_id] = _clock() + RETRY_AFTER
        logger.exception("order %s: confirmation email failed; tried again in %.0f s",
                         order_id, RETRY_AFTER)
        return False
    _failed_until.pop(order_id, None)
    return True


def order_confirmations_send(*, limit: int = 50) -> int:
    """The scheduler's job: confirm the orders not confirmed yet, oldest first (those whose
    send failed here less than RETRY_AFTER ago wait). -> how many were sent now."""
    moment = _clock()
    waiting = [pk for pk, until in _failed_until.items() if until > moment]
    due = list(Order.objects.filter(confirmation_sent_at__isnull=True,
                                    created_at__gte=timezone.now() - RETRY_WINDOW)
               .exclude(pk__in=waiting)
               .order_by("created_at").values_list("pk", flat=True)[:limit])
    return sum(order_confirmation_send(order_id=pk) for pk in due)


def order_tickets(order_id: int) -> list[Ticket]:
    return list(Ticket.objects.filter(order_id=order_id, status=Ticket.Status.VALID)
                .select_related("event__venue", "event__signing_key", "seat__row__section",
                                "user").order_by("id"))


def _send(order_id: int) -> None:
    tickets = order_tickets(order_id)
    if not tickets:
        return  # refunded before its email went out: nothing to show at a gate
    user, event = tickets[0].user, tickets[0].event
    text, html = [gettext("Thank you for your order. Your tickets:")], []
    images = []
    for ticket in tickets:
        code = ticket_code(ticket)
        lines = ticket_lines(ticket)
        cid = f"ticket-{ticket.pk}@tombola"
        text += ["", *lines, gettext("Code: %(code)s") % {"code": code}]
        html.append(
            "<div style=\"margin:0 0 24px\"><h3>" + escape(lines[0]) + "</h3><p>"
            + "<br>".join(escape(line) for line in lines[1:])
            + f"</p><img src=\"cid:{cid}\" alt=\"{escape(code)}\" width=\"240\" height=\"240\">"
            + f"<p style=\"font-family:monospace;font-size:10px\">{escape(code)}</p></div>")
        image = MIMEImage(qr_png(code), "png")
        image.add_header("Content-ID", f"<{cid}>")
        image.add_header("Content-Disposition", "inline", filename=f"ticket-{ticket.pk}.png")
        images.append(image)
    text += ["", gettext("The PDF attached has every ticket; \"My tickets\" in the app too.")]
    message = EmailMultiAlternatives(
        subject=gettext("Your tickets for %(event)s") % {"event": event.title},
        body="\n".join(text) + "\n-- \nTombola\n", to=[user.email])
    message.attach_alternative(
        "<html><body><p>" + escape(text[0]) + "</p>" + "".join(html) + "</body></html>",
        "text/html")
    for image in images:
        message.attach(image)
    message.attach(f"tickets-order-{order_id}.pdf", tickets_pdf(tickets), "application/pdf")
    message.send()
