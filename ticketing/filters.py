"""Filters, ordering and search of the ticketing lists (core/filters.py has the rules)."""

from __future__ import annotations

import django_filters

from core.filters import CreatedDayFilters, IdFilter, ListFilters, SearchFilter, ordering
from core.models import Venue
from ticketing.models import (
    Order,
    Payment,
    SeatHold,
    SeatStatusChange,
    Ticket,
    WalletTransaction,
)


class VenueFilters(ListFilters):
    search = SearchFilter(fields=("name", "address"))
    ordering = ordering("name", "created_at", "id", default="name")

    class Meta:
        model = Venue
        fields: list[str] = []


class SeatHistoryFilters(ListFilters):
    to_status = django_filters.ChoiceFilter(choices=SeatStatusChange.Status.choices,
                                            help_text="Only changes to this status.")
    reason = django_filters.CharFilter(max_length=32)
    ordering = ordering("created_at", "id", default="-created_at")

    class Meta:
        model = SeatStatusChange
        fields: list[str] = []


class WalletTransactionFilters(CreatedDayFilters):
    kind = django_filters.ChoiceFilter(choices=WalletTransaction.Kind.choices)
    ordering = ordering("created_at", "amount", default="-created_at")

    class Meta:
        model = WalletTransaction
        fields: list[str] = []


class OrderFilters(CreatedDayFilters):
    status = django_filters.ChoiceFilter(choices=Order.Status.choices)
    event = IdFilter(field_name="event_id", help_text="Only this event's orders.")
    ordering = ordering("created_at", "total", default="-created_at")

    class Meta:
        model = Order
        fields: list[str] = []


class TicketFilters(ListFilters):
    event = IdFilter(field_name="event_id", help_text="Only this event's tickets.")
    status = django_filters.ChoiceFilter(choices=Ticket.Status.choices)
    search = SearchFilter(fields=("event__title", "event__venue__name"))
    ordering = ordering("created_at", "price", "event__starts_at", default="-created_at")

    class Meta:
        model = Ticket
        fields: list[str] = []


class HoldFilters(ListFilters):
    event = IdFilter(field_name="event_id", help_text="Only this event's holds.")
    ordering = ordering("created_at", "expires_at", default="-created_at")

    class Meta:
        model = SeatHold
        fields: list[str] = []


class MyPaymentFilters(CreatedDayFilters):
    status = django_filters.ChoiceFilter(choices=Payment.Status.choices)
    provider = django_filters.ChoiceFilter(choices=Payment.Provider.choices)
    ordering = ordering("created_at", "amount", default="-created_at")

    class Meta:
        model = Payment
        fields: list[str] = []


class PaymentFilters(CreatedDayFilters):
    status = django_filters.ChoiceFilter(choices=Payment.Status.choices)
    provider = django_filters.ChoiceFilter(choices=Payment.Provider.choices)
    reference = django_filters.CharFilter(max_length=20, help_text="Exactly this reference.")
    user = IdFilter(field_name="user_id", help_text="Only this account's payments.")
    ordering = ordering("created_at", "amount", default="-created_at")

    class Meta:
        model = Payment
        fields: list[str] = []
