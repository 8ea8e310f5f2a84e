"""The data export (GDPR art. 15) and deleting the account (art. 17): everything the
service holds comes out; deletion leaves no name, email or phone behind, keeps money
and audit records, and the audit chain still verifies."""

from __future__ import annotations

import json
import time

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import TestCase
from django.utils import timezone

from core import audit
from core.authentication import AUTH_TIME_CLAIM, SessionRefreshToken
from core.models import AuditEntry, PhoneVerification, User, Venue
from live.models import CheckIn, Entry, Winner
from live.services.checkin import checkin_create
from live.services.claims import prize_claim
from live.services.draws import draw_enter
from live.services.performing import draw_perform
from tests.conftest import assert_error, client_for
from tests.factories import make_draw
from tests.ticketing_helpers import LAYOUT, fund, hold, make_event, seats
from ticketing.models import Order, SeatHold, Ticket, Wallet, WalletTransaction
from ticketing.services import layout

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
EXPORT = "/api/accounts/me/export/"
DELETE = "/api/accounts/me/delete/"
PHONE = "+4915112345678"


def old_session(user):
    """A client whose session began an hour ago: deleting needs the password."""
    refresh = SessionRefreshToken.for_user(user)
    refresh[AUTH_TIME_CLAIM] = time.time() - 3600
    client = client_for(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}")
    return client


@pytest.fixture
def life(user, make_user, settings):
    """Alice's life in Tombola: a verified phone, a referee, a wallet spent to zero on a
    ticket, a live hold, a check-in, a won and claimed raffle, an open lottery ballot."""
    settings.TICKETING_HOLD_BACKEND = "db"
    User.objects.filter(pk=user.pk).update(phone=PHONE, phone_verified_at=timezone.now(),
                                           last_name="Liddell", address="1 Rabbit Hole")
    user.refresh_from_db()
    PhoneVerification.objects.create(phone=PHONE, user=user, code_hash="x",
                                     expires_at=timezone.now(), verified_at=timezone.now())
    make_user(email="friend@example.com", referred_by=user)
    venue = Venue.objects.create(name="Arena", address="1 Court Street")
    layout.venue_layout_set(venue=venue, sections=LAYOUT)
    event = make_event(venue)
    api = client_for(user)
    with TestCase.captureOnCommitCallbacks(execute=True):
        bought = hold(api, event, seats(event, "A", "1", 1)).json()
        fund(user, amount=bought["total"])
        assert api.post(f"/api/holds/{bought['token']}/purchase/",
                        format="json").status_code == 201
        live_hold = hold(api, event, seats(event, "A", "1", 2, 3)).json()["token"]
    checkin_create(event=event, user=user)
    raffle = make_draw(event, title="Raffle")
    draw_enter(draw=raffle, user=user)
    draw_perform(draw=raffle, actor=None, source="test")
    lottery = make_draw(event, kind="lottery", title="Lotto")
    ballot = draw_enter(draw=lottery, user=user, numbers=[1, 2, 3])
    return {"event": event, "raffle": raffle, "lottery": lottery, "ballot": ballot,
            "hold": live_hold}


def test_the_export_holds_everything_the_service_knows(user, life):
    prize_claim(draw=life["raffle"], user=user)
    response = client_for(user).get(EXPORT)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    data = response.json()
    assert data["account"]["email"] == "alice@example.com"
    assert data["account"]["phone"] == PHONE and data["account"]["last_name"] == "Liddell"
    assert [r["referral_counted_at"] for r in data["referrals"]] == [None]
    assert data["phone_verifications"][0]["phone"] == PHONE
    ticketing = data["ticketing"]
    assert ticketing["wallet"]["balance"] == 0
    assert [t["kind"] for t in ticketing["wallet"]["transactions"]] == ["top_up", "purchase"]
    assert len(ticketing["orders"]) == 1 and len(ticketing["tickets"]) == 1
    assert {h["status"] for h in ticketing["holds"]} == {"active", "purchased"}
    assert "token" not in ticketing["holds"][0]
    live = data["live"]
    assert live["checkins"][0]["event_id"] == life["event"].pk
    assert {e["draw__title"] for e in live["draw_entries"]} == {"Raffle", "Lotto"}
    assert live["draw_entries"][-1]["numbers"] == "1,2,3"
    assert live["wins"][0]["claimed_at"] is not None
    actions = {e["action"] for e in data["audit_entries"]}
    assert {"wallet.top_up", "wallet.purchase", "prize.claimed"} <= actions


def test_the_export_is_the_callers_own(user, other_user, life):
    data = client_for(other_user).get(EXPORT).json()
    assert data["account"]["email"] == other_user.email
    assert data["ticketing"]["orders"] == [] and data["live"]["draw_entries"] == []


