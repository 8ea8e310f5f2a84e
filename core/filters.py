"""Filtering, ordering and search for every list (django-filter), strict about names.

A list view names its `filterset_class` (a `ListFilters` subclass) and gets
`filter_backends = [StrictFilterBackend]` from `FilteredListMixin`; generic list
views filter by themselves, APIViews call `filtered(request, self, queryset)`.

- Filters are the FilterSet's fields; `ordering` (django-filter's OrderingFilter:
  `?ordering=-created_at`) and `search` (`SearchFilter`: a case-insensitive "contains"
  over a few fields) are fields like any other, so the OpenAPI schema declares
  them all (drf-spectacular's django-filter extension, below).
- A query parameter that names no filter answers 400 `unknown_parameter` (naming it
  and the known ones) instead of being silently ignored: a typo (`?stauts=paid`)
  would otherwise return everything. An ordering or filter value it cannot use is
  a 400 `invalid` with `fields`, like any validation error.
- `page` and `page_size` (core/pagination.py) and DRF's `format` are always allowed.
"""

from __future__ import annotations

from datetime import datetime, time
from functools import reduce
from operator import or_

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.contrib.django_filters import DjangoFilterExtension

from core.errors import UnknownQueryParameter

ALWAYS_ALLOWED = frozenset({"page", "page_size", "format"})


class SearchFilter(django_filters.CharFilter):
    """`?search=words`: rows where any of `fields` contains the text (case-insensitive)."""

    def __init__(self, *, fields: tuple[str, ...], **kwargs) -> None:
        kwargs.setdefault("help_text", f"Case-insensitive text in {', '.join(fields)}.")
        kwargs.setdefault("max_length", 100)
        super().__init__(**kwargs)
        self.search_fields = fields

    def filter(self, qs: QuerySet, value: str) -> QuerySet:
        value = (value or "").strip()
        if not value:
            return qs
        return qs.filter(reduce(or_, (Q(**{f"{f}__icontains": value}) for f in self.search_fields)))


class DayFilter(django_filters.DateFilter):
    """A day (YYYY-MM-DD) bound on a datetime field, in the server's time zone:
    `lookup_expr="gte"` from the start of the day, `"lte"` to its end."""

    def filter(self, qs: QuerySet, value) -> QuerySet:
        if value is None:
            return qs
        tz = timezone.get_current_timezone()
        moment = datetime.combine(value, time.min if self.lookup_expr == "gte" else time.max,
                                  tzinfo=tz)
        return qs.filter(**{f"{self.field_name}__{self.lookup_expr}": moment})


class ListFilters(django_filters.FilterSet):
    """Base of every list's filters: the date range check shared by `from_date`/`to_date`."""

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        start, end = (self.form.cleaned_data.get(k) for k in ("from_date", "to_date"))
        if start and end and start > end:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"to_date": ["Must not be before from_date."]})
        return super().filter_queryset(queryset)


def ordering(*fields: str, default: str | None = None) -> django_filters.OrderingFilter:
    """`?ordering=name` or `-name`, among `fields` (model field paths, named as given)."""
    help_text = "Sort by " + ", ".join(f"`{f}`" for f in fields) + " (`-` first: descending)."
    if default:
        help_text += f" Default: `{default}`."
    return django_filters.OrderingFilter(fields=[(f, f) for f in fields], help_text=help_text)


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend that answers 400 for a query parameter it does not know."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        known = set(filterset_class.base_filters) if filterset_class else set()
        known |= set(getattr(view, "extra_query_parameters", ()))
        unknown = sorted(set(request.query_params) - known - ALWAYS_ALLOWED)
        if unknown:
            raise UnknownQueryParameter(unknown, known=sorted(known | ALWAYS_ALLOWED))
        return super().filter_queryset(request, queryset, view)


class FilteredListMixin:
    """For list views: the strict backend; set `filterset_class`."""

    filter_backends = [StrictFilterBackend]
    filterset_class: type[ListFilters] | None = None


def filtered(request, view, queryset: QuerySet) -> QuerySet:
    """`queryset` through the view's filters (an APIView that pages by itself)."""
    return StrictFilterBackend().filter_queryset(request, queryset, view)


class StrictFilterSchema(DjangoFilterExtension):
    """Declares the filters in the OpenAPI schema from the filterset's own model, so the
    views' `get_queryset` (which reads the request's user) is never called for it."""

    target_class = "core.filters.StrictFilterBackend"
    priority = 1

    def get_schema_operation_parameters(self, auto_schema, *args, **kwargs):
        filterset_class = getattr(auto_schema.view, "filterset_class", None)
        if filterset_class is None:
            return []
        model = filterset_class._meta.model
        return [parameter for name, field in filterset_class.base_filters.items()
                for parameter in self.resolve_filter_field(auto_schema, model, filterset_class,
                                                           name, field)]
