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
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.utils import extend_schema_field

from core.errors import UnknownQueryParameter
from core.models import Event, User, WebhookDelivery, WebhookEndpoint
from core.routes import MAX_ID

ALWAYS_ALLOWED = frozenset({"page", "page_size", "format"})


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An object's id: a whole number from 1 to the largest id (past it: 400, never a
    database overflow)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _FlagField(forms.Field):
    TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in self.TRUE | self.FALSE:
            return text in self.TRUE
        raise ValidationError(gettext("Send true or false."))


class FlagFilter(django_filters.BooleanFilter):
    """`true`/`false` (also 1/0, yes/no, on/off); anything else is a 400, not ignored."""

    field_class = _FlagField


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

            raise ValidationError({"to_date": [gettext("Must not be before from_date.")]})
        return super().filter_queryset(queryset)


class CreatedDayFilters(ListFilters):
    """`from_date` / `to_date` (YYYY-MM-DD) on the rows' `created_at`."""

    from_date = DayFilter(field_name="created_at", lookup_expr="gte",
                          help_text="Created on or after this day (YYYY-MM-DD).")
    to_date = DayFilter(field_name="created_at", lookup_expr="lte",
                        help_text="Created on or before this day (YYYY-MM-DD).")


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


# --- core's lists --------------------------------------------------------------------


class EventFilters(ListFilters):
    upcoming = FlagFilter(method="filter_upcoming", help_text="Only events not started yet.")
    live = FlagFilter(method="filter_live", help_text="Only events on now (status `live`).")
    from_date = DayFilter(field_name="starts_at", lookup_expr="gte",
                          help_text="Starting on or after this day (YYYY-MM-DD).")
    to_date = DayFilter(field_name="starts_at", lookup_expr="lte",
                        help_text="Starting on or before this day (YYYY-MM-DD).")
    status = django_filters.ChoiceFilter(choices=Event.Status.choices)
    venue = IdFilter(field_name="venue_id", help_text="Only events at this venue.")
    search = SearchFilter(fields=("title", "description"))
    ordering = ordering("starts_at", "title", "id", default="starts_at")

    class Meta:
        model = Event
        fields: list[str] = []

    def filter_upcoming(self, qs, name, value):
        return qs.filter(starts_at__gte=timezone.now()) if value else qs

    def filter_live(self, qs, name, value):
        return qs.filter(status=Event.Status.LIVE) if value else qs


class WebhookEndpointFilters(ListFilters):
    is_active = FlagFilter()
    search = SearchFilter(fields=("url",))
    ordering = ordering("created_at", "id", default="id")

    class Meta:
        model = WebhookEndpoint
        fields: list[str] = []


class WebhookDeliveryFilters(ListFilters):
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)
    kind = django_filters.CharFilter(max_length=32)
    ordering = ordering("created_at", "next_attempt_at", "id", default="-created_at")

    class Meta:
        model = WebhookDelivery
        fields: list[str] = []


class ReferralFilters(ListFilters):
    counted = FlagFilter(method="filter_counted",
                         help_text="true: referrals that count; false: those waiting for the "
                                   "referee to verify a phone or an email.")
    ordering = ordering("date_joined", "referral_counted_at", default="-date_joined")

    class Meta:
        model = User
        fields: list[str] = []

    def filter_counted(self, qs, name, value):
        if value is None:
            return qs
        return qs.filter(referral_counted_at__isnull=not value)