def test_deleting_the_account_anonymises_it_and_keeps_money_and_audit_intact(api, user, life):
    prize_claim(draw=life["raffle"], user=user)
    order_total = Order.objects.get(user=user).total
    session = SessionRefreshToken.for_user(user)
    client = old_session(user)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(DELETE, {"password": PASSWORD}, format="json")
    assert response.status_code == 204, response.content

    gone = User.objects.get(pk=user.pk)
    assert not gone.is_active and not gone.has_usable_password()
    assert gone.email.endswith("@deleted.invalid")
    assert (gone.first_name, gone.last_name, gone.address, gone.phone, gone.birthday) == (
        "", "", "", None, None)
    assert not PhoneVerification.objects.filter(user=gone).exists()
    # Money and sales stay, with their amounts, pointing at the anonymous account.
    assert Order.objects.get(user=gone).total == order_total
    assert Ticket.objects.filter(user=gone, status="valid").count() == 1
    assert WalletTransaction.objects.filter(wallet__user=gone).count() == 2
    assert Winner.objects.filter(user=gone).exists()
    assert CheckIn.objects.filter(user=gone).exists()
    # The frozen raffle keeps its entry (its proof covers it); the open lottery loses it.
    assert Entry.objects.filter(user=gone, draw=life["raffle"]).exists()
    assert not Entry.objects.filter(pk=life["ballot"].pk).exists()
    # The live hold was released after the commit.
    assert SeatHold.objects.get(token=life["hold"]).status == SeatHold.Status.RELEASED

    # Nothing anywhere still names her, and the audit chain verifies.
    entries = json.dumps(list(AuditEntry.objects.values("data", "object_id")))
    for personal in ("alice", "Alice", "Liddell", PHONE, "Rabbit"):
        assert personal not in entries
        assert not User.objects.filter(email__icontains=personal).exists()
    assert AuditEntry.objects.filter(action="account.deleted", actor_id=user.pk).exists()
    audit.seal()
    assert audit.verify().ok
    call_command("verify_audit")  # raises CommandError when the chain is broken

    # Logged out everywhere; the old credentials open nothing.
    assert api.post("/api/auth/token/refresh/", {"refresh": str(session)},
                    format="json").status_code == 401
    assert api.post("/api/auth/token/", {"email": "alice@example.com", "password": PASSWORD},
                    format="json").status_code == 401
    assert client.get("/api/accounts/me/").status_code == 401
    (notice,) = [m for m in mail.outbox if m.to == ["alice@example.com"]
                 and "deleted" in m.subject]  # not her order confirmation
    assert notice.subject == "Your Tombola account was deleted"


def test_the_address_is_free_again_after_a_deletion(api, user):
    assert old_session(user).post(DELETE, {"password": PASSWORD},
                                  format="json").status_code == 204
    response = api.post("/api/accounts/register/", {"email": "alice@example.com",
                                                    "password": PASSWORD}, format="json")
    assert response.status_code == 201


def test_deleting_needs_the_password_or_a_recent_login(user):
    assert_error(old_session(user).post(DELETE, {}, format="json"),
                 400, "reauthentication_required")
    assert_error(old_session(user).post(DELETE, {"password": "wrong"}, format="json"),
                 400, "reauthentication_required")
    assert User.objects.get(pk=user.pk).is_active
    # A session begun moments ago (client_for logs in now) needs no password.
    assert client_for(user).post(DELETE, {}, format="json").status_code == 204


def test_deleting_is_refused_while_the_wallet_holds_money(user):
    fund(user, amount=500)
    body = assert_error(old_session(user).post(DELETE, {"password": PASSWORD}, format="json"),
                        409, "account_deletion_blocked")
    assert body["reasons"] == [{"code": "wallet_not_empty", "balance": 500,
                                "detail": body["reasons"][0]["detail"]}]
    user.refresh_from_db()
    assert user.is_active and user.email == "alice@example.com"
    assert Wallet.objects.get(user=user).balance == 500


def test_deleting_is_refused_while_a_prize_waits_to_be_claimed(user, life):
    body = assert_error(old_session(user).post(DELETE, {"password": PASSWORD}, format="json"),
                        409, "account_deletion_blocked")
    assert [r["code"] for r in body["reasons"]] == ["prize_claim_pending"]
    assert Entry.objects.filter(pk=life["ballot"].pk).exists()  # nothing was erased
    assert User.objects.get(pk=user.pk).email == "alice@example.com"


def test_staff_accounts_are_not_deleted_through_the_api(staff):
    body = assert_error(old_session(staff).post(DELETE, {"password": PASSWORD}, format="json"),
                        409, "account_deletion_blocked")
    assert [r["code"] for r in body["reasons"]] == ["staff_account"]
