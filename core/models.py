"""Users and the shared catalog (venues and events) that live and ticketing build on."""

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.emails import email_canonical, email_mailbox, email_normalize
from core.local_time import validate_time_zone

# No 0/O, 1/I/l: a code read aloud or copied from a poster cannot be misread.
REFERRAL_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERRAL_CODE_LENGTH = 8


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


def new_event_secret() -> str:
    return secrets.token_hex(32)


def default_time_zone() -> str:
    """A new event's zone: the deployment's TIME_ZONE unless it names its own."""
    return settings.TIME_ZONE


def default_language() -> str:
    """A new event's language: the deployment's LANGUAGE_CODE."""
    return settings.LANGUAGE_CODE


def normalize_email(email: str) -> str:
    """The stored form of an address (core/emails.py says which forms compare)."""
    return email_normalize(email)


def fill_email_forms(user: "User") -> None:
    """Derive the stored, canonical and mailbox forms from ``user.email`` (core/emails.py)."""
    user.email = normalize_email(user.email)
    user.email_canonical = email_canonical(user.email)
    user.email_mailbox = email_mailbox(user.email)


class UserQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        # bulk_create skips save(): derive the email forms here too (seeding, tests).
        objs = list(objs)
        for user in objs:
            fill_email_forms(user)
        return super().bulk_create(objs, *args, **kwargs)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, email: str) -> "User":
        # Login (API and admin) finds the account by its canonical address.
        return self.get(email_canonical=email_canonical(email))


