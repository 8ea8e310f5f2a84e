"""Tickets as a PDF (fpdf2): one A6 page per ticket, with its QR code and signed code.

What the order confirmation email attaches and "my tickets" downloads
(GET /api/tickets/<id>/pdf/, GET /api/orders/<id>/pdf/). The code comes from
ticketing.services.ticket_codes (the gates' signature); nothing here signs anything.

fpdf2's core fonts (Helvetica) cover Latin-1: other characters of a title or address
are written as "?" rather than shipping a font file with the app.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import segno
from django.conf import settings
from django.utils.translation import gettext
from fpdf import FPDF

from core.local_time import event_time
from ticketing.models import Ticket
from ticketing.services.ticket_codes import ticket_code

PAGE = (105, 148)  # A6 portrait, millimetres
QR_SIZE = 60


def qr_png(text: str, *, scale: int = 6) -> bytes:
    """`text` as a PNG QR code (level M), for the PDF and the email's inline image."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def money(amount: int) -> str:
    return f"{amount / 100:.2f} {settings.PAYMENT_CURRENCY.upper()}"


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def ticket_lines(ticket: Ticket) -> list[str]:
    """What a ticket says, line by line (the PDF page and the email body)."""
    event, seat = ticket.event, ticket.seat
    venue = event.venue
    lines = [event.title, event_time(event, event.starts_at)]
    if venue is not None:
        lines.append(", ".join(part for part in (venue.name, venue.address) if part))
    lines.append(gettext("Section %(section)s, row %(row)s, seat %(seat)s") % {
        "section": seat.row.section.name, "row": seat.row.label, "seat": seat.label})
    lines.append(gettext("Ticket %(ticket)d of order %(order)d, %(price)s") % {
        "ticket": ticket.pk, "order": ticket.order_id, "price": money(ticket.price)})
    return lines


def tickets_pdf(tickets: Iterable[Ticket]) -> bytes:
    """The tickets' PDF. Each ticket needs its event (with venue and signing key) and seat
    (with row and section) loaded: selectors.tickets_of does it."""
    pdf = FPDF(unit="mm", format=PAGE)
    pdf.set_title("Tombola tickets")
    pdf.set_creator("Tombola")
    pdf.set_auto_page_break(auto=False)
    width = PAGE[0] - 20
    for ticket in tickets:
        code = ticket_code(ticket)
        pdf.add_page()
        pdf.set_margins(10, 10, 10)
        pdf.set_xy(10, 10)
        title, *details = ticket_lines(ticket)
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(width, 6, _latin1(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)
        for line in details:
            pdf.multi_cell(width, 4.5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
        if ticket.status != Ticket.Status.VALID:
            pdf.set_font("Helvetica", "B", 11)
            pdf.set_text_color(180, 0, 0)
            pdf.multi_cell(width, 6, _latin1(gettext("CANCELLED: not valid for entry")),
                           new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(0, 0, 0)
        pdf.image(io.BytesIO(qr_png(code)), x=(PAGE[0] - QR_SIZE) / 2, y=PAGE[1] - QR_SIZE - 22,
                  w=QR_SIZE, h=QR_SIZE)
        pdf.set_xy(10, PAGE[1] - 20)
        pdf.set_font("Courier", "", 6)
        pdf.multi_cell(width, 3, code, align="C")
    return bytes(pdf.output())
