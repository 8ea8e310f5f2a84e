"""Live draws: check-ins, screen keys, draws with prizes, entries (raffle entries and
lottery ballots share one table), winners and claims.

Invariants kept by the database: one check-in per (event, user); one raffle entry
per user per draw and ballots numbered per user (unique (draw, user, ballot_no));
positions unique per draw; one win per entry; a recurring draw has at most one successor.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import Event, new_event_secret


class CheckIn(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="checkins")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="checkins")
    # The client's idempotency nonce (pretix): a retry with it answers the same check-in.
    nonce = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "check-in"  # Django's default from the class name: "check in(s)"
        verbose_name_plural = "check-ins"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="checkin_once_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.event}"


class ScreenKey(models.Model):
    """A venue screen's credential for an event's stream. Only the SHA-256 is stored."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="screen_keys")
    label = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"screen key {self.label or self.pk} for {self.event}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Draw(models.Model):
    class Kind(models.TextChoices):
        RAFFLE = "raffle"
        LOTTERY = "lottery"
        EXTERNAL = "external"

    class Eligibility(models.TextChoices):
        REGISTERED = "registered"
        CHECKED_IN = "checked_in"
        TICKET_HOLDERS = "ticket_holders"

    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"  # entries frozen into the digest, winners not yet drawn
        # tombola-beacon-v2: closed, and its beacon round not published or not reachable yet
        AWAITING_BEACON = "awaiting_beacon"
        PERFORMED = "performed"

    class LotteryMode(models.TextChoices):
        TIERS = "tiers"  # winning numbers drawn; prizes by number of matches
        SINGLE_BALLOT = "single_ballot"  # one ballot drawn; its numbers win

    class Recurrence(models.TextChoices):
        NONE = "none"
        DAILY = "daily"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="draws")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RAFFLE)
    eligibility = models.CharField(max_length=16, choices=Eligibility.choices,
                                   default=Eligibility.REGISTERED)
    requires_verified_phone = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN,
                              db_index=True)
    entries_close_at = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claim_window_minutes = models.PositiveIntegerField(default=60)

    # Lottery settings: k distinct numbers in 1..N, up to max_ballots per user.
    numbers_count = models.PositiveSmallIntegerField(null=True, blank=True)
    numbers_max = models.PositiveSmallIntegerField(null=True, blank=True)
    max_ballots = models.PositiveSmallIntegerField(default=1)
    lottery_mode = models.CharField(max_length=16, choices=LotteryMode.choices,
                                    default=LotteryMode.TIERS)
    winning_numbers = models.JSONField(null=True, blank=True)

    recurrence = models.CharField(max_length=8, choices=Recurrence.choices,
                                  default=Recurrence.NONE)
    # Local time of day (event.time_zone) for daily recurrence.
    recurrence_time = models.TimeField(null=True, blank=True)
    previous = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="next_occurrence")

    # Fairness (live/fairness.py): the seed stays secret until performed.
    algorithm = models.CharField(max_length=40, editable=False)
    seed = models.CharField(max_length=64, editable=False)
    seed_commitment = models.CharField(max_length=64, editable=False)
    entries_digest = models.CharField(max_length=64, blank=True, editable=False)
    entries_count = models.PositiveIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    performed_at = models.DateTimeField(null=True, blank=True)
    performed_by = models.CharField(max_length=120, blank=True)

    # tombola-beacon-v2 (live/beacon.py, docs/fairness.md): the drand chain recorded at
    # commit time and the round whose randomness joins the seed; the round is always
    # one published after entries close (and after scheduled_at).
    beacon_chain = models.JSONField(null=True, blank=True, editable=False)
    beacon_round = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    beacon_randomness = models.CharField(max_length=64, blank=True, editable=False)
    beacon_signature = models.CharField(max_length=192, blank=True, editable=False)
    beacon_previous_signature = models.CharField(max_length=192, blank=True, editable=False)
    beacon_waiting_since = models.DateTimeField(null=True, blank=True, editable=False)
    beacon_attempted_at = models.DateTimeField(null=True, blank=True, editable=False)
    beacon_attempts = models.PositiveIntegerField(default=0, editable=False)
    beacon_last_error = models.CharField(max_length=500, blank=True, editable=False)
    # Set when staff performed it without its round: {at, by, reason, waited_seconds}.
    beacon_fallback = models.JSONField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="draw_due_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="lottery")
                | (models.Q(numbers_count__gte=1) & models.Q(numbers_max__gte=models.F(
                    "numbers_count"))),
                name="draw_lottery_numbers_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_performed(self) -> bool:
        return self.status == self.Status.PERFORMED


