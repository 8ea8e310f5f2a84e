"""Ticketing admin: layouts inline on venues, prices inline on events, read-only money."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from core.errors import DomainError
from core.local_time import local_format
from core.models import Event, Venue
from ticketing.models import (
    EventSale,
    Order,
    Row,
    Seat,
    SeatHold,
    SeatStatusChange,
    Section,
    SectionPrice,
    Ticket,
    WaitingListEntry,
    Wallet,
    WalletTransaction,
)
from ticketing.payment_admin import PaymentAdmin  # noqa: F401  (registers the Payment admin)
from ticketing.queue_admin import event_waiting_room  # also registers the WaitingRoom admin
from ticketing.services.layout import sale_configure, venue_overlapping_sale
from ticketing.services.orders import ticket_cancel
from ticketing.waiting_list_admin import WaitingListAdmin  # noqa: F401  (registers it)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money and audit rows change only through services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SectionInline(admin.TabularInline):
    model = Section
    extra = 0
    fields = ["name", "position"]
    show_change_link = True


class SectionPriceInline(admin.TabularInline):
    model = SectionPrice
    extra = 0


SALE_FIELDS = ("sale_starts_at", "sale_ends_at", "max_seats_per_order")


class EventSaleFormSet(BaseInlineFormSet):
    """The event page's sale goes through sale_configure, like PUT /events/{id}/sale/:
    one venue sells one event at a time (venue_double_booked)."""

    def _kept(self):
        return [f for f in self.forms
                if f.cleaned_data and not f.cleaned_data.get("DELETE")]

    def clean(self):
        super().clean()
        # self.instance carries the event form's new values (venue, times), not saved yet.
        event = self.instance
        if event.starts_at is None or not self._kept():  # the event form has the errors
            return
        if (other := venue_overlapping_sale(event)) is not None:
            # The other event's start in its own zone, labelled (core/local_time.py).
            raise ValidationError(
                f'"{other.title}" (event {other.pk}, '
                f"{local_format(other.starts_at, tz=other.time_zone)}) is on "
                "sale at this venue at an overlapping time; one venue sells one event's "
                "seats at a time.", code="venue_double_booked")

    def save_new(self, form, commit=True):
        return self._configure(form)

    def save_existing(self, form, obj, commit=True):
        return self._configure(form)

    def _configure(self, form):
        return sale_configure(event=self.instance,
                              **{name: form.cleaned_data[name] for name in SALE_FIELDS})


class EventSaleInline(admin.StackedInline):
    model = EventSale
    formset = EventSaleFormSet
    fields = list(SALE_FIELDS)
    extra = 0
    max_num = 1


def _extend_registered(model, *inlines, readonly=()):
    """Add inlines (and read-only lines) to whatever admin core (or another app)
    registered for `model`."""
    base = type(admin.site.get_model_admin(model))
    admin.site.unregister(model)
    admin.site.register(model, type(base.__name__, (base,), {
        "inlines": [*base.inlines, *inlines],
        "readonly_fields": [*base.readonly_fields, *readonly],
    }))


_extend_registered(Venue, SectionInline)
# The waiting room is a link, not an inline: its changes go through its own page's
# services, and the event form's POST stays the same.
_extend_registered(Event, EventSaleInline, SectionPriceInline, readonly=[event_waiting_room])


class RowInline(admin.TabularInline):
    model = Row
    extra = 0
    show_change_link = True


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ["name", "venue", "position"]
    list_filter = ["venue"]
    search_fields = ["name", "venue__name"]
    inlines = [RowInline]


class SeatInline(admin.TabularInline):
    model = Seat
    extra = 0


@admin.register(Row)
class RowAdmin(admin.ModelAdmin):
    list_display = ["label", "section", "position"]
    list_filter = ["section__venue"]
    search_fields = ["label", "section__name"]
    inlines = [SeatInline]


class TicketInline(ReadOnlyInline):
    model = Ticket
    fields = ["seat", "price", "status", "cancelled_at"]


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "event", "status", "total", "created_at"]
    list_filter = ["status", "event"]
    search_fields = ["user__email", "hold_token"]
    inlines = [TicketInline]


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "event", "seat", "price", "status", "created_at", "cancelled_at"]
    list_filter = ["status", "event"]
    search_fields = ["user__email", "seat__label"]
    list_select_related = ["user", "event", "seat__row__section"]
    actions = ["refund_tickets"]

    @admin.action(description="Refund selected tickets (cancel and credit the wallet)")
    def refund_tickets(self, request, queryset):
        refunded = 0
        for ticket in queryset:
            try:
                ticket_cancel(ticket_id=ticket.pk, user=request.user, as_staff=True)
                refunded += 1
            except DomainError as exc:
                self.message_user(request, f"Ticket {ticket.pk}: {exc.detail}", messages.WARNING)
        if refunded:
            self.message_user(request, f"Refunded {refunded} ticket(s).", messages.SUCCESS)

    def has_change_permission(self, request, obj=None):
        # The refund action moves money: it needs the model permission (being
        # staff is not enough); the form itself stays read-only.
        return request.user.has_perm("ticketing.change_ticket")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


class WalletTransactionInline(ReadOnlyInline):
    model = WalletTransaction
    fields = ["created_at", "kind", "amount", "balance_after", "reference"]
    ordering = ["-created_at", "-id"]


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["user", "balance", "updated_at"]
    search_fields = ["user__email"]
    inlines = [WalletTransactionInline]


@admin.register(WalletTransaction)
class WalletTransactionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "wallet", "kind", "amount", "balance_after", "reference"]
    list_filter = ["kind"]
    search_fields = ["wallet__user__email", "reference"]


@admin.register(SeatHold)
class SeatHoldAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "user", "status", "created_at", "expires_at"]
    list_filter = ["status", "event"]
    search_fields = ["user__email"]
    exclude = ["token"]


@admin.register(SeatStatusChange)
class SeatStatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "seat", "from_status", "to_status", "reason", "user"]
    list_filter = ["reason", "event"]
    search_fields = ["seat__label", "user__email"]


@admin.register(WaitingListEntry)
class WaitingListEntryAdmin(ReadOnlyAdmin):
    """Places on waiting lists: they change through the buyers' API and the offers job."""

    list_display = ["id", "event", "user", "section", "seats", "status", "created_at",
                    "offer_expires_at"]
    list_filter = ["status"]
    list_select_related = ["event", "user", "section"]
    search_fields = ["event__title", "user__email"]
