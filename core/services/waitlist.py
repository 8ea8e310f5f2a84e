"""Referral waitlist writes: sign-up, who referred whom, when a referral counts,
and keeping the Redis ranking index in step.

Contract used by registration, waitlist sign-up and verification:

- ``referrer_for_code(code)`` -> User, or raises ``UnknownReferralCode`` (404).
- ``referral_attach(*, user, referrer)`` records who referred a new account
  (self-referral refused); counts it at once unless the setting requires the
  referee to be verified first.
- ``referral_count_if_eligible(*, user)`` is called when the user verifies a
  phone or email; it counts the referral exactly once.
- ``waitlist_join(*, email, referral_code=None)`` signs up with an email only.
- ``email_confirm(*, token)`` verifies the address from the welcome email's
  link (and so lets an email-only member's referral count).
- ``email_confirmation_resend(*, email, referral_code=None)`` mails a fresh link.

One mailbox, one place (core/emails.py): the waitlist refuses an address whose
mailbox (``+tag`` and provider dots ignored) is already on it, a referral from the
referrer's own mailbox never counts, and a mailbox earns one referral credit.

Squatting: anyone can put a stranger's address on the waitlist, with their own
referral code. That cannot lock the owner out nor win the squatter the credit:
the owner can always have a fresh link mailed (``email_confirmation_resend``,
throttled, the same answer for any address), and a link names the referrer it
was sent for (``r`` in the token); confirming it, or registering with it, makes
that referrer the one credited (an uncounted referral is re-attributed; a link
asked for without a code credits nobody).

Positions are never stored: they are computed live from ``referral_count``
and ``date_joined`` (core/ranking.py, core/selectors/waitlist.py). With Redis,
a sorted set mirrors the order; it is written only after commit, here, where
the data it mirrors changes (``ranking_entry_sync``), and rebuilt from the
database by ``ranking_index_rebuild`` (``manage.py rebuild_waitlist_ranking``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from core import ranking
from core.emails import email_canonical, email_check_visible, email_mailbox
from core.errors import (
    AlreadyOnWaitlist,
    DomainError,
    ExpiredEmailToken,
    InvalidEmailToken,
    RankingRebuildInProgress,
    SelfReferral,
    UnknownReferralCode,
)
from core.links import absolute_url
from core.models import User, normalize_email
from core.redis import get_redis

logger = logging.getLogger(__name__)


def referrer_for_code(code: str) -> User:
    normalized = (code or "").strip().upper()
    try:
        return User.objects.get(referral_code=normalized)
    except User.DoesNotExist:
        raise UnknownReferralCode() from None


@transaction.atomic
def referral_attach(*, user: User, referrer: User, replace_uncounted: bool = False) -> User:
    """Record `referrer` for a new account; count it now unless verification is required.

    Raises SelfReferral (the referrer's own mailbox). A second referrer for the same
    account is ignored, unless `replace_uncounted` (the mailbox owner proved the
    address and chose this referrer) and the first has not been counted.
    """
    if referrer.pk == user.pk or referrer.email_mailbox == email_mailbox(user.email):
        raise SelfReferral()
    if user.referred_by_id is not None and (
            not replace_uncounted or user.referral_counted_at is not None):
        return user
    user.referred_by = referrer
    user.save(update_fields=["referred_by"])
    if not settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL or user.is_verified:
        _count(user)
    return user


@transaction.atomic
def referral_count_if_eligible(*, user: User) -> bool:
    """Count `user`'s referral for its referrer once it is verified. True if counted now.

    Locks the referee's row, so two concurrent verifications count it once.
    """
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.referred_by_id is None or locked.referral_counted_at is not None:
        return False
    if settings.WAITLIST_REQUIRE_VERIFIED_REFERRAL and not locked.is_verified:
        return False
    counted = _count(locked)
    user.referral_counted_at = locked.referral_counted_at
    return counted


def _count(user: User) -> bool:
    """Count `user`'s referral for its referrer once; True if counted now."""
    if not _mailbox_may_earn_credit(user):
        return False
    now = timezone.now()
    updated = User.objects.filter(pk=user.pk, referral_counted_at__isnull=True).update(
        referral_counted_at=now
    )
    if updated:
        User.objects.filter(pk=user.referred_by_id).update(referral_count=F("referral_count") + 1)
        user.referral_counted_at = now
        # The ranking index (Redis sorted set, when configured) follows the count here.
        referrer_id = user.referred_by_id
        transaction.on_commit(lambda: _after_referral_counted(referrer_id))
    return bool(updated)


def _mailbox_may_earn_credit(user: User) -> bool:
    """False when the referee's mailbox is the referrer's, or already earned a credit.

    Serialised per mailbox (_lock_mailbox), so two aliases verifying at once
    cannot both count.
    """
    mailbox = email_mailbox(user.email)
    _lock_mailbox(mailbox)
    referrer_mailbox = (User.objects.filter(pk=user.referred_by_id)
                        .values_list("email_mailbox", flat=True).first())
    if referrer_mailbox == mailbox:
        return False
    return not (User.objects.filter(email_mailbox=mailbox, referral_counted_at__isnull=False)
                .exclude(pk=user.pk).exists())


def _lock_mailbox(mailbox: str) -> None:
    """Serialise sign-ups and referral credits of one mailbox until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock (the mailbox column is not unique:
    separate accounts may share it). SQLite takes the write lock at BEGIN
    (transaction_mode IMMEDIATE), which serialises these transactions anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["mailbox:" + mailbox])


def referral_reassign(*, user: User, referrer_id: int | None) -> None:
    """The mailbox owner confirmed a link sent for `referrer_id` (None: no referrer):
    make that the account's referrer, unless a referral was already counted."""
    if user.referral_counted_at is not None or user.referred_by_id == referrer_id:
        return
    referrer = None
    if referrer_id is not None:
        referrer = User.objects.filter(pk=referrer_id, is_active=True).first()
        if referrer is not None and (referrer.pk == user.pk
                                     or referrer.email_mailbox == email_mailbox(user.email)):
            referrer = None
    user.referred_by = referrer
    user.save(update_fields=["referred_by"])


def _after_referral_counted(referrer_id: int) -> None:
    """After commit: move the referrer in the Redis ranking (nothing to do without Redis)."""
    ranking_entry_sync(user_id=referrer_id)


def waitlist_join(*, email: str, referral_code: str | None = None) -> User:
    """Sign up for the waitlist with an email only; returns the new account.

    The account has an unusable password: registering later with the same
    email completes it. Nobody is logged in by this. With `referral_code`,
    the code's owner becomes the referrer (counted per referral_attach).

    Raises InvalidEmail (an invisible character), UnknownReferralCode (404),
    SelfReferral (400: the email is the code owner's mailbox), AlreadyOnWaitlist
    (409: an account has this mailbox, core/emails.py). One transaction; the
    welcome email and the Redis ranking entry follow after commit, never for a
    rolled-back sign-up.
    """
    email_check_visible(email)
    email = normalize_email(email)
    mailbox = email_mailbox(email)
    referrer = referrer_for_code(referral_code) if referral_code is not None else None
    if referrer is not None and referrer.email_mailbox == mailbox:
        raise SelfReferral()
    with transaction.atomic():
        _lock_mailbox(mailbox)
        if User.objects.filter(email_mailbox=mailbox).exists():
            raise AlreadyOnWaitlist()
        try:
            with transaction.atomic():  # a concurrent sign-up with the same email loses here
                user = User.objects.create_user(email=email)
        except IntegrityError:
            raise AlreadyOnWaitlist() from None
        if referrer is not None:
            referral_attach(user=user, referrer=referrer)
        transaction.on_commit(partial(welcome_email_send, user_id=user.pk))
    return user


def referral_link(code: str) -> str:
    return absolute_url(f"/?ref={code}")


_EMAIL_TOKEN_SALT = "tombola.waitlist.confirm-email"


# "the member's referrer as stored", for the links of the welcome email.
_REFERRER_OF_USER: Any = object()


def email_confirmation_token(user: User, *, referrer_id: int | None = _REFERRER_OF_USER) -> str:
    """A signed token naming the account, the address it confirms and the referrer
    (user id or None; default the member's stored one) it was sent for (no database row)."""
    if referrer_id is _REFERRER_OF_USER:
        referrer_id = user.referred_by_id
    payload = {"u": user.pk, "e": user.email, "r": referrer_id}
    return signing.dumps(payload, salt=_EMAIL_TOKEN_SALT, compress=True)


def email_confirmation_link(user: User, *, referrer_id: int | None = _REFERRER_OF_USER) -> str:
    token = email_confirmation_token(user, referrer_id=referrer_id)
    return absolute_url(f"/confirm-email?token={token}")


def email_token_payload(token: str, *, any_age: bool = False) -> dict:
    """{"u": user id, "e": email, "r": referrer id or None} from a token (tokens
    issued before "r" existed lack it); InvalidEmailToken or ExpiredEmailToken
    (never with `any_age`: an expired link's page asking for a new one)."""
    try:
        return signing.loads(
            token, salt=_EMAIL_TOKEN_SALT,
            max_age=None if any_age else settings.WAITLIST_EMAIL_TOKEN_MAX_AGE,
        )
    except signing.SignatureExpired:
        raise ExpiredEmailToken() from None
    except signing.BadSignature:
        raise InvalidEmailToken() from None


def email_confirm(*, token: str) -> User:
    """Mark the token's address verified and count the member's referral if it now qualifies.

    Raises InvalidEmailToken (bad signature, unknown account, or the account's
    email changed since) and ExpiredEmailToken (older than
    settings.WAITLIST_EMAIL_TOKEN_MAX_AGE, default 7 days). Confirming twice is
    harmless. The referrer the link was sent for becomes the member's referrer
    while no referral is counted (squatting, module docstring). One transaction;
    the referrer's ranking moves after commit.
    """
    payload = email_token_payload(token)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=payload.get("u")).first()
        if user is None or user.email != payload.get("e"):
            raise InvalidEmailToken()
        if "r" in payload:
            referral_reassign(user=user, referrer_id=payload["r"])
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
        referral_count_if_eligible(user=user)
    return user


