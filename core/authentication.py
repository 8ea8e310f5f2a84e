"""Bearer JWTs authenticated from their claims, with revocation still honoured.

The access token carries what the hot paths read about the user (its id,
``is_staff``, ``is_superuser``) and ``auth_time``, when the session it belongs
to began (float seconds; copied from the refresh token to every access token
refreshed from it). Authentication builds a ``User`` from those claims without
a query; its other fields are deferred and the first one touched loads them
all in one query (``claims_user``). It is a real ``User`` instance, so ORM
filters and foreign keys take it as they take a loaded one.

Revocation: ``tokens_revoke`` (deactivation, password change, a change of
staff rights, deletion: core.services.accounts) blacklists the user's refresh
tokens in the database and writes a deny entry "sessions begun before T are
over" to the cache for one access-token lifetime (after that every access token
of those sessions has expired by itself, and the blacklisted refresh tokens
cannot make new ones). Every authentication reads that entry: on Redis in the
same round trip as the view's throttle check when the view has one
(core.throttles), otherwise one GET. No deny entry is ever older than the
access tokens it must refuse, so a revoked user is refused at once and a user
whose entry was lost (Redis flushed) within one access-token lifetime.

Embedded defaults keep the deny list in the process's local-memory cache,
which a restart empties: tokens of sessions that began before this process
started are checked in the database instead (is the user there and active).
Tokens issued without the claims (before this module) are authenticated from
the database as before.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken

from core.emails import mailbox_digest
from core.models import User

AUTH_TIME_CLAIM = "auth_time"
# A digest of the account's mailbox (core.emails.mailbox_digest): one waiting-room
# place per person without a query on the join path.
MAILBOX_CLAIM = "mbx"
CLAIM_FIELDS = ("is_staff", "is_superuser")
PROCESS_STARTED_AT = time.time()


# --- issuing ------------------------------------------------------------------


class SessionRefreshToken(RefreshToken):
    """A refresh token whose access tokens carry the claims authentication reads."""

    @classmethod
    def for_user(cls, user: User) -> SessionRefreshToken:
        token = super().for_user(user)
        token[AUTH_TIME_CLAIM] = time.time()
        for name in CLAIM_FIELDS:
            token[name] = bool(getattr(user, name))
        token[MAILBOX_CLAIM] = mailbox_digest(user.email_mailbox)
        return token


class TokenObtainSerializer(TokenObtainPairSerializer):
    token_class = SessionRefreshToken

    def validate(self, attrs):
        # The session begins before the password check, not after: a revocation
        # (a demotion, a new password) that lands while it runs covers it, since
        # the deny entry says "sessions begun before T".
        self._session_started = time.time()
        return super().validate(attrs)

    def get_token(self, user: User) -> SessionRefreshToken:
        token = self.token_class.for_user(user)
        token[AUTH_TIME_CLAIM] = self._session_started
        return token


class TokenRefreshSerializer(TokenRefreshSerializer):
    """A refresh copies the claims of the refresh token (its session), so it checks
    them against the user row first: a session whose rights changed (a demotion that
    raced a login or a refresh, or a change made without the save signal) must log
    in again rather than carry stale claims for the refresh token's lifetime. A
    session revoked by the deny list cannot be refreshed either."""

    token_class = SessionRefreshToken

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])
        if has_session_claims(refresh):
            user_id = refresh.payload.get(jwt_settings.USER_ID_CLAIM)
            row = User.objects.filter(pk=user_id).values(*CLAIM_FIELDS).first()
            if row is not None and any(bool(refresh[name]) != row[name] for name in CLAIM_FIELDS):
                raise AuthenticationFailed("The account's rights changed; log in again.",
                                           code="token_not_valid")
            RevocationCheck(user_id=user_id, auth_time=float(refresh[AUTH_TIME_CLAIM])).check()
        return super().validate(attrs)


# --- the user from claims -------------------------------------------------------


def claims_user(token: Any) -> User:
    """A User built from the token's claims; touching any other field loads the row."""
    claimed = {
        "id": User._meta.pk.to_python(token[jwt_settings.USER_ID_CLAIM]),
        "is_active": True,  # tokens are issued to active users; deactivation revokes them
        **{name: bool(token[name]) for name in CLAIM_FIELDS},
    }
    # from_db takes the loaded values in the model's field order; the rest are deferred.
    names = [f.attname for f in User._meta.concrete_fields if f.attname in claimed]
    user = User.from_db(None, names, [claimed[name] for name in names])

    def refresh_from_db(using=None, fields=None, from_queryset=None):
        # A deferred field was touched (Django asks for that one field): load
        # every field at once, claims included, so the row is read once.
        User.refresh_from_db(user, using=using, from_queryset=from_queryset,
                             fields=[f.attname for f in User._meta.concrete_fields])

    user.refresh_from_db = refresh_from_db
    user.mailbox_digest = token.get(MAILBOX_CLAIM)
    return user


