"""One error shape for every API and WebSocket error.

    {"code": "machine_readable", "detail": "What went wrong, for a person.",
     "fields": {"field": ["message", ...]}}      # fields only for validation errors

Services raise a DomainError subclass with its own code and HTTP status; the
DRF exception handler below and consumers' error frames render it.

`detail` is translated (gettext_lazy: rendered in the language of the request,
chosen by Accept-Language, core/settings.py LANGUAGES); `code` never is: it is the
machine-readable contract.

This module holds the base classes, every error class of core's modules and the
rendering; live/errors.py and ticketing/errors.py hold their apps' errors.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class DomainError(Exception):
    """A rule of the domain said no. Subclass per case, or pass code/detail."""

    code = "error"
    detail = _("The request could not be completed.")
    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if detail is not None:
            self.detail = detail
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra or {}
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": str(self.detail), **self.extra}


class NotFound(DomainError):
    code = "not_found"
    detail = _("Not found.")
    status_code = status.HTTP_404_NOT_FOUND


class Conflict(DomainError):
    code = "conflict"
    detail = _("The request conflicts with the current state.")
    status_code = status.HTTP_409_CONFLICT


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    detail = _("A backing service is unavailable; try again shortly.")
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


# === Domain errors of core's modules (the base classes are above, rendering below) ===
# --- Accounts and tokens (core/services/accounts.py) --------------------------------


class InvalidEmail(DomainError):
    code = "invalid_email"
    detail = _(
        "The email address contains an invisible character (a zero-width space or joiner, "
        "a soft hyphen, ...). Type the address again without it."
    )


class EmailTaken(DomainError):
    code = "email_taken"
    detail = _("An account with this email already exists.")


class PhoneTaken(DomainError):
    code = "phone_taken"
    detail = _("Another account uses this phone number.")


class EmailConfirmationRequired(Conflict):
    code = "email_confirmation_required"
    detail = _(
        "This email is on the waitlist. Finish signing up with the link in the welcome "
        "email (send its token as email_token), so that only the owner of the address can; "
        "a lost or expired link: POST /api/waitlist/confirm-email/resend/ mails a new one."
    )


class InvalidPassword(DomainError):
    """The password breaks a validator; rendered like a field validation error."""

    code = "invalid"
    detail = _("Invalid input.")

    def __init__(self, messages: list[str], field: str = "password") -> None:
        super().__init__(extra={"fields": {field: messages}})


class WrongCurrentPassword(DomainError):
    code = "wrong_current_password"
    detail = _("Changing the email or the password needs the account's current password.")


class InvalidRefreshToken(DomainError):
    code = "token_not_valid"
    detail = _("The refresh token is invalid, expired or already logged out.")


class InvalidResetLink(DomainError):
    code = "invalid_reset_link"
    detail = _("This password reset link is not valid: it expired, was already used, or the "
              "password or email changed since. Ask for a new one.")


class InvalidEmailChangeToken(DomainError):
    code = "invalid_token"
    detail = _("This email change link is not valid: it was already used, or the account's "
              "address changed since. Ask for the change again.")


class ReauthenticationRequired(DomainError):
    code = "reauthentication_required"
    detail = _("Deleting the account needs its password, or a login within the last few "
              "minutes.")


class AccountDeletionBlocked(Conflict):
    """Something the account still holds must be settled first (``reasons``)."""

    code = "account_deletion_blocked"
    detail = _("The account cannot be deleted yet: settle what `reasons` lists first.")

    def __init__(self, reasons: list[dict]) -> None:
        super().__init__(extra={"reasons": reasons})


# --- Phone numbers (core/phones.py) -------------------------------------------------


class InvalidPhone(DomainError):
    code = "invalid_phone"
    detail = _("Enter a valid phone number in international format, e.g. +4915112345678.")


class PhoneNotMobile(DomainError):
    code = "phone_not_mobile"
    detail = _("Codes are only texted to mobile numbers; enter your mobile phone number.")


class PhoneRegionNotAllowed(DomainError):
    code = "phone_region_not_allowed"
    detail = _("Codes cannot be texted to numbers of this country.")


# --- Phone verification (core/services/phone_verification.py) -----------------------


class CodeResendTooSoon(DomainError):
    code = "code_resend_too_soon"
    detail = _("A code was sent to this phone moments ago; wait before asking again.")
    status_code = 429

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(extra={"retry_after_seconds": retry_after_seconds})


class CodeDailyLimit(DomainError):
    code = "code_daily_limit"
    detail = _("Too many codes were asked for today; try again later.")
    status_code = 429

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(extra={"retry_after_seconds": retry_after_seconds})


class InvalidCode(DomainError):
    code = "invalid_code"
    detail = _("The code is wrong or was not sent to this phone.")


class CodeExpired(DomainError):
    code = "code_expired"
    detail = _("The code has expired; ask for a new one.")


class TooManyAttempts(DomainError):
    code = "too_many_attempts"
    detail = _("Too many wrong codes; ask for a new one.")


# --- SMS (core/sms.py) --------------------------------------------------------------


class SmsUnavailable(ServiceUnavailable):
    code = "sms_unavailable"
    detail = _("The SMS service is unavailable; try again shortly.")


class SmsBudgetExhausted(SmsUnavailable):
    code = "sms_budget_exhausted"
    detail = _("Today's text messages are used up; try again tomorrow.")


# --- Referral waitlist (core/services/waitlist.py) ----------------------------------


class UnknownReferralCode(NotFound):
    code = "unknown_referral_code"
    detail = _("No account has this referral code.")


class SelfReferral(DomainError):
    code = "self_referral"
    detail = _("You cannot use your own referral code.")


class AlreadyOnWaitlist(Conflict):
    code = "already_on_waitlist"
    detail = _(
        "This email address is already on the waitlist. Lost the confirmation email? "
        "POST /api/waitlist/confirm-email/resend/ mails a new link."
    )


class InvalidEmailToken(DomainError):
    code = "invalid_token"
    detail = _("This email confirmation link is not valid.")


class ExpiredEmailToken(DomainError):
    code = "token_expired"
    detail = _("This email confirmation link has expired; ask for a new one.")


class RankingRebuildInProgress(Conflict):
    code = "ranking_rebuild_in_progress"
    detail = _("Another rebuild of the waitlist ranking is running.")


# --- Lists (core/filters.py) ---------------------------------------------------------


class UnknownQueryParameter(DomainError):
    code = "unknown_parameter"
    detail = _("A query parameter names no filter of this list.")

    def __init__(self, names: list[str], *, known: list[str]) -> None:
        super().__init__(
            gettext("Unknown query parameter: %(names)s. This list knows: %(known)s.")
            % {"names": ", ".join(names), "known": ", ".join(known)},
            extra={"fields": {name: [gettext("Unknown query parameter.")] for name in names},
                   "known": known})


# --- Events (core/selectors/events.py) ----------------------------------------------


class EventNotFound(NotFound):
    code = "event_not_found"
    detail = _("No such event.")


# --- Waitlist ranking (core/ranking.py, core/selectors/waitlist.py) -------------------
# Internal: a bad configuration, or a Redis index SQL must stand in for; never rendered.


class RankingConfigError(ValueError):
    pass


class RankingIndexUnavailable(Exception):
    """The Redis index cannot answer this question; SQL must."""


class RankingIndexNotReady(RankingIndexUnavailable):
    """Not configured, never built, lost in a Redis restart, or built for another ranking."""


class RankingEntryStale(RankingIndexUnavailable):
    """The asker's own entry disagrees with the database."""