def email_confirmation_resend(*, email: str, referral_code: str | None = None) -> None:
    """Mail a fresh confirmation link to a waitlist-only account with this address.

    The same (silent) outcome for any address: unknown, registered, staff or
    deactivated accounts get nothing, and an address gets at most one link per
    WAITLIST_CONFIRMATION_RESEND_SECONDS (a cache key: nobody can bomb a mailbox).
    The link names the referrer of `referral_code` (none without a code):
    confirming it credits that referrer (email_confirm). Raises InvalidEmail and
    UnknownReferralCode (404). The email is sent after commit.
    """
    email_check_visible(email)
    referrer = referrer_for_code(referral_code) if referral_code else None
    user = User.objects.filter(email_canonical=email_canonical(email)).first()
    if (user is None or user.has_usable_password() or not user.is_active
            or user.is_staff or user.is_superuser):
        return
    if not confirmation_resend_allowed(user.pk):
        return
    referrer_id = referrer.pk if referrer is not None else None
    transaction.on_commit(partial(welcome_email_send, user_id=user.pk, referrer_id=referrer_id))


def welcome_email_send(*, user_id: int, referrer_id: int | None = _REFERRER_OF_USER) -> None:
    """The welcome email: referral link and email confirmation link (called after commit).

    The link names `referrer_id` (default: the member's referrer as stored).
    """
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    link = email_confirmation_link(user, referrer_id=referrer_id)
    # In the language of the request that joined (Accept-Language); sent after its commit.
    send_mail(
        subject=gettext("You are on the Tombola waitlist"),
        message=gettext(
            "Thanks for joining the Tombola waitlist.\n\n"
            "Please confirm your email address: %(link)s\n\n"
            "Your referral code: %(code)s\n"
            "Share your link to move up the list: %(referral_link)s\n\n"
            "Each friend who joins with your link and confirms counts as a referral.\n"
        ) % {"link": link, "code": user.referral_code,
             "referral_link": referral_link(user.referral_code)},
        from_email=None,
        recipient_list=[user.email],
        fail_silently=False,
    )


