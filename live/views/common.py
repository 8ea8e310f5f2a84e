"""What every live view module shares: paging, input validation and the draw
lookup scoped to what the requester may see. Staff views check model permissions
(core/permissions.py)."""

from __future__ import annotations

from core.filters import filtered
from core.pagination import Pagination
from live import selectors
from live.models import Draw


def paginated(request, view, rows, render):
    """One page of `rows` (through the view's `filterset_class` when it has one), each
    rendered by `render`."""
    if getattr(view, "filterset_class", None) is not None:
        rows = filtered(request, view, rows)
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response([render(row) for row in page])


def validated(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def visible_draw(request, pk: int, draw_id: int) -> Draw:
    """The draw `draw_id` of event `pk` if the requester may see it, else a 404 error."""
    return selectors.draw_get(event_id=pk, draw_id=draw_id, user=request.user)
