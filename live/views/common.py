"""What every live view module shares: paging, input validation, the staff
permission and the draw lookup scoped to what the requester may see."""

from __future__ import annotations

from rest_framework import permissions

from core.pagination import Pagination
from live import selectors
from live.models import Draw


def paginated(request, view, rows, render):
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response([render(row) for row in page])


def validated(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class IsStaff(permissions.IsAuthenticated):
    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.is_staff


def visible_draw(request, pk: int, draw_id: int) -> Draw:
    """The draw `draw_id` of event `pk` if the requester may see it, else a 404 error."""
    return selectors.draw_get(event_id=pk, draw_id=draw_id, user=request.user)