# --- Redis ranking index ------------------------------------------------------------

# Apply one entry to the live set (while `ready` names this ranking) and to the
# set being rebuilt (while a rebuild of this ranking runs), atomically, so that
# a change racing a rebuild reaches the new set too. ZADD LT: a score only ever
# decreases (referrals are never uncounted), so a late writer with an older
# count cannot undo a newer one. An empty score removes the member; ARGV[4]
# "exact" sets the score as is (repairing an entry found stale).
_SYNC_SCRIPT = """
local function apply(set)
  if ARGV[3] == '' then
    redis.call('ZREM', set, ARGV[2])
  elseif ARGV[4] == 'exact' then
    redis.call('ZADD', set, ARGV[3], ARGV[2])
  else
    redis.call('ZADD', set, 'LT', ARGV[3], ARGV[2])
  end
end
if redis.call('GET', KEYS[1]) == ARGV[1] then apply(KEYS[3]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then apply(KEYS[4]) end
return 1
"""

_RANK_FIELDS = ("id", "date_joined", "referral_count", "is_active", "is_staff")


def ranking_entry_sync(
    *, user_id: int, removed: ranking.Entry | None = None, exact: bool = False
) -> None:
    """Make the Redis ranking agree with the database row of `user_id`.

    Call after commit. Reads the row (the count may have moved again since);
    a ranked user is added or moved, an unranked one (staff, inactive) is
    removed; `removed` removes a deleted account; `exact` overwrites the
    score even upwards (repair of an entry found stale). A Redis failure is logged
    and the index is marked not ready, so readers fall back to SQL.
    """
    client = get_redis()
    if client is None:
        return
    try:
        _sync(client, user_id=user_id, removed=removed, exact=exact)
    except Exception:  # connection lost, timeout, ...: an after-commit hook must not raise
        logger.exception("waitlist ranking: could not update user %s in Redis", user_id)
        _mark_not_ready(client)


