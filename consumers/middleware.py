"""The WebSocket stack: origin validation, authentication, then the URL router.

Authentication never reads the URL: a JWT comes either as a second offered
subprotocol ``jwt.<access token>`` next to ``tombola.v1`` or ``tombola.v2`` (the
server echoes the protocol version, never the token) or later in an ``{"type": "auth"}`` message.
A ``?token=`` in the URL is refused: URLs end up in access logs and proxies.

The middleware does not close anything itself: it records what it found in
the scope (``user``, ``subprotocol``, ``auth_error``) and the consumer, which
can send an error frame before closing, acts on it.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.routing import URLRouter
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from consumers.protocol import (
    CLOSE_BAD_REQUEST,
    CLOSE_UNAUTHENTICATED,
    SUBPROTOCOL,
    TOKEN_SUBPROTOCOL_PREFIX,
    ProtocolError,
    negotiated_subprotocol,
    unavailable_error,
)
from core.requestlog import WebSocketRequestId

URL_TOKEN_PARAMETERS = ("token", "access_token", "jwt")


def allowed_origins() -> list[str]:
    """WEBSOCKET_ALLOWED_ORIGINS when set; else this site (ALLOWED_HOSTS) and the browser
    apps allowed to call the API from elsewhere (CORS_ALLOWED_ORIGINS): one list for both
    doors, so an app on another origin that may call /api/ may open its streams too."""
    if settings.WEBSOCKET_ALLOWED_ORIGINS:
        return list(settings.WEBSOCKET_ALLOWED_ORIGINS)
    return [*settings.ALLOWED_HOSTS, *settings.CORS_ALLOWED_ORIGINS]


class StreamOriginValidator(OriginValidator):
    """Channels' origin check, except that a missing Origin header may be allowed.

    Browsers always send Origin, so a browser page on a foreign site is still
    refused; native apps send none (docs/decisions/2026-11-25-websocket-missing-origin.md).
    """

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return settings.WS_ALLOW_MISSING_ORIGIN or "*" in self.allowed_origins
        return self.validate_origin(parsed_origin)


def _user_from_token(raw: str):
    """The active user a JWT access token names; raises ProtocolError otherwise."""
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework_simplejwt.authentication import JWTAuthentication
    from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

    from core.authentication import (
        AUTH_TIME_CLAIM,
        CLAIM_FIELDS,
        RevocationCheck,
        claims_user,
        has_session_claims,
    )

    auth = JWTAuthentication()
    try:
        token = auth.get_validated_token(raw.encode())
        if not has_session_claims(token):
            return auth.get_user(token)  # an older token: the user row, as before
        # The user from the token's claims, as HTTP requests get it (core.authentication):
        # no user query per socket, which a crowd opening sockets for a sale would queue
        # on the worker's one database thread (bench/waiting_room.py). A revoked session
        # (a new password, a demotion, a deactivation) opens no socket either.
        user = claims_user(token)
        RevocationCheck(user_id=user.pk, auth_time=float(token[AUTH_TIME_CLAIM])).check(
            claims={name: bool(token[name]) for name in CLAIM_FIELDS})
        return user
    except (InvalidToken, TokenError, AuthenticationFailed) as exc:
        raise ProtocolError(
            "invalid_token", "The access token is invalid or expired.",
            close_code=CLOSE_UNAUTHENTICATED,
        ) from exc


user_from_token = database_sync_to_async(_user_from_token)


class StreamAuthMiddleware(BaseMiddleware):
    """Sets scope["user"], scope["subprotocol"] (to echo) and scope["auth_error"]."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope, user=AnonymousUser(), auth_error=None)
        offered = list(scope.get("subprotocols") or [])
        scope["subprotocol"] = negotiated_subprotocol(offered)
        query = parse_qs(scope.get("query_string", b"").decode("latin1"), keep_blank_values=True)
        tokens = [p[len(TOKEN_SUBPROTOCOL_PREFIX):] for p in offered
                  if p.startswith(TOKEN_SUBPROTOCOL_PREFIX)]
        try:
            if any(name in query for name in URL_TOKEN_PARAMETERS):
                raise ProtocolError(
                    "token_in_url",
                    "Never put a token in the URL; offer it as the subprotocol "
                    f"'{TOKEN_SUBPROTOCOL_PREFIX}<token>' or send an auth message.",
                    close_code=CLOSE_BAD_REQUEST,
                )
            if tokens:
                if scope["subprotocol"] is None:
                    raise ProtocolError(
                        "subprotocol_required",
                        f"Offer '{SUBPROTOCOL}' (or a newer version) next to the token "
                        "subprotocol.",
                        close_code=CLOSE_BAD_REQUEST,
                    )
                scope["user"] = await user_from_token(tokens[0])
        except ProtocolError as exc:
            scope["auth_error"] = exc
        except Exception as exc:
            # The database is down: the consumer accepts, sends this and closes 4503.
            scope["auth_error"] = unavailable_error(exc)
            if scope["auth_error"] is None:
                raise
        return await super().__call__(scope, receive, send)


def websocket_stack(urlpatterns):
    # Outermost: a socket refused for its origin is logged with its request id too.
    return WebSocketRequestId(
        StreamOriginValidator(StreamAuthMiddleware(URLRouter(urlpatterns)), allowed_origins()))
