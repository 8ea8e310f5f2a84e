"""One error shape for every API and WebSocket error.

    {"code": "machine_readable", "detail": "What went wrong, for a person.",
     "fields": {"field": ["message", ...]}}      # fields only for validation errors

Services raise a DomainError subclass with its own code and HTTP status; the
DRF exception handler below and consumers' error frames render it.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class DomainError(Exception):
    """A rule of the domain said no. Subclass per case, or pass code/detail."""

    code = "error"
    detail = "The request could not be completed."
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
    detail = "Not found."
    status_code = status.HTTP_404_NOT_FOUND


class Conflict(DomainError):
    code = "conflict"
    detail = "The request conflicts with the current state."
    status_code = status.HTTP_409_CONFLICT


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    detail = "A backing service is unavailable; try again shortly."
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


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


DATABASE_UNAVAILABLE = ("database_unavailable", "The database is unavailable; try again shortly.")
REDIS_UNAVAILABLE = (
    "redis_unavailable", "A backing service (Redis) is unavailable; try again shortly."
)


def is_redis_unavailable(exc: BaseException) -> bool:
    """A connection-level Redis failure (server down, restarting, timing out)."""
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, redis.ConnectionError | redis.TimeoutError)


def unavailable_body(exc: BaseException | None) -> dict | None:
    """The 503 body for a backing service that is down, or None for any other error."""
    if isinstance(exc, OperationalError | DatabaseError) and _is_unavailable(exc):
        return error_body(*DATABASE_UNAVAILABLE)
    if exc is not None and is_redis_unavailable(exc):
        return error_body(*REDIS_UNAVAILABLE)
    return None


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
        response.data = error_body("invalid", "Invalid input.", fields=fields)
    elif isinstance(exc, exceptions.APIException):
        code = _flatten_codes(exc.get_codes())
        detail = exc.detail
        if isinstance(detail, dict):  # simplejwt's token errors carry a dict
            detail = detail.get("detail", "Request failed.")
        extra = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            extra["retry_after_seconds"] = int(exc.wait) + 1
        response.data = error_body(code, str(detail), **extra)
    return response


def _is_unavailable(exc: Exception) -> bool:
    # Connection-level failures only; a constraint violation is a bug to fix, not a 503.
    return isinstance(exc, OperationalError)


def json_404(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_500(request) -> JsonResponse:
    # Django calls this while handling the exception: outside DRF views (admin,
    # the venue screen, middleware) a database or Redis outage is a 503 too.
    unavailable = unavailable_body(sys.exc_info()[1])
    if unavailable is not None:
        return JsonResponse(unavailable, status=503)
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)


def json_400(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def json_403(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("permission_denied", "Permission denied."), status=403)
