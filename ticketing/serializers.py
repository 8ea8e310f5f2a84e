"""Ticketing API input and output shapes. Money is integer minor units."""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.routes import MAX_ID
from core.serializers import CachedFieldsModelSerializer
from ticketing.models import (
    EventSale,
    Order,
    Payment,
    SeatHold,
    SeatStatusChange,
    Section,
    Ticket,
    WaitingRoom,
    Wallet,
    WalletTransaction,
)
from ticketing.services.ticket_codes import ticket_code


class MinorUnitsField(serializers.IntegerField):
    """An integer amount in minor units; floats are refused, never rounded."""

    default_error_messages = {
        "float": "Send an integer number of minor units (cents), not a float.",
    }

    def to_internal_value(self, data):
        if isinstance(data, float | bool) or (isinstance(data, str) and "." in data):
            self.fail("float")
        return super().to_internal_value(data)


# --- venues and layouts ------------------------------------------------------


class VenueInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    address = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class VenueOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    address = serializers.CharField()
    sections = serializers.IntegerField(source="sections_count", help_text="Sections.")
    seats = serializers.IntegerField(source="seats_count", help_text="Seats, blocked included.")
    created_at = serializers.DateTimeField()


class SectionSummary(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    rows = serializers.IntegerField(source="rows_count")
    seats = serializers.IntegerField(source="seats_count")


class VenuePublicOutput(serializers.Serializer):
    """A venue's public face: where it is and the shape of its hall (the seats
    themselves: an event's seat map, GET /api/events/{id}/seats/)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    address = serializers.CharField()
    seats = serializers.IntegerField()
    sections = SectionSummary(many=True)


class SeatSpec(serializers.Serializer):
    label = serializers.CharField(max_length=20)
    x = serializers.FloatField(required=False, allow_null=True)
    y = serializers.FloatField(required=False, allow_null=True)
    blocked = serializers.BooleanField(required=False, default=False)


SEAT_SPEC_SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "maxLength": 20},
        "x": {"type": "number", "nullable": True},
        "y": {"type": "number", "nullable": True},
        "blocked": {"type": "boolean"},
    },
    "required": ["label"],
}


@extend_schema_field({
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": 500, "description": "Seats 1..N."},
        {"type": "array", "minItems": 1, "maxItems": 500,
         "items": {"oneOf": [{"type": "string", "maxLength": 20}, SEAT_SPEC_SCHEMA]}},
    ]
})
class SeatsField(serializers.Field):
    """A row's seats: a count (labels 1..N) or a list of labelled seats."""

    MAX_PER_ROW = 500

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            if not 1 <= data <= self.MAX_PER_ROW:
                raise serializers.ValidationError(
                    gettext("Between 1 and %(max)d seats.") % {"max": self.MAX_PER_ROW})
            return data
        if isinstance(data, list) and 0 < len(data) <= self.MAX_PER_ROW:
            items = [{"label": item} if isinstance(item, str) else item for item in data]
            specs = SeatSpec(data=items, many=True)
            specs.is_valid(raise_exception=True)
            labels = [s["label"] for s in specs.validated_data]
            if len(set(labels)) != len(labels):
                raise serializers.ValidationError(gettext("Seat labels repeat in this row."))
            return specs.validated_data
        raise serializers.ValidationError(
            gettext("A seat count (1..%(max)d) or a list of seats ({label, x?, y?}).")
            % {"max": self.MAX_PER_ROW}
        )

    def to_representation(self, value):
        return value


class RowSpec(serializers.Serializer):
    label = serializers.CharField(max_length=20)
    seats = SeatsField()


class SectionSpec(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    rows = RowSpec(many=True, allow_empty=False)

    def validate_rows(self, rows):
        labels = [r["label"] for r in rows]
        if len(set(labels)) != len(labels):
            raise serializers.ValidationError(gettext("Row labels repeat in this section."))
        return rows


class LayoutInput(serializers.Serializer):
    sections = SectionSpec(many=True, allow_empty=False)

    def validate_sections(self, sections):
        names = [s["name"] for s in sections]
        if len(set(names)) != len(names):
            raise serializers.ValidationError(gettext("Section names repeat."))
        return sections


class SeatOutput(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    number = serializers.IntegerField()
    x = serializers.FloatField(allow_null=True)
    y = serializers.FloatField(allow_null=True)
    blocked = serializers.BooleanField()


class RowOutput(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    position = serializers.IntegerField()
    seats = SeatOutput(many=True, source="seats.all")


class SectionOutput(CachedFieldsModelSerializer):
    rows = RowOutput(many=True, source="rows.all")

    class Meta:
        model = Section
        fields = ["id", "name", "position", "rows"]


# --- prices and sale ---------------------------------------------------------


class PriceInput(serializers.Serializer):
    section_id = serializers.IntegerField()
    amount = MinorUnitsField(min_value=0, max_value=100_000_000)


class PricesInput(serializers.Serializer):
    prices = PriceInput(many=True)

    def validate_prices(self, prices):
        ids = [p["section_id"] for p in prices]
        if len(set(ids)) != len(ids):
            raise serializers.ValidationError(gettext("A section appears twice."))
        return prices


class PriceOutput(serializers.Serializer):
    section_id = serializers.IntegerField()
    section = serializers.CharField(source="section.name")
    amount = serializers.IntegerField()


class SaleSerializer(serializers.ModelSerializer):
    max_seats_per_order = serializers.IntegerField(min_value=1, max_value=100, default=10)

    class Meta:
        model = EventSale
        fields = ["sale_starts_at", "sale_ends_at", "max_seats_per_order"]
        extra_kwargs = {"sale_starts_at": {"default": None}, "sale_ends_at": {"default": None}}


# --- holds ---------------------------------------------------------------------


class BestAvailableInput(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=100)
    section = serializers.IntegerField(required=False, allow_null=True, default=None,
                                       min_value=1, max_value=MAX_ID)


class HoldInput(serializers.Serializer):
    # Ids past a 64-bit integer overflowed SQLite's driver (a 500); PostgreSQL said 400.
    seat_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_empty=False,
        max_length=100,
    )
    best_available = BestAvailableInput(required=False)

    def validate(self, attrs):
        if ("seat_ids" in attrs) == ("best_available" in attrs):
            raise serializers.ValidationError(gettext("Send either seat_ids or best_available."))
        ids = attrs.get("seat_ids")
        if ids is not None and len(set(ids)) != len(ids):
            raise serializers.ValidationError({"seat_ids": [gettext("A seat appears twice.")]})
        return attrs


class HoldSeatOutput(serializers.Serializer):
    id = serializers.IntegerField()
    section_id = serializers.IntegerField()
    section = serializers.CharField()
    row = serializers.CharField()
    label = serializers.CharField()
    number = serializers.IntegerField()
    price = serializers.IntegerField(
        allow_null=True, help_text="The seat's price now (minor units); null: no longer for "
                                   "sale. The hold's `total` is what they cost when held.")


class HoldOutput(CachedFieldsModelSerializer):
    seats = serializers.ListField(source="seat_ids", child=serializers.IntegerField(),
                                  help_text="The held seats' ids.")
    seat_details = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    expires_in_seconds = serializers.SerializerMethodField()

    class Meta:
        model = SeatHold
        fields = ["token", "event_id", "seats", "seat_details", "status", "created_at",
                  "expires_at", "expires_in_seconds", "total"]
        extra_kwargs = {"total": {"help_text": "What the seats cost when held (minor units); "
                                               "the purchase charges this total or refuses "
                                               "with price_changed."}}

    @extend_schema_field(HoldSeatOutput(many=True))
    def get_seat_details(self, hold) -> list[dict]:
        # Set by the hold service on a new hold, by the list view on a page of holds.
        if getattr(hold, "seat_details", None) is None:
            from ticketing.selectors import holds_seat_lines

            holds_seat_lines([hold])
        return hold.seat_details

    def get_status(self, hold) -> str:
        from ticketing.services.holds import hold_status

        return hold_status(hold)

    def get_expires_in_seconds(self, hold) -> int:
        from django.utils import timezone

        return max(0, int((hold.expires_at - timezone.now()).total_seconds()))


class PurchaseInput(serializers.Serializer):
    expected_total = MinorUnitsField(
        min_value=0, required=False, allow_null=True, default=None,
        help_text="The total the buyer agrees to pay (minor units). Leave it out to pay the "
                  "hold's total; after a 409 price_changed, send its `new_total` to accept "
                  "the new price.",
    )


# --- wallet, orders, tickets -----------------------------------------------------


class TopUpInput(serializers.Serializer):
    amount = MinorUnitsField(min_value=1)


class WalletOutput(CachedFieldsModelSerializer):
    updated_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="null until the wallet's first movement."
    )

    class Meta:
        model = Wallet
        fields = ["balance", "updated_at"]


class PaymentOutput(CachedFieldsModelSerializer):
    provider_id = serializers.CharField(
        read_only=True, allow_null=True,
        help_text="The provider's id (Stripe: pi_...; bank transfer: the reference).")

    class Meta:
        model = Payment
        fields = ["id", "provider", "provider_id", "reference", "amount", "currency", "status",
                  "refund_id", "created_at", "succeeded_at", "refunded_at"]


class StaffPaymentOutput(PaymentOutput):
    class Meta(PaymentOutput.Meta):
        fields = [*PaymentOutput.Meta.fields, "user", "failure_reason", "updated_at"]


class WalletTransactionOutput(CachedFieldsModelSerializer):
    class Meta:
        model = WalletTransaction
        fields = ["id", "kind", "amount", "balance_after", "reference", "created_at"]


class OrderTicketOutput(CachedFieldsModelSerializer):
    """A ticket inside its order's answer (the order names the event)."""

    section = serializers.CharField(source="seat.row.section.name")
    row = serializers.CharField(source="seat.row.label")
    seat = serializers.CharField(source="seat.label")

    class Meta:
        model = Ticket
        fields = ["id", "order_id", "event_id", "seat_id", "section", "row", "seat", "price",
                  "status", "created_at", "cancelled_at"]


class TicketOutput(OrderTicketOutput):
    """A ticket on its own: with its event, venue and seat number, nothing to look up."""

    seat_number = serializers.IntegerField(source="seat.number")
    event_title = serializers.CharField(source="event.title")
    event_starts_at = serializers.DateTimeField(source="event.starts_at")
    venue = serializers.CharField(source="event.venue.name", allow_null=True, default=None)
    venue_address = serializers.CharField(source="event.venue.address", allow_null=True,
                                          default=None)
    code = serializers.SerializerMethodField(
        help_text="The ticket's signed code, what its QR code says and a gate scans "
                  "(README \"Running the gates\"); refused at the gate once cancelled.")
    qr_url = serializers.SerializerMethodField(help_text="The code as an SVG QR code.")

    class Meta:
        model = Ticket
        fields = ["id", "order_id", "event_id", "event_title", "event_starts_at", "venue",
                  "venue_address", "seat_id", "section", "row", "seat", "seat_number", "price",
                  "status", "created_at", "cancelled_at", "code", "qr_url"]

    def get_code(self, ticket: Ticket) -> str:
        return ticket_code(ticket)

    def get_qr_url(self, ticket: Ticket) -> str:
        return f"/api/tickets/{ticket.pk}/qr/"


class OrderOutput(CachedFieldsModelSerializer):
    tickets = OrderTicketOutput(many=True, source="tickets.all")

    class Meta:
        model = Order
        fields = ["id", "event_id", "status", "total", "created_at", "tickets"]


class SeatChangeOutput(CachedFieldsModelSerializer):
    user = serializers.EmailField(source="user.email", allow_null=True, default=None)

    class Meta:
        model = SeatStatusChange
        fields = ["id", "seat_id", "from_status", "to_status", "reason", "hold_id", "order_id",
                  "user", "created_at"]


# --- the waiting room (ticketing/services/waiting_room.py) ---------------------------


class WaitingRoomInput(serializers.Serializer):
    mode = serializers.ChoiceField(choices=WaitingRoom.Mode.choices, default="fixed")
    rate_per_minute = serializers.IntegerField(min_value=1, max_value=1_000_000, default=600)
    max_rate_per_minute = serializers.IntegerField(
        min_value=1, max_value=1_000_000, required=False,
        help_text="Adaptive: the highest rate (default: ten times rate_per_minute).")
    target_latency_ms = serializers.IntegerField(min_value=10, max_value=60_000, default=250)
    opens_minutes_before_sale = serializers.IntegerField(min_value=0, max_value=7 * 24 * 60,
                                                         default=30)
    pass_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, default=10)

    def validate(self, attrs):
        maximum = attrs.get("max_rate_per_minute")
        if maximum is None:
            attrs["max_rate_per_minute"] = attrs["rate_per_minute"] * 10
        elif maximum < attrs["rate_per_minute"]:
            raise serializers.ValidationError(
                {"max_rate_per_minute": gettext("Must be at least rate_per_minute.")})
        return attrs


class QueueMeOutput(serializers.Serializer):
    state = serializers.ChoiceField(choices=["not_in_line", "waiting", "left", "admitted",
                                             "in_use", "expired", "done"])
    number = serializers.IntegerField(allow_null=True, help_text=(
        "Your place in the sale's whole line; null until the sale starts (who joins "
        "before is placed in random order at the start)."))
    position = serializers.IntegerField(allow_null=True,
                                        help_text="Waiting: number - served (1: next).")
    eta_seconds = serializers.IntegerField(allow_null=True)


class QueuePassOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as the Queue-Pass header when holding "
                                            "seats and buying them.")
    expires_at = serializers.DateTimeField()
    used = serializers.BooleanField(help_text="Seats were held with it: it is then good "
                                              "for the longest a hold may last.")


