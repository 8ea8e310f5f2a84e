"""Seat layouts, per-event sale settings and prices, holds, orders, tickets, wallets.

Money is integer minor units (cents) everywhere. The database keeps the
invariants that must survive any bug: a seat is sold at most once per event
(partial unique constraint on valid tickets), a wallet never goes negative
(check constraint), and a live database-backend hold owns a seat at most once.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import Event, Venue


def new_hold_token() -> str:
    return secrets.token_urlsafe(24)


class Section(models.Model):
    venue = models.ForeignKey(Venue, on_delete=models.CASCADE, related_name="sections")
    name = models.CharField(max_length=100)
    # Layout order; prices attach to sections.
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["venue_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["venue", "name"], name="section_name_unique_per_venue"),
        ]

    def __str__(self) -> str:
        return f"{self.venue} / {self.name}"


class Row(models.Model):
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="rows")
    label = models.CharField(max_length=20)
    # 0 is the row closest to the front (stage, pitch).
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["section_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["section", "label"], name="row_label_unique_per_section"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.section.name} row {self.label}"


class Seat(models.Model):
    row = models.ForeignKey(Row, on_delete=models.CASCADE, related_name="seats")
    label = models.CharField(max_length=20)
    # Position in the row: seats n and n+1 are side by side (best available relies on it).
    number = models.PositiveIntegerField()
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)
    # Never sold (camera position, broken seat).
    blocked = models.BooleanField(default=False)

    class Meta:
        ordering = ["row_id", "number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["row", "label"], name="seat_label_unique_per_row"),
            models.UniqueConstraint(fields=["row", "number"], name="seat_number_unique_per_row"),
        ]

    def __str__(self) -> str:
        return f"{self.row} seat {self.label}"


class EventSale(models.Model):
    """How an event sells its seats. Absent means "not on sale"."""

    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="sale")
    # None: open from creation; sale_ends_at None: until the event starts.
    sale_starts_at = models.DateTimeField(null=True, blank=True)
    sale_ends_at = models.DateTimeField(null=True, blank=True)
    max_seats_per_order = models.PositiveSmallIntegerField(default=10)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_seats_per_order__gte=1), name="eventsale_max_seats_positive"
            ),
            models.CheckConstraint(
                condition=Q(sale_starts_at__isnull=True)
                | Q(sale_ends_at__isnull=True)
                | Q(sale_ends_at__gt=models.F("sale_starts_at")),
                name="eventsale_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"sale of {self.event}"


class SectionPrice(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="section_prices")
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="prices")
    amount = models.PositiveIntegerField(help_text="Minor units (cents).")

    class Meta:
        ordering = ["event_id", "section__position"]
        constraints = [
            models.UniqueConstraint(fields=["event", "section"], name="price_unique_per_section"),
        ]

    def __str__(self) -> str:
        return f"{self.section.name}: {self.amount}"


class SeatHold(models.Model):
    """A live claim on seats of one event; the token is the owner's secret handle.

    Both backends keep this row (owner, seats, expiry, fence). Who owns a seat
    right now is decided by the backend: Redis keys (one Lua script) or the
    HeldSeat rows below (a unique constraint).
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        RELEASED = "released"
        EXPIRED = "expired"
        PURCHASED = "purchased"

    token = models.CharField(max_length=64, unique=True, default=new_hold_token)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="seat_holds")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="seat_holds"
    )
    seat_ids = models.JSONField()
    # Monotonic per event (Redis backend) or per table (database backend): the
    # purchase refuses a hold whose fence is older than one already used for a seat.
    fence = models.BigIntegerField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # What the seats cost when they were held (minor units): a purchase at another total
    # needs the buyer's confirmation (price_changed). None: held before totals were kept.
    total = models.BigIntegerField(null=True, blank=True)
    # Start of the user's hold window for this event, carried over from their recent
    # holds (TICKETING_HOLD_COOLDOWN_SECONDS): the lifetime cap counts from here, so a
    # release and a new hold do not restart it. None: held before windows were kept
    # (created_at is the start).
    window_started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"], name="seathold_due_idx")]

    def __str__(self) -> str:
        return f"hold {self.pk} of {len(self.seat_ids)} seats"

    @property
    def window_start(self):
        """When the lifetime cap starts counting: the window's start, never after creation."""
        if self.window_started_at is None:
            return self.created_at
        return min(self.window_started_at, self.created_at)