# --- Outbound deliveries (core/outbound.py) ------------------------------------------
# A Django ValidationError: model and form validation show it on the URL field.


class UnsafeDestination(ValidationError):
    """The URL's host is, or resolves to, an address we do not send to."""


# --- Streams (core/streams.py, each app's streams.py) -------------------------------
# Internal: a publisher or reducer bug; never rendered.


class UnknownMessageType(ValueError):
    """A message type the stream kind does not publish (a reducer or publisher bug)."""

    def __init__(self, kind: str, type_: str) -> None:
        super().__init__(f"stream kind {kind!r} has no message type {type_!r}")
        self.kind, self.type = kind, type_


# === Rendering ====================================================================


def error_body(code: str, detail: str, fields: dict | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {"code": code, "detail": detail}
    if fields is not None:
        body["fields"] = fields
    body.update(extra)
    return body


def _flatten_codes(codes: Any) -> str:
    while isinstance(codes, dict | list) and codes:
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return codes if isinstance(codes, str) else "error"


def is_redis_unavailable(exc: BaseException) -> bool:
    """A connection-level Redis failure (server down, restarting, timing out), or on a
    Redis Cluster a failover the client's retries did not outlast (CLUSTERDOWN,
    TRYAGAIN, a slot no node serves yet)."""
    try:
        import redis
        from redis.exceptions import (
            ClusterError,
            MasterDownError,
            SlotNotCoveredError,
            TryAgainError,
        )
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, redis.ConnectionError | redis.TimeoutError | ClusterError
                      | MasterDownError | SlotNotCoveredError | TryAgainError)