def _sync(client, *, user_id: int, removed: ranking.Entry | None, exact: bool) -> None:
    current = ranking.current()
    keys = ranking.redis_keys(current)
    if removed is not None:
        entry, score = removed, ""
    else:
        row = User.objects.filter(pk=user_id).values(*_RANK_FIELDS).first()
        if row is None:
            return
        entry = ranking.Entry(row["id"], row["date_joined"], row["referral_count"])
        ranked = row["is_active"] and not row["is_staff"]
        score = str(ranking.redis_score(entry, current)) if ranked else ""
    client.eval(
        _SYNC_SCRIPT, 4, keys.ready, keys.building_marker, keys.live, keys.building,
        current.redis_name, ranking.redis_member(entry), score, "exact" if exact else "",
    )


def _mark_not_ready(client) -> None:
    """The set may have missed a change: stop trusting it until it is rebuilt."""
    try:
        client.delete(ranking.redis_ready_key())
    except Exception:
        logger.exception("waitlist ranking: could not mark the Redis index stale; rebuild it")


def ranking_index_rebuild(
    *, chunk_size: int = 20_000, progress: Callable[[int, int], None] | None = None
) -> int:
    """Rebuild the Redis sorted set of the current ranking from the database.

    Builds a new set beside the live one (readers keep using the old set, or
    SQL, meanwhile), then swaps it in atomically. Reads users in primary-key
    chunks, so memory stays flat at any size. Changes committed during the
    rebuild reach the new set through ranking_entry_sync. Returns the number
    of ranked users; raises RankingRebuildInProgress when another rebuild
    holds the lock. `progress(done, total)` is called after every chunk.
    """
    client = get_redis()
    if client is None:
        raise DomainError(gettext("Redis is not configured (REDIS_URL)."),
                          code="redis_not_configured")
    current = ranking.current()
    keys = ranking.redis_keys(current)
    token = secrets.token_hex(8)
    if not client.set(keys.lock, token, nx=True, ex=3600):
        raise RankingRebuildInProgress()
    try:
        client.delete(keys.building)
        client.set(keys.building_marker, current.redis_name, ex=3600)
        total = ranking.ranked_users().count()
        done, last_id = 0, 0
        while True:
            rows = list(
                ranking.ranked_users()
                .filter(id__gt=last_id)
                .order_by("id")
                .values_list("id", "date_joined", "referral_count")[:chunk_size]
            )
            if not rows:
                break
            mapping = {}
            for row in rows:
                entry = ranking.Entry(*row)
                mapping[ranking.redis_member(entry)] = ranking.redis_score(entry, current)
            client.zadd(keys.building, mapping, lt=True)
            done += len(rows)
            last_id = rows[-1][0]
            if progress is not None:
                progress(done, max(total, done))
        previous = client.get(keys.ready)
        pipe = client.pipeline(transaction=True)
        if done:
            # A plain command: redis-py's cluster pipeline refuses rename() even within
            # one slot (every ranking key carries the same hash tag).
            pipe.execute_command("RENAME", keys.building, keys.live)
        else:
            pipe.delete(keys.live)
        if previous and previous != current.redis_name:
            pipe.delete(ranking.redis_live_key(keys, previous))
        pipe.set(keys.ready, current.redis_name)
        pipe.delete(keys.building_marker)
        pipe.execute()
        return done
    except BaseException:
        client.delete(keys.building, keys.building_marker)
        raise
    finally:
        if client.get(keys.lock) == token:
            client.delete(keys.lock)