class HeldSeat(models.Model):
    """Database backend only: the seat this hold owns (one live owner per seat)."""

    hold = models.ForeignKey(SeatHold, on_delete=models.CASCADE, related_name="held_seats")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    seat = models.ForeignKey(Seat, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "seat"], name="heldseat_one_hold_per_seat"),
        ]

    def __str__(self) -> str:
        return f"seat {self.seat_id} held by hold {self.hold_id}"


class SeatFence(models.Model):
    """The highest hold fence that bought (event, seat): PostgreSQL's fencing check."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    seat = models.ForeignKey(Seat, on_delete=models.CASCADE, related_name="+")
    fence = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "seat"], name="seatfence_unique"),
        ]

    def __str__(self) -> str:
        return f"seat {self.seat_id} fence {self.fence}"


class Wallet(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallet"
    )
    balance = models.BigIntegerField(default=0, help_text="Minor units (cents).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"wallet of {self.user}"


class WalletTransaction(models.Model):
    """One movement of money; balance_after makes the ledger auditable line by line."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up"
        PURCHASE = "purchase"
        # A ticket's price back to the wallet.
        REFUND = "refund"
        # A payment's money back to where it came from (card refund, bank payout).
        PAYOUT = "payout"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Signed: credits positive, debits negative.
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="wallettx_balance_after_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"


def new_payment_reference() -> str:
    """A code a person can type into a bank transfer: TMB- and 10 characters of an
    alphabet without look-alikes (no 0/O, 1/I/L), about 50 bits."""
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
    code = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"TMB-{code[:5]}-{code[5:]}"


class Payment(models.Model):
    """Money coming into a wallet from outside, through one payment provider.

    The wallet is credited once, when the payment turns `succeeded`
    (ticketing/services/payments.py): from Stripe's signed webhook, from staff
    confirming a bank transfer, or at once for the demo provider. The unique
    (provider, provider_id) pair is what a retried notification finds and locks.
    """

    class Provider(models.TextChoices):
        STRIPE = "stripe"
        MANUAL = "manual", "Bank transfer"
        DEMO = "demo"

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        # Manual payments refunded by staff: the wallet is debited, the money still has
        # to be transferred back by hand (then "refunded").
        PAYOUT_DUE = "payout_due", "Payout due"
        REFUNDED = "refunded"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments"
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # The provider's id (Stripe: the PaymentIntent's pi_...; manual and demo: the
    # reference). Empty (NULL) only between our row and the provider's answer.
    provider_id = models.CharField(max_length=255, null=True, blank=True)
    reference = models.CharField(max_length=20, unique=True, default=new_payment_reference)
    amount = models.BigIntegerField(help_text="Minor units (cents).")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Stripe: the refund's re_...; manual: set when staff mark the payout done.
    refund_id = models.CharField(max_length=255, blank=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("confirm_payment", "Can confirm a bank transfer was received"),
            ("refund_payment", "Can refund a payment to where it came from"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_id"], name="payment_provider_id_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="payment_user_created_idx")]

    def __str__(self) -> str:
        return f"payment {self.reference} ({self.provider}, {self.status})"


class Order(models.Model):
    class Status(models.TextChoices):
        PAID = "paid"
        PARTIALLY_REFUNDED = "partially_refunded"
        REFUNDED = "refunded"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PAID)
    total = models.BigIntegerField()
    hold_token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When its confirmation email (tickets, QR, PDF) was claimed for sending: at most once
    # (ticketing/services/order_confirmation.py). NULL: not sent yet.
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"order {self.pk}"


