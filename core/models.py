"""Users and the shared catalog (venues and events) that live and ticketing build on."""

import secrets

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

# No 0/O, 1/I/l: a code read aloud or copied from a poster cannot be misread.
REFERRAL_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERRAL_CODE_LENGTH = 8


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


def new_event_secret() -> str:
    return secrets.token_hex(32)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


class UserManager(BaseUserManager):
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
        return self.get(email=normalize_email(email))


class User(AbstractBaseUser, PermissionsMixin):
    """An account, identified by its email (stored lower-cased)."""

    email = models.EmailField("email address", unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    patronymic = models.CharField(max_length=150, blank=True)
    birthday = models.DateField(null=True, blank=True)
    address = models.CharField(max_length=500, blank=True)
    # E.164; NULL rather than "" so that the unique constraint allows many blanks.
    phone = models.CharField(max_length=20, null=True, blank=True, unique=True)
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
        self.email = normalize_email(self.email)
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
    # IANA name; recurring draws fire at local times in this zone.
    time_zone = models.CharField(max_length=64, default="UTC")
    # Check-in can demand the short code shown only on the venue screen; it is
    # derived from this secret and the current 30 s window (live/checkin.py).
    checkin_code_required = models.BooleanField(default=False)
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
