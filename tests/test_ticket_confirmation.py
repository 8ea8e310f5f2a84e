"""After a purchase the buyer gets one confirmation email with the tickets (QR codes in the
body, a PDF attached), on both hold backends; the PDF downloads for the owner only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from tests.conftest import assert_error, client_for
from tests.gate_helpers import grant_scan, make_gate, scan
from tests.ticketing_helpers import committed, fund, hold, seats
from ticketing.models import Order, Ticket
from ticketing.services import order_confirmation
from ticketing.services.order_confirmation import (
    order_confirmation_send,
    order_confirmations_send,
)
from ticketing.services.ticket_codes import ticket_code
from ticketing.ticket_pdf import qr_png

pytest_plugins = ["tests.ticketing_fixtures"]


def buy(client, event, seat_ids, key="buy-1"):
    return purchase(client, hold(client, event, seat_ids).json()["token"], key)


def purchase(client, token, key):
    return committed(client.post, f"/api/holds/{token}/purchase/", format="json",
                     HTTP_IDEMPOTENCY_KEY=key)


def pdf_pages(content: bytes) -> int:
    return content.count(b"/Type /Page\n") + content.count(b"/Type /Page ") + content.count(
        b"/Type /Page>")


def test_a_purchase_sends_one_email_with_the_qr_codes_and_the_pdf(user_api, user, sale,
                                                                    mailoutbox):
    fund(user)
    wanted = seats(sale, "A", "1", 1, 2)
    response = buy(user_api, sale, wanted)
    assert response.status_code == 201, response.content
    tickets = list(Ticket.objects.filter(user=user).order_by("id"))
    # Not from the purchase's request (the QR codes and the PDF cost it tens of ms of
    # CPU): the scheduler's next tick sends it.
    assert mailoutbox == []
    assert order_confirmations_send() == 1
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["alice@example.com"] and "Final" in email.subject
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    pdfs = [a for a in email.attachments if getattr(a, "mimetype", None) == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].content.startswith(b"%PDF-")
    assert pdf_pages(pdfs[0].content) == 2
    images = {part["Content-ID"]: part.get_payload(decode=True)
              for part in email.attachments if not hasattr(part, "mimetype")}
    for ticket in tickets:
        code = ticket_code(ticket)
        assert code in email.body and code in html
        assert f'src="cid:ticket-{ticket.pk}@tombola"' in html
        # The inline image is the QR code of the ticket's signed code.
        assert images[f"<ticket-{ticket.pk}@tombola>"] == qr_png(code)

    # An idempotent retry replays the answer and sends nothing; so does a second attempt.
    replay = purchase(user_api, Order.objects.get().hold_token, "buy-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert order_confirmation_send(order_id=tickets[0].order_id) is False
    assert order_confirmations_send() == 0
    assert len(mailoutbox) == 1


def test_the_emailed_codes_let_their_holder_in_at_the_gate(user_api, user, sale, mailoutbox,
                                                           make_user):
    """The email's codes are the gates' signed codes (ticketing.ticket_code_format), so the
    email and its PDF are the tickets: each code is let in once, by the gate scan."""
    make_gate(sale, "Main")
    gatekeeper = make_user(email="gate@example.com")
    grant_scan(gatekeeper)
    gate_api = client_for(gatekeeper)
    fund(user)
    assert buy(user_api, sale, seats(sale, "A", "1", 1, 2)).status_code == 201
    assert order_confirmations_send() == 1
    codes = [line.removeprefix("Code: ") for line in mailoutbox[0].body.splitlines()
             if line.startswith("Code: ")]
    tickets = Ticket.objects.filter(user=user).order_by("id")
    assert len(codes) == 2
    for code, ticket in zip(codes, tickets, strict=True):
        answer = committed(scan, gate_api, sale, code)
        assert answer.status_code == 200, answer.content
        assert (answer.json()["result"], answer.json()["ticket"]["id"]) == ("valid", ticket.pk)
        assert scan(gate_api, sale, code).json()["result"] == "already_used"


def test_a_refused_purchase_sends_nothing(user_api, user, sale, mailoutbox):
    response = buy(user_api, sale, seats(sale, "A", "1", 1))  # no money
    assert_error(response, 402, "insufficient_funds")
    assert order_confirmations_send() == 0
    assert mailoutbox == []


def test_a_failed_send_is_tried_again_a_minute_later(user_api, user, sale, mailoutbox,
                                                       monkeypatch):
    fund(user)
    real_send = EmailMultiAlternatives.send

    def refused(self, fail_silently=False):
        raise ConnectionRefusedError("mail server down")

    clock = [1000.0]
    monkeypatch.setattr(order_confirmation, "_clock", lambda: clock[0])
    monkeypatch.setattr(order_confirmation, "_failed_until", {})
    monkeypatch.setattr(EmailMultiAlternatives, "send", refused)
    assert buy(user_api, sale, seats(sale, "B", "1", 1)).status_code == 201
    assert order_confirmations_send() == 0  # refused: un-claimed
    order = Order.objects.get()
    assert order.confirmation_sent_at is None and mailoutbox == []
    monkeypatch.setattr(EmailMultiAlternatives, "send", real_send)
    clock[0] += order_confirmation.RETRY_AFTER - 1
    assert order_confirmations_send() == 0  # not every second: after RETRY_AFTER
    clock[0] += 2
    assert order_confirmations_send() == 1
    assert order_confirmations_send() == 0
    assert len(mailoutbox) == 1 and Order.objects.get().confirmation_sent_at is not None
    # A day later an unsent order is given up (its buyer has the tickets in the app).
    Order.objects.filter(pk=order.pk).update(confirmation_sent_at=None,
                                             created_at=timezone.now() - timedelta(days=2))
    assert order_confirmations_send() == 0


def test_the_pdf_downloads_for_the_owner_only(user_api, other_api, api, user, sale):
    fund(user)
    assert buy(user_api, sale, seats(sale, "A", "2", 1, 2, 3)).status_code == 201
    ticket = Ticket.objects.filter(user=user).first()
    mine = user_api.get(f"/api/tickets/{ticket.pk}/pdf/")
    assert mine.status_code == 200 and mine["Content-Type"] == "application/pdf"
    assert mine.content.startswith(b"%PDF-") and pdf_pages(mine.content) == 1
    assert f'filename="ticket-{ticket.pk}.pdf"' in mine["Content-Disposition"]
    assert_error(other_api.get(f"/api/tickets/{ticket.pk}/pdf/"), 404, "ticket_not_found")
    assert api.get(f"/api/tickets/{ticket.pk}/pdf/").status_code == 401
    order = user_api.get(f"/api/orders/{ticket.order_id}/pdf/")
    assert order.status_code == 200 and pdf_pages(order.content) == 3
    assert_error(other_api.get(f"/api/orders/{ticket.order_id}/pdf/"), 404, "order_not_found")
    assert api.get(f"/api/orders/{ticket.order_id}/pdf/").status_code == 401
    # A cancelled ticket keeps its page (saying so) for its owner.
    assert committed(user_api.post, f"/api/tickets/{ticket.pk}/cancel/").status_code == 200
    assert pdf_pages(user_api.get(f"/api/orders/{ticket.order_id}/pdf/").content) == 3
    assert user_api.get(f"/api/tickets/{ticket.pk}/pdf/").status_code == 200


@pytest.mark.parametrize("title", ["Ünïcode Final", "Финал 日本"])
def test_the_pdf_renders_any_title(user_api, user, sale, title):
    sale.title = title
    sale.save(update_fields=["title"])
    fund(user)
    assert buy(user_api, sale, seats(sale, "A", "3", 1)).status_code == 201
    ticket = Ticket.objects.get(user=user)
    response = user_api.get(f"/api/tickets/{ticket.pk}/pdf/")
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")


def test_my_payments_list_only_mine(user_api, other_api, api, user, other_user):
    from ticketing.services.payments import payment_start

    mine = payment_start(user=user, amount=1_500).payment
    payment_start(user=other_user, amount=2_500)
    body = user_api.get("/api/accounts/me/payments/").json()
    assert body["count"] == 1
    assert (body["results"][0]["id"], body["results"][0]["reference"],
            body["results"][0]["amount"], body["results"][0]["status"]) == (
        mine.pk, mine.reference, 1_500, "pending")
    assert "user" not in body["results"][0]
    assert user_api.get("/api/accounts/me/payments/?status=succeeded").json()["count"] == 0
    assert_error(user_api.get("/api/accounts/me/payments/?user=2"), 400, "unknown_parameter")
    assert api.get("/api/accounts/me/payments/").status_code == 401
    assert other_api.get("/api/accounts/me/payments/").json()["count"] == 1