class Ticket(models.Model):
    class Status(models.TextChoices):
        VALID = "valid"
        CANCELLED = "cancelled"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="tickets")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tickets"
    )
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="tickets")
    seat = models.ForeignKey(Seat, on_delete=models.PROTECT, related_name="tickets")
    price = models.BigIntegerField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.VALID, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The last guard: whatever Redis says, a seat is sold once per event.
            models.UniqueConstraint(
                fields=["event", "seat"], condition=Q(status="valid"), name="ticket_seat_sold_once"
            ),
        ]

    def __str__(self) -> str:
        return f"ticket {self.pk} ({self.seat})"


class TicketSigningKey(models.Model):
    """An event's Ed25519 key pair for its tickets' codes (ticketing/services/ticket_codes.py).

    The public key is public (gates download it). The private key is stored encrypted
    (AES-GCM under a key derived from TICKET_SIGNING_SECRET, the event's id as associated
    data): a copy of the database alone signs nothing
    (docs/decisions/2026-11-30-ticket-signing-keys.md).
    """

    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="signing_key")
    public_key = models.BinaryField(max_length=32)
    # 12-byte nonce followed by the AES-GCM ciphertext of the 32-byte raw private key.
    private_key_encrypted = models.BinaryField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"ticket signing key of {self.event}"


class SeatStatusChange(models.Model):
    """Audit trail: every change of a seat's status for an event."""

    class Status(models.TextChoices):
        FREE = "free"
        HELD = "held"
        SOLD = "sold"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    seat = models.ForeignKey(Seat, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=8, choices=Status.choices)
    to_status = models.CharField(max_length=8, choices=Status.choices)
    # held / released / expired / sold / refunded
    reason = models.CharField(max_length=16)
    hold = models.ForeignKey(
        SeatHold, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["event", "seat", "-created_at"], name="seatchange_seat_idx")
        ]

    def __str__(self) -> str:
        return f"seat {self.seat_id}: {self.from_status} -> {self.to_status}"