def has_session_claims(token: Any) -> bool:
    return AUTH_TIME_CLAIM in token and all(name in token for name in CLAIM_FIELDS)


# --- the deny list --------------------------------------------------------------


def user_tag(user_id: Any) -> str:
    """The hash tag of a user's cache keys (core/redis.py `tagged`): the deny entry and
    the user's throttle counters share a cluster slot, so the throttle's one script
    reads both (core/throttles.py)."""
    return f"{{u{user_id}}}"


def deny_key(user_id: Any) -> str:
    return f"auth_revoked_{user_tag(user_id)}"


def _micros(seconds: float) -> int:
    # An int: Django's Redis cache stores ints as plain numbers, which the
    # throttle's Lua script can read (other values are pickled).
    return int(seconds * 1_000_000)


def tokens_deny(*, user_id: Any, at: float | None = None) -> None:
    """Refuse the access tokens of every session of this user begun before now."""
    timeout = jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds() + 60
    caches["default"].set(deny_key(user_id), _micros(at or time.time()), timeout=timeout)


class RevocationCheck:
    """A token's revocation, to be decided from the user's deny entry."""

    def __init__(self, *, user_id: Any, auth_time: float) -> None:
        self.user_id = user_id
        self.auth_time = auth_time
        self.key = deny_key(user_id)

    def refuse_if_revoked(self, revoked_before: Any) -> None:
        if revoked_before is not None and _micros(self.auth_time) <= int(revoked_before):
            raise AuthenticationFailed("The token has been revoked.", code="token_not_valid")

    def check(self, claims: dict[str, bool] | None = None) -> None:
        """Read the deny entry now (one cache read); fall back to the database when the
        local-memory cache cannot know (the session began before this process): the
        user must be active and, when `claims` are given, still have those rights."""
        cache = caches["default"]
        self.refuse_if_revoked(cache.get(self.key))
        if isinstance(cache, LocMemCache) and self.auth_time < PROCESS_STARTED_AT:
            row = (User.objects.filter(pk=self.user_id, is_active=True)
                   .values(*CLAIM_FIELDS).first())
            if row is None:
                raise AuthenticationFailed("User is inactive.", code="user_inactive")
            if claims is not None and any(row[k] != v for k, v in claims.items()):
                raise AuthenticationFailed("The token has been revoked.",
                                           code="token_not_valid")


PENDING_CHECK_ATTRIBUTE = "_tombola_revocation_check"


def pending_revocation_check(request) -> RevocationCheck | None:
    """The check authentication left to the throttle (core.throttles), taken once."""
    check = getattr(request, PENDING_CHECK_ATTRIBUTE, None)
    if check is not None:
        setattr(request, PENDING_CHECK_ATTRIBUTE, None)
    return check


def _throttle_will_check(request) -> bool:
    """Will a ScopedThrottle of this request's view run (and read the deny entry)?"""
    from core.throttles import ScopedThrottle

    if not isinstance(caches["default"], RedisCache):
        return False
    view = (getattr(request, "parser_context", None) or {}).get("view")
    if view is None:
        return False
    return any(isinstance(throttle, ScopedThrottle) for throttle in view.get_throttles())


class ClaimsJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication, minus the user query (see the module docstring)."""

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        raw_token = self.get_raw_token(header)
        if raw_token is None:
            return None
        token = self.get_validated_token(raw_token)
        if not has_session_claims(token):
            return self.get_user(token), token  # an older token: the user row, as before
        user = claims_user(token)
        check = RevocationCheck(user_id=user.pk, auth_time=float(token[AUTH_TIME_CLAIM]))
        if _throttle_will_check(request):
            # Read in the throttle's round trip; DRF runs the throttles before the view.
            setattr(request, PENDING_CHECK_ATTRIBUTE, check)
        else:
            check.check(claims={name: bool(token[name]) for name in CLAIM_FIELDS})
        return user, token
