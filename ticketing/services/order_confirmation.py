"""The order confirmation email: the tickets with their QR codes in the body and as a
PDF attachment (ticketing/ticket_pdf.py).

Sent after the purchase's commit (transaction.on_commit in hold_purchase), never for a
rolled-back one, and at most once per order: the send first claims the order with one
conditional UPDATE (confirmation_sent_at NULL -> now). An idempotent retry of the
purchase replays the stored answer without reaching the service, and a second
purchase of the same hold is refused, so neither queues a second email; two processes
trying the same order (the commit's callback and the scheduler's retry) claim it once.
A send that fails un-claims the order; the scheduler's job retries it (orders younger
than a day): a process that died between its commit and its callback loses nothing. One
that dies between the claim and the send loses that email: once at most, never twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from email.mime.image import MIMEImage

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext

from ticketing.models import Order, Ticket
from ticketing.services.ticket_codes import ticket_code
from ticketing.ticket_pdf import qr_png, ticket_lines, tickets_pdf

logger = logging.getLogger(__name__)

# The scheduler retries orders left unsent this long after their purchase, for a day.
RETRY_AFTER = timedelta(seconds=60)
RETRY_WINDOW = timedelta(days=1)


def order_confirmation_queue(order: Order) -> None:
    """In the purchase's transaction: send the confirmation once it commits."""
    transaction.on_commit(lambda: order_confirmation_send(order_id=order.pk), robust=True)


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
        logger.exception("order %s: confirmation email failed; the scheduler retries it",
                         order_id)
        return False
    return True


def order_confirmations_retry(*, limit: int = 50) -> int:
    """The scheduler's job: confirmations not sent a minute after their purchase."""
    now = timezone.now()
    due = list(Order.objects.filter(confirmation_sent_at__isnull=True,
                                    created_at__lte=now - RETRY_AFTER,
                                    created_at__gte=now - RETRY_WINDOW)
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