class IdempotencyKey(models.Model):
    """Stripe-style idempotency: the first response to (user, key) is replayed for 24 h."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    # None while the first request is still running.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user"),
        ]

    def __str__(self) -> str:
        return f"idempotency key {self.key}"


# What staff set on a room (besides its status), in the order forms show them.
WAITING_ROOM_SETTINGS = ("mode", "rate_per_minute", "max_rate_per_minute", "target_latency_ms",
                         "opens_minutes_before_sale", "pass_minutes")


def new_waiting_room_secret() -> str:
    return secrets.token_hex(16)


class WaitingRoom(models.Model):
    """The virtual waiting room in front of an event's sale (ticketing/queue_line.py).

    While it is not closed, holding seats and buying them need an admission pass
    (ticketing/services/waiting_room.py). The line itself lives in Redis (process
    memory on embedded defaults); this row is the staff's configuration, copied to
    the line's store whenever it changes.
    """

    class Status(models.TextChoices):
        OPEN = "open"  # joins accepted, admission running (from the sale's start)
        PAUSED = "paused"  # joins accepted, nobody admitted; passes out stay valid
        CLOSED = "closed"  # the room is off: the sale is direct, no pass needed

    class Mode(models.TextChoices):
        FIXED = "fixed"  # rate_per_minute buyers a minute
        ADAPTIVE = "adaptive"  # a rate steered by hold and purchase latency

    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="waiting_room")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.FIXED)
    rate_per_minute = models.PositiveIntegerField(
        default=600, help_text="Buyers admitted a minute (adaptive: the starting rate).")
    max_rate_per_minute = models.PositiveIntegerField(
        default=6000, help_text="Adaptive: the highest rate it may reach.")
    target_latency_ms = models.PositiveIntegerField(
        default=250, help_text="Adaptive: admit more while hold and purchase p95 stay under this.")
    opens_minutes_before_sale = models.PositiveIntegerField(
        default=30, help_text="Buyers may join this long before the sale starts; everyone "
                              "who joins before the start is placed in random order.")
    pass_minutes = models.PositiveIntegerField(
        default=10, help_text="An admission pass not used (no seats held) within this long "
                              "expires and the next buyer in line is let in.")
    # Orders the buyers who join before the sale starts (unpredictable to them).
    secret = models.CharField(max_length=64, default=new_waiting_room_secret, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(rate_per_minute__gte=1),
                                   name="waitingroom_rate_positive"),
            models.CheckConstraint(condition=Q(max_rate_per_minute__gte=models.F("rate_per_minute")),
                                   name="waitingroom_max_rate_at_least_rate"),
            models.CheckConstraint(condition=Q(pass_minutes__gte=1),
                                   name="waitingroom_pass_minutes_positive"),
            models.CheckConstraint(condition=Q(target_latency_ms__gte=10),
                                   name="waitingroom_target_latency_sane"),
        ]

    def __str__(self) -> str:
        return f"waiting room of {self.event}"

    @property
    def requires_pass(self) -> bool:
        return self.status != self.Status.CLOSED


class WaitingList(models.Model):
    """A sold-out event's waiting list: its settings, and the row its offers lock.

    Seats that come back on sale while people wait (WaitingListSeat) are offered in
    order to the entries below (ticketing/services/waiting_list.py); the scheduler's
    job locks this row (SKIP LOCKED), so one scheduler at a time makes an event's offers.
    """

    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="waiting_list")
    offer_seconds = models.PositiveIntegerField(
        help_text="Seconds offered seats stay held for the next in line before the offer "
                  "passes on.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(offer_seconds__gte=1),
                                   name="waitinglist_offer_seconds_positive"),
        ]

    def __str__(self) -> str:
        return f"waiting list of {self.event}"


class WaitingListEntry(models.Model):
    """One buyer's place on an event's waiting list (one live place per mailbox)."""

    class Status(models.TextChoices):
        WAITING = "waiting"
        OFFERED = "offered"  # seats held for them (hold) until offer_expires_at
        CONVERTED = "converted"  # they bought the offered seats
        EXPIRED = "expired"  # the offer ran out (or was released) unbought: passed on
        LEFT = "left"

    LIVE = (Status.WAITING, Status.OFFERED)

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="waiting_entries")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="waiting_entries"
    )
    # The account's mailbox when it joined (core/emails.py email_mailbox): one live place
    # per mailbox, so +tags and dotted gmail addresses do not queue twice.
    mailbox = models.CharField(max_length=254)
    # None: any section.
    section = models.ForeignKey(
        Section, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    seats = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    created_at = models.DateTimeField(auto_now_add=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    hold = models.OneToOneField(
        SeatHold, null=True, blank=True, on_delete=models.SET_NULL, related_name="waiting_entry"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event_id", "id"]
        verbose_name_plural = "waiting list entries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "mailbox"], condition=Q(status__in=["waiting", "offered"]),
                name="waitingentry_one_live_per_mailbox",
            ),
            models.CheckConstraint(condition=Q(seats__gte=1), name="waitingentry_seats_positive"),
        ]
        indexes = [models.Index(fields=["event", "status", "id"], name="waitingentry_line_idx")]

    def __str__(self) -> str:
        return f"waiting list entry {self.pk} ({self.status})"


class WaitingListSeat(models.Model):
    """A seat that came back on sale (refund, released or expired hold, unblocked) while
    its event had a waiting list: offered once, to one entry, then done."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    seat = models.ForeignKey(Seat, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once: offered to `entry`, or found taken by the general sale (entry None).
    done_at = models.DateTimeField(null=True, blank=True)
    entry = models.ForeignKey(
        WaitingListEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["event", "done_at", "id"], name="waitingseat_pending_idx")]

    def __str__(self) -> str:
        return f"returned seat {self.seat_id} of event {self.event_id}"
