"""Filters, ordering and search of the live lists (core/filters.py has the rules)."""

from __future__ import annotations

import django_filters

from core.filters import CreatedDayFilters, IdFilter, ListFilters, SearchFilter, ordering
from live.models import Draw, Entry, ScreenKey, Winner


class DrawFilters(ListFilters):
    status = django_filters.ChoiceFilter(choices=Draw.Status.choices)
    kind = django_filters.ChoiceFilter(choices=Draw.Kind.choices)
    search = SearchFilter(fields=("title",))
    ordering = ordering("id", "scheduled_at", "created_at", "title", default="id")

    class Meta:
        model = Draw
        fields: list[str] = []


class ScreenKeyFilters(ListFilters):
    revoked = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull",
                                           exclude=True, help_text="true: revoked keys only.")
    ordering = ordering("created_at", "id", default="id")

    class Meta:
        model = ScreenKey
        fields: list[str] = []


class DrawScopedFilters(CreatedDayFilters):
    """Rows of a draw (entries, winners): by draw, by the draw's event, by day."""

    draw = IdFilter(field_name="draw_id")
    event = IdFilter(field_name="draw__event_id")
    ordering = ordering("created_at", "id", default="-created_at")


class BallotFilters(DrawScopedFilters):
    class Meta:
        model = Entry
        fields: list[str] = []


class EntryFilters(BallotFilters):
    """My entries across events: also by the draw's kind and status."""

    kind = django_filters.ChoiceFilter(field_name="draw__kind", choices=Draw.Kind.choices)
    draw_status = django_filters.ChoiceFilter(field_name="draw__status",
                                              choices=Draw.Status.choices)

    class Meta(BallotFilters.Meta):
        pass


class WinningBallotFilters(DrawScopedFilters):
    class Meta:
        model = Winner
        fields: list[str] = []


class ResultLookupFilters(ListFilters):
    """No filters: the lookup's one parameter, `phone_last4`, is the view's input
    (`extra_query_parameters`); any other parameter is refused."""

    class Meta:
        model = Winner
        fields: list[str] = []