class User(AbstractBaseUser, PermissionsMixin):
    """An account, identified by its email (stored lower-cased).

    ``email_canonical`` is the account's identity (core/emails.py: NFKC, case-folded),
    unique, so two registrations of one address written two ways cannot both win;
    ``email_mailbox`` (no ``+tag``, no dots where the provider ignores them) is the
    mailbox, for the waitlist and referral credit. Both follow ``email`` in save().
    """

    email = models.EmailField("email address", unique=True)
    email_canonical = models.CharField(max_length=254, unique=True, editable=False)
    email_mailbox = models.CharField(max_length=254, db_index=True, editable=False)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    patronymic = models.CharField(max_length=150, blank=True)
    birthday = models.DateField(null=True, blank=True)
    address = models.CharField(max_length=500, blank=True)
    # E.164. Unique among VERIFIED phones only (user_verified_phone_unique): typing a
    # number into a profile must not tell whether another account has it
    # (docs/security.md, "Accounts"); verification decides who owns it.
    phone = models.CharField(max_length=20, null=True, blank=True, db_index=True)
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)

    referral_code = models.CharField(
        max_length=16, unique=True, default=new_referral_code, editable=False
    )
    referred_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="referees"
    )
    # Counted referrals (the referee verified, when the setting asks for it).
    # Moved only with F() in core.services; positions are computed from it live.
    referral_count = models.PositiveIntegerField(default=0)
    # When the referral was counted for the referrer (None: not yet counted).
    referral_counted_at = models.DateTimeField(null=True, blank=True)

    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now, db_index=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            # One phone, one verified account.
            models.UniqueConstraint(
                fields=["phone"], condition=models.Q(phone_verified_at__isnull=False),
                name="user_verified_phone_unique",
            ),
        ]
        indexes = [
            # Waitlist ranking by referrals: count of users ahead is an index range scan.
            models.Index(
                fields=["-referral_count", "date_joined", "id"], name="user_waitlist_rank_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        # A user built from token claims (core/authentication.py) has its email
        # deferred: saving other fields must not load it, nor touch its forms.
        if "email" not in self.get_deferred_fields():
            fill_email_forms(self)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_canonical", "email_mailbox"}
        super().save(*args, **kwargs)

    @property
    def is_phone_verified(self) -> bool:
        return self.phone_verified_at is not None

    @property
    def is_verified(self) -> bool:
        return self.phone_verified_at is not None or self.email_verified_at is not None


class PhoneVerification(models.Model):
    """One SMS code sent to a phone. The code itself is never stored, only its hash."""

    phone = models.CharField(max_length=20, db_index=True)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="phone_verifications"
    )
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["phone", "-created_at"], name="phoneverif_latest_idx")]

    def __str__(self) -> str:
        return f"{self.phone} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class Venue(models.Model):
    """A place where events happen; ticketing attaches a seat layout to it."""

    name = models.CharField(max_length=200)
    address = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    """The catalog entry that draws (live) and seat sales (ticketing) hang from."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"
        LIVE = "live"
        ENDED = "ended"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    venue = models.ForeignKey(
        Venue, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    # IANA name. Recurring draws fire at local times in this zone, and every time a
    # person reads (SMS, email, export, venue screen) is written in it, with its label
    # (core/local_time.py).
    time_zone = models.CharField(
        max_length=64, default=default_time_zone, validators=[validate_time_zone],
        help_text="IANA time zone, e.g. Europe/Berlin: messages, exports and the venue "
                  "screen show times in it.")
    # What the venue screen and the messages about the event (winner SMS and emails)
    # are written in. The API answers in the language of each request (Accept-Language).
    language = models.CharField(
        max_length=8, choices=settings.LANGUAGES, default=default_language,
        help_text="Language of the venue screen and of the messages sent about the event.")
    # Check-in can demand the short code shown only on the venue screen; it is
    # derived from this secret and the current 30 s window (live/checkin.py).
    # Services default it to on for events at a venue (core.services.events.event_create).
    checkin_code_required = models.BooleanField(default=False)
    # Check-in opens this many minutes before starts_at (live.services.checkin).
    checkin_opens_before = models.PositiveIntegerField(
        default=120, help_text="Check-in opens this many minutes before the event starts."
    )
    checkin_secret = models.CharField(max_length=64, default=new_event_secret, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gte=models.F("starts_at")),
                name="event_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class AuditEntry(models.Model):
    """Append-only audit log of draws, claims, imports and money movements.

    Rows are written inside the transaction of the change they describe
    (``core.audit.record``) and chained afterwards by ``core.audit.seal``:
    each sealed entry carries ``chain_seq`` (1, 2, 3, ... with no gaps) and
    the hash of the previous entry, so a modified, deleted or reordered entry
    breaks the chain (``manage.py verify_audit``). Sealing after the fact keeps
    a global lock off the purchase path; see docs/decisions.
    """

    created_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=64, db_index=True)
    # Plain ids, not foreign keys: deleting a user must not rewrite history.
    actor_id = models.BigIntegerField(null=True, blank=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    chain_seq = models.BigIntegerField(null=True, blank=True, unique=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(
                fields=["id"], condition=models.Q(chain_seq__isnull=True), name="audit_unsealed_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.chain_seq or '-'} {self.action} {self.object_type}:{self.object_id}"


class WebhookEndpoint(models.Model):
    """An organiser's URL that receives signed notifications about one event."""

    class Kind(models.TextChoices):
        DRAW_PERFORMED = "draw.performed"
        DRAW_WINNER = "draw.winner"
        PRIZE_CLAIMED = "prize.claimed"
        TICKET_SOLD = "ticket.sold"
        TICKET_REFUNDED = "ticket.refunded"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    kinds = models.JSONField(default=list, help_text="Subscribed kinds; empty means all.")
    secret = models.CharField(max_length=64, default=new_event_secret, editable=False)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.url} ({self.event_id})"

    def clean(self) -> None:
        # Admin forms call this; the API serializer checks the same way.
        from core.outbound import check_destination

        if self.url:
            check_destination(self.url, resolve=False)

    def wants(self, kind: str) -> bool:
        return self.is_active and (not self.kinds or kind in self.kinds)


class WebhookDelivery(models.Model):
    """One notification to one endpoint; retried with backoff until it succeeds or gives up."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    kind = models.CharField(max_length=32)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.kind} -> {self.endpoint.url} [{self.status}]"


class DeliveryAttempt(models.Model):
    """Every HTTP attempt of a signed outbound POST (webhooks, operator forwarding)."""

    delivery = models.ForeignKey(
        WebhookDelivery, null=True, blank=True, on_delete=models.CASCADE, related_name="attempt_log"
    )
    # For deliveries that are not webhooks (operator forwarding): what was sent.
    target = models.CharField(max_length=64, blank=True)
    url = models.URLField(max_length=500)
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.url} {self.status_code or self.error}"


class StreamOutboxMessage(models.Model):
    """A stream message published by a process that cannot reach the sockets.

    On embedded defaults (no REDIS_URL) the streams live in the memory of the server
    process; a management command's publish_on_commit writes the message here, in the
    command's transaction, and the server's in-process scheduler publishes it
    (core.streams.outbox_drain), which assigns its seq. Never used with Redis.
    """

    stream = models.CharField(max_length=100)
    type = models.CharField(max_length=64)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.stream} {self.type}"