class Prize(models.Model):
    draw = models.ForeignKey(Draw, on_delete=models.CASCADE, related_name="prizes")
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    rank = models.PositiveSmallIntegerField(default=1)
    # Lottery tiers: ballots with exactly this many matching numbers win this prize.
    matches = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["rank", "id"]
        constraints = [
            models.UniqueConstraint(fields=["draw", "rank"], name="prize_rank_unique"),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="prize_quantity_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.name} x{self.quantity}"


class Entry(models.Model):
    """A raffle entry, or a lottery ballot (numbers "3,7,12", sorted)."""

    draw = models.ForeignKey(Draw, on_delete=models.CASCADE, related_name="entries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="draw_entries")
    ballot_no = models.PositiveSmallIntegerField(default=1)
    # 1, 2, 3... in entering order (assigned under the draw's row lock): the frozen order
    # of the fairness digest, and how winners are fetched by index without a scan.
    position = models.PositiveIntegerField()
    numbers = models.CharField(max_length=400, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Set when a forwarding batch holding this entry reached the operator (live/forwarding.py).
    forwarded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "entries"  # Django's default adds an "s": "entrys"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["draw", "user", "ballot_no"],
                                    name="entry_ballot_unique"),
            models.UniqueConstraint(fields=["draw", "position"], name="entry_position_unique"),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="entry_user_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"entry {self.pk} in draw {self.draw_id}"

    @property
    def number_list(self) -> list[int]:
        return [int(n) for n in self.numbers.split(",")] if self.numbers else []


class Winner(models.Model):
    draw = models.ForeignKey(Draw, on_delete=models.CASCADE, related_name="winners")
    prize = models.ForeignKey(Prize, on_delete=models.PROTECT, related_name="winners")
    entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="win")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="wins")
    # 0 for the draw itself, n for the n-th redraw.
    round = models.PositiveSmallIntegerField(default=0)
    # Index in the fairness pick sequence (None for tiers and external winners).
    pick = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    claim_deadline = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    forfeited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["draw_id", "id"]
        indexes = [models.Index(fields=["created_at"], name="winner_created_idx")]

    def __str__(self) -> str:
        return f"{self.user} wins {self.prize}"


class WinnerNotification(models.Model):
    """The one notification a winner gets for a prize (SMS or email); a failed one is retried
    by the next run, a sent one never again (one row per winner)."""

    class Channel(models.TextChoices):
        SMS = "sms"
        EMAIL = "email"

    class Status(models.TextChoices):
        SENT = "sent"
        FAILED = "failed"

    winner = models.OneToOneField(Winner, on_delete=models.CASCADE, related_name="notification")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    to = models.CharField(max_length=254)
    status = models.CharField(max_length=8, choices=Status.choices, db_index=True)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.to} [{self.status}]"


class OperatorEndpoint(models.Model):
    """Where an event's participant data is forwarded (the operator), signed with `secret`."""

    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="operator_endpoint")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64, default=new_event_secret, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.url} ({self.event_id})"

    def clean(self) -> None:
        # Admin forms call this; the API serializer checks the same way.
        from core.outbound import check_destination

        if self.url:
            check_destination(self.url, resolve=False)


class ForwardingBatch(models.Model):
    """Entries sent to the operator in one signed POST, retried with backoff."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    endpoint = models.ForeignKey(OperatorEndpoint, on_delete=models.CASCADE,
                                 related_name="batches")
    entries = models.ManyToManyField(Entry, related_name="forwarding_batches")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    forwarded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "forwarding batches"

    def __str__(self) -> str:
        return f"batch {self.pk} -> {self.endpoint.url} [{self.status}]"
