"""OpenAPI schema generation (drf-spectacular)."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    """Name nested serializers after their view.

    Views nest ``InputSerializer`` / ``OutputSerializer`` (HackSoft style);
    by class name alone every view's would be the same component. A nested
    ``RegisterApi.InputSerializer`` becomes ``RegisterInput``.
    """

    def get_serializer_name(self, serializer, direction) -> str:
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        outer, inner = qualname.split(".")[-2:]
        for suffix in ("Api", "APIView", "View", "ViewSet"):
            outer = outer.removesuffix(suffix)
        return outer + inner.removesuffix("Serializer")