class QueueLinksOutput(serializers.Serializer):
    join = serializers.CharField()
    stream = serializers.CharField()


class QueueOutput(serializers.Serializer):
    event_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["open", "paused", "closed"])
    opens_at = serializers.DateTimeField(allow_null=True)
    sale_starts_at = serializers.DateTimeField(allow_null=True)
    sale_started = serializers.BooleanField()
    length = serializers.IntegerField(help_text="Buyers waiting.")
    served = serializers.IntegerField(help_text="Places called so far.")
    rate_per_minute = serializers.FloatField()
    me = QueueMeOutput(allow_null=True, help_text="Null for anonymous callers.")
    admission = QueuePassOutput(allow_null=True,
                                help_text="Your admission pass, once admitted; else null.")
    queue = QueueLinksOutput()


class QueueFiguresOutput(serializers.Serializer):
    status = serializers.CharField()
    length = serializers.IntegerField()
    served = serializers.IntegerField()
    joined = serializers.IntegerField()
    admitted = serializers.IntegerField()
    passes_out = serializers.IntegerField()
    used = serializers.IntegerField()
    purchases = serializers.IntegerField()
    expired = serializers.IntegerField()
    left = serializers.IntegerField()
    abandoned = serializers.IntegerField(help_text="expired + left: buyers who gave up.")
    rate_per_minute = serializers.FloatField()


class WaitingRoomOutput(serializers.Serializer):
    event_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=WaitingRoom.Status.choices)
    mode = serializers.ChoiceField(choices=WaitingRoom.Mode.choices)
    rate_per_minute = serializers.IntegerField()
    max_rate_per_minute = serializers.IntegerField()
    target_latency_ms = serializers.IntegerField()
    opens_minutes_before_sale = serializers.IntegerField()
    pass_minutes = serializers.IntegerField()
    figures = QueueFiguresOutput()
    queue = QueueLinksOutput()