def backing_service_down(exc: BaseException | None) -> str | None:
    """The error code for a backing service that is down, or None for any other error.

    "database_unavailable" or "redis_unavailable". The one mapping of outages for both
    transports: REST answers it 503 (``unavailable_body``), a WebSocket with an error
    frame and close 4503 (``consumers.protocol.unavailable_error``); each adds its own
    advice to the detail ("try again" / "reconnect with since").
    """
    # Connection-level failures only: an IntegrityError or another DatabaseError is a
    # bug to fix, not a 503.
    if isinstance(exc, OperationalError):
        return "database_unavailable"
    if exc is not None and is_redis_unavailable(exc):
        return "redis_unavailable"
    return None


UNAVAILABLE_DETAILS = {
    "database_unavailable": _("The database is unavailable; try again shortly."),
    "redis_unavailable": _("A backing service (Redis) is unavailable; try again shortly."),
}


def unavailable_body(exc: BaseException | None) -> dict | None:
    """The 503 body for a backing service that is down, or None for any other error."""
    code = backing_service_down(exc)
    return error_body(code, str(UNAVAILABLE_DETAILS[code])) if code else None


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status_code)
    unavailable = unavailable_body(exc)
    if unavailable is not None:
        return Response(unavailable, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("invalid", str(_("Invalid input.")), fields=fields)
    elif isinstance(exc, exceptions.APIException):
        code = _flatten_codes(exc.get_codes())
        detail = exc.detail
        if isinstance(detail, dict):  # simplejwt's token errors carry a dict
            detail = detail.get("detail", _("Request failed."))
        extra = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            extra["retry_after_seconds"] = int(exc.wait) + 1
        response.data = error_body(code, str(detail), **extra)
    return response


def json_404(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("not_found", str(_("Not found."))), status=404)


def json_500(request) -> JsonResponse:
    # Django calls this while handling the exception: outside DRF views (admin,
    # the venue screen, middleware) a database or Redis outage is a 503 too.
    unavailable = unavailable_body(sys.exc_info()[1])
    if unavailable is not None:
        return JsonResponse(unavailable, status=503)
    return JsonResponse(error_body("server_error", str(_("Internal server error."))), status=500)


def json_400(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("bad_request", str(_("Bad request."))), status=400)


def json_403(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("permission_denied", str(_("Permission denied."))),
                        status=403)


# Statuses a framework (Django's URL resolver, a plain view, DEBUG's technical pages)
# can answer with HTML or an empty body; everything else under /api/ is DRF's JSON.
_FRAMEWORK_ERRORS = {
    400: ("bad_request", _("Bad request.")),
    403: ("permission_denied", _("Permission denied.")),
    404: ("not_found", _("Not found.")),
    405: ("method_not_allowed", _("Method not allowed.")),
    406: ("not_acceptable", _("Only application/json is served here.")),
    413: ("request_too_large", _("The request body is too large.")),
    415: ("unsupported_media_type", _("Unsupported media type.")),
    429: ("throttled", _("Too many requests; try again later.")),
    500: ("server_error", _("Internal server error.")),
    503: ("service_unavailable", _("A backing service is unavailable; try again shortly.")),
}


def api_json_errors(get_response):
    """Every error under /api/ is JSON in the one error shape.

    Django answers some errors before (or around) DRF: an unknown path (404, an HTML
    page with DEBUG on), a method a plain view does not take (405, empty), a failed
    view under DEBUG (its HTML traceback page). The docs pages (HTML) and the schema
    (YAML) are answers, not errors, and pass untouched.
    """

    def middleware(request):
        response = get_response(request)
        if (response.status_code >= 400 and request.path.startswith("/api/")
                and not response.get("Content-Type", "").startswith("application/json")
                and not getattr(response, "streaming", False)
                # DEBUG's browsable API, asked for by a browser: a developer's page.
                and not getattr(response, "accepted_media_type", "").startswith("text/html")):
            code, detail = _FRAMEWORK_ERRORS.get(
                response.status_code, ("error", DomainError.detail))
            json_response = JsonResponse(error_body(code, str(detail)),
                                         status=response.status_code)
            for header in ("Allow", "Retry-After", "X-Request-ID", "Vary", "Content-Language"):
                if header in response:
                    json_response[header] = response[header]
            return json_response
        return response

    return middleware
