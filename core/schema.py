"""OpenAPI schema generation (drf-spectacular)."""

from __future__ import annotations

import inspect

from drf_spectacular.contrib.rest_framework_simplejwt import (
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
)
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class AutoSchema(SpectacularAutoSchema):
    """Name nested serializers after their view.

    Views nest ``InputSerializer`` / ``OutputSerializer`` (HackSoft style);
    by class name alone every view's would be the same component. A nested
    ``RegisterApi.InputSerializer`` becomes ``RegisterInput``.

    Every operation also documents the errors the framework answers by
    itself (400, 401, 403, 404, 429, from its method, path, permissions and
    throttle) with the shared `Error` component; views add their own codes.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        return None if operation is None else _add_default_errors(self, operation)

    # Summary and description: `extend_schema(summary=, description=)` when given;
    # else the handler's own docstring (a generic view whose handlers are DRF's: its
    # `operation_docs = {"GET": "..."}`), first paragraph the summary, the rest the
    # description (or, without a rest, the view class's own docstring). Docstrings
    # inherited from DRF or a mixin describe code, not the operation: never used.

    def _handler_doc(self) -> tuple[str, str]:
        handler = getattr(self.view, getattr(self.view, "action", None) or self.method.lower(),
                          None)
        doc = getattr(self.view, "operation_docs", {}).get(self.method.upper())
        if doc is None and _ours(handler):
            doc = getattr(handler, "__doc__", None)
        doc = inspect.cleandoc(doc or "")
        if not doc:
            return "", ""
        first, _, rest = doc.partition("\n\n")
        return " ".join(first.split()), rest.strip()

    def get_summary(self) -> str | None:
        return self._handler_doc()[0].rstrip(".") or None

    def get_description(self) -> str:
        rest = self._handler_doc()[1]
        own = type(self.view).__dict__.get("__doc__")
        return rest or (inspect.cleandoc(own) if own else "")

    def get_operation_id(self) -> str:
        # "participants.csv" paths: identifiers without dots.
        return super().get_operation_id().replace(".", "_")

    def get_serializer_name(self, serializer, direction) -> str:
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        outer, inner = qualname.split(".")[-2:]
        for suffix in ("Api", "APIView", "View", "ViewSet"):
            outer = outer.removesuffix(suffix)
        return outer + inner.removesuffix("Serializer")


OUR_APPS = ("core.", "ticketing.", "live.")


def _ours(function) -> bool:
    return getattr(function, "__module__", "").startswith(OUR_APPS)


# --- the shared error shape and the errors every operation can answer ----------


class Error(serializers.Serializer):
    """core/errors.py's one error shape; some codes add keys (e.g. `seats`)."""

    code = serializers.CharField(help_text="Machine-readable, e.g. `invalid`, `throttled`.")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(
        required=False, child=serializers.JSONField(),
        help_text="Validation errors only: field name -> messages.",
    )
    retry_after_seconds = serializers.IntegerField(
        required=False, help_text="429 only: when to try again."
    )


def error(description: str) -> OpenApiResponse:
    """A documented error response: `error("409 seats_unavailable: ...")`."""
    return OpenApiResponse(Error, description=description)


def errors(**by_status: str) -> dict:
    """`errors(e409="seats_unavailable", e410="hold_expired")` -> responses entries."""
    return {int(key.removeprefix("e")): error(text) for key, text in by_status.items()}


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
OPEN_PERMISSIONS = {"AllowAny", "IsAuthenticated", "IsAuthenticatedOrReadOnly"}


def _default_errors(auto: AutoSchema, operation: dict) -> dict[str, str]:
    """The error statuses the framework itself can answer for this operation."""
    found: dict[str, str] = {}
    has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    if auto.method not in SAFE_METHODS or has_query:
        found["400"] = "invalid: a field or parameter is wrong; `fields` says which."
    authenticated = any(operation.get("security", []))  # [{}] means "anyone"
    if authenticated:
        found["401"] = "not_authenticated / token_not_valid: log in first."
    permissions = {type(p).__name__ for p in auto.view.get_permissions()}
    # Staff-only permissions, or a session login's CSRF check on writes.
    if permissions - OPEN_PERMISSIONS or (auto.method not in SAFE_METHODS and authenticated):
        found["403"] = "permission_denied: not allowed for this account."
    if "{" in auto.path:
        found["404"] = "not_found (or a more specific *_not_found): no such object for you."
    if getattr(auto.view, "throttle_scope", None):
        found["429"] = (f"throttled (scope `{auto.view.throttle_scope}`), with "
                        "`retry_after_seconds`.")
    return found


def _add_default_errors(auto: AutoSchema, operation: dict) -> dict:
    responses = operation.setdefault("responses", {})
    ref = auto.resolve_serializer(Error, "response").ref
    for status_code, description in _default_errors(auto, operation).items():
        responses.setdefault(status_code, {
            "content": {"application/json": {"schema": ref}}, "description": description,
        })
    return operation


class JWTScheme(OpenApiAuthenticationExtension):
    """simplejwt accepts `Bearer` and `JWT` headers; OpenAPI names one scheme."""

    target_class = "rest_framework_simplejwt.authentication.JWTAuthentication"
    match_subclasses = True  # core.authentication.ClaimsJWTAuthentication
    name = "jwtAuth"
    priority = 1  # over drf-spectacular's own, which warns about the second header type

    def get_security_definition(self, auto_schema):
        return {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "`Authorization: Bearer <access>` (`JWT <access>` works too).",
        }


class SessionTokenObtainSchema(TokenObtainPairSerializerExtension):
    """Our login serializer only changes the token class: document it as simplejwt's."""

    target_class = "core.authentication.TokenObtainSerializer"


class SessionTokenRefreshSchema(TokenRefreshSerializerExtension):
    target_class = "core.authentication.TokenRefreshSerializer"
