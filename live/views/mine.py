"""My draw entries across events, each with where it stands."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from core.filters import FilteredListMixin, filtered
from core.pagination import Pagination
from live import selectors
from live.filters import EntryFilters
from live.serializers import MyEntryOutput


def _entry_body(entry, external: dict) -> dict:
    draw, event = entry.draw, entry.draw.event
    win = getattr(entry, "win", None) or external.get(entry.draw_id)
    state = selectors.entry_state(entry, win)
    won = state in ("won", "forfeited")
    return {
        "id": entry.pk, "draw": draw.pk, "draw_title": draw.title, "draw_kind": draw.kind,
        "draw_status": draw.status, "event": event.pk, "event_title": event.title,
        "event_starts_at": event.starts_at, "ballot_no": entry.ballot_no,
        "numbers": entry.number_list or None, "scheduled_at": draw.scheduled_at,
        "state": state, "prize": win.prize.name if won else None,
        "claim_deadline": win.claim_deadline if won else None,
        "claimed_at": win.claimed_at if won else None, "created_at": entry.created_at,
    }


class MyEntriesView(FilteredListMixin, APIView):
    """My entries in every draw, newest first."""

    pagination_class = Pagination  # for the schema
    filterset_class = EntryFilters

    @extend_schema(responses=MyEntryOutput(many=True))
    def get(self, request):
        """List my draw entries.

        Every draw I entered, across events, newest first, with its state: `open`, `closed`
        (entries closed, not drawn yet), `won` (with the prize, claim deadline and claim time),
        `forfeited` or `not_won`."""
        entries = filtered(request, self, selectors.entries_of(user=request.user))
        paginator = Pagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        external = selectors.external_wins(user=request.user, entries=page)
        return paginator.get_paginated_response([_entry_body(e, external) for e in page])