def ranking_index_ensure() -> bool:
    """Rebuild a missing Redis index inline when the waitlist is small enough.

    Called by readers that found the index not ready. Above
    settings.WAITLIST_LAZY_REBUILD_MAX ranked users it only logs: run
    ``manage.py rebuild_waitlist_ranking`` (readers use SQL meanwhile).
    True when the index was rebuilt.
    """
    limit = settings.WAITLIST_LAZY_REBUILD_MAX
    if ranking.ranked_users().count() > limit:
        logger.warning(
            "waitlist ranking: Redis index missing; answering from SQL. "
            "Run `manage.py rebuild_waitlist_ranking`."
        )
        return False
    try:
        ranking_index_rebuild()
    except RankingRebuildInProgress:
        return False
    except Exception:
        logger.exception("waitlist ranking: lazy rebuild failed; answering from SQL")
        return False
    return True


def on_user_saved(sender, instance: User, created: bool, update_fields=None, **kwargs) -> None:
    """post_save receiver: keep the index in step for every path that saves a user.

    Registration, waitlist sign-up, createsuperuser and admin edits of
    is_staff/is_active all save a User; a receiver is the one place that sees
    them all. It maintains an index, it does not decide anything.
    """
    if get_redis() is None:
        return
    relevant = {"is_active", "is_staff", "date_joined", "referral_count"}
    if update_fields is not None and not relevant.intersection(update_fields):
        return
    transaction.on_commit(partial(ranking_entry_sync, user_id=instance.pk))


def on_user_deleted(sender, instance: User, **kwargs) -> None:
    """post_delete receiver: drop a deleted account from the index."""
    if get_redis() is None:
        return
    entry = ranking.Entry.of(instance)
    transaction.on_commit(partial(ranking_entry_sync, user_id=instance.pk, removed=entry))


def confirmation_resend_allowed(user_id: int) -> bool:
    """One confirmation mail per account per WAITLIST_CONFIRMATION_RESEND_SECONDS
    (claimed atomically: cache.add)."""
    cooldown = settings.WAITLIST_CONFIRMATION_RESEND_SECONDS
    return cache.add(f"email_confirmation_resend:{user_id}", 1, timeout=cooldown)
