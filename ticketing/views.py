"""Ticketing API: thin views (parse, call a service or selector, render)."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound, is_redis_unavailable
from core.filters import FilteredListMixin
from core.models import Event, Venue
from core.pagination import Pagination
from core.permissions import ReadOrStaffModelPermission, StaffModelPermission
from core.schema import errors
from core.selectors.events import visible_events
from core.throttles import ScopedThrottle
from ticketing import filters, selectors
from ticketing import serializers as s
from ticketing.errors import HoldNotFound, SeatLocksUnavailable, TicketNotFound
from ticketing.idempotency import idempotent
from ticketing.models import EventSale, SectionPrice, Ticket
from ticketing.services import holds, layout, orders, payments, ticket_codes
from ticketing.services.waiting_room import QUEUE_EVENT_ATTRIBUTE, queue_pass_checked
from ticketing.streams import seat_map
from ticketing.ticket_pdf import tickets_pdf


def _event(pk: int, user) -> Event:
    """The event if `user` may see it (drafts are staff-only, as on /api/events/)."""
    # A lookup by key needs no ORDER BY (which .first() would add): on the hold path.
    event = next(iter(visible_events(user).select_related("sale", "waiting_room")
                      .filter(pk=pk).order_by()[:1]), None)
    if event is None:
        raise NotFound(gettext("No such event."), code="event_not_found")
    return event


def _venue(pk: int) -> Venue:
    venue = Venue.objects.filter(pk=pk).first()
    if venue is None:
        raise NotFound(gettext("No such venue."), code="venue_not_found")
    return venue


class PaginatedListView(FilteredListMixin, generics.ListAPIView):
    """One page of the list: `?page=` and `?page_size=` (at most 100); filters,
    `ordering` and `search` as the parameters say (an unknown parameter: 400)."""

    # The docstring is what the OpenAPI schema shows for every list below that has none.
    pagination_class = Pagination


# --- venues (staff) -----------------------------------------------------------


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Replays the first response to the same key for 24 h.",
)
QUEUE_PASS_HEADER = "Queue-Pass"
QUEUE_PASS = OpenApiParameter(
    QUEUE_PASS_HEADER, str, OpenApiParameter.HEADER, required=False,
    description="The admission pass from the event's waiting room (GET/POST "
                "/api/events/<id>/queue/), required while the room is on.",
)
QUEUE_ERROR = ("queue_required: the event's waiting room is on and there is no valid "
               "Queue-Pass (with `reason` and `queue`: where to join)")
IDEMPOTENCY_ERRORS = errors(
    e409="idempotency_request_in_progress (and the operation's own 409s)",
    e422="idempotency_key_reused",
)


class LayoutOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    address = serializers.CharField(allow_blank=True)
    sections = s.SectionOutput(many=True)


class PricesOutput(serializers.Serializer):
    prices = s.PriceOutput(many=True)


class SeatMapSeat(s.HoldSeatOutput):
    x = serializers.FloatField(allow_null=True)
    y = serializers.FloatField(allow_null=True)
    status = serializers.ChoiceField(choices=["free", "held", "sold", "blocked"])
    price = serializers.IntegerField(allow_null=True, help_text="Minor units; null: not for sale.")


class SeatMapOutput(serializers.Serializer):
    event_id = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="The seat stream's seq this map reflects.")
    seats = SeatMapSeat(many=True)


class TopUpNextAction(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["stripe_payment", "bank_transfer", "none"],
        help_text="stripe_payment: confirm with Stripe using `client_secret`; bank_transfer: "
                  "transfer `amount` with `reference`; none: the wallet is credited already.")
    detail = serializers.CharField(required=False)
    client_secret = serializers.CharField(required=False, help_text="stripe_payment only.")
    payment_intent = serializers.CharField(required=False, help_text="stripe_payment only.")
    reference = serializers.CharField(required=False, help_text="bank_transfer only.")
    amount = serializers.IntegerField(required=False)
    currency = serializers.CharField(required=False)
    beneficiary = serializers.CharField(required=False)
    iban = serializers.CharField(required=False, allow_blank=True)
    bic = serializers.CharField(required=False, allow_blank=True)


class TopUpOutput(serializers.Serializer):
    payment = s.PaymentOutput()
    next_action = TopUpNextAction()
    balance = serializers.IntegerField(help_text="The wallet's balance now (credited already "
                                                 "only when next_action is `none`).")


def _layout_body(venue: Venue) -> dict:
    return {
        "id": venue.id,
        "name": venue.name,
        "address": venue.address,
        "sections": s.SectionOutput(selectors.venue_layout(venue.id), many=True).data,
    }


class VenueListView(PaginatedListView):
    """Venues: anyone reads their public fields; staff create them."""

    operation_docs = {
        "GET": """List venues.

        Public: name, address and the number of sections and seats of each venue. `search` in
        name and address.""",
    }

    permission_classes = [ReadOrStaffModelPermission]
    staff_permissions = {"POST": ("core.add_venue",)}
    serializer_class = s.VenueOutput
    filterset_class = filters.VenueFilters

    def get_queryset(self):
        return selectors.venues_with_counts()

    @extend_schema(request=s.VenueInput, responses={201: LayoutOutput})
    def post(self, request: Request) -> Response:
        """Create a venue.

        Staff with `core.add_venue`: a name and an address; its layout follows."""
        data = s.VenueInput(data=request.data)
        data.is_valid(raise_exception=True)
        venue = layout.venue_create(**data.validated_data)
        return Response(_layout_body(venue), status=status.HTTP_201_CREATED)


class VenueDetailView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: s.VenuePublicOutput, **errors(e404="venue_not_found")})
    def get(self, request: Request, pk: int) -> Response:
        """Read a venue.

        Public: name, address, and the hall's shape (sections with their rows and seats
        counted). An event's seats and their status: its seat map."""
        venue = _venue(pk)
        sections = selectors.venue_summary(venue.pk)
        return Response(s.VenuePublicOutput({
            "id": venue.pk, "name": venue.name, "address": venue.address,
            "seats": sum(x.seats_count for x in sections), "sections": sections}).data)


class VenueLayoutView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("core.view_venue",), "POST": ("core.change_venue",)}

    @extend_schema(responses={200: LayoutOutput, **errors(e404="venue_not_found")})
    def get(self, request: Request, pk: int) -> Response:
        """Read a venue's layout.

        Staff with `core.view_venue`: every section, row and seat with its position and blocked
        flag."""
        return Response(_layout_body(_venue(pk)))

    @extend_schema(request=s.LayoutInput, responses={
        200: LayoutOutput, **errors(e409="layout_removes_sold_seat")})
    def post(self, request: Request, pk: int) -> Response:
        """Replace a venue's layout.

        Staff with `core.change_venue`, in one request; seats matched by label keep their ids. A
        layout that would remove a sold seat is refused."""
        venue = _venue(pk)
        data = s.LayoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        layout.venue_layout_set(venue=venue, sections=data.validated_data["sections"])
        return Response(_layout_body(venue))


# --- event prices and sale ----------------------------------------------------------


class EventPricesView(APIView):
    permission_classes = [ReadOrStaffModelPermission]
    staff_permissions = {"PUT": ("ticketing.change_sectionprice",)}

    @extend_schema(responses=PricesOutput)
    def get(self, request: Request, pk: int) -> Response:
        """Read an event's prices.

        Public: the price of each section on sale, in minor units."""
        event = _event(pk, request.user)
        prices = SectionPrice.objects.filter(event=event).select_related("section")
        return Response({"prices": s.PriceOutput(prices, many=True).data})

    @extend_schema(request=s.PricesInput, responses=PricesOutput)
    def put(self, request: Request, pk: int) -> Response:
        """Set an event's prices.

        Staff with `ticketing.change_sectionprice`; a section without a price is not for sale."""
        event = _event(pk, request.user)
        data = s.PricesInput(data=request.data)
        data.is_valid(raise_exception=True)
        prices = layout.event_prices_set(
            event=event,
            prices={p["section_id"]: p["amount"] for p in data.validated_data["prices"]},
        )
        return Response({"prices": s.PriceOutput(prices, many=True).data})


class EventSaleView(APIView):
    permission_classes = [ReadOrStaffModelPermission]
    staff_permissions = {"PUT": ("ticketing.change_eventsale",)}

    @extend_schema(responses={200: s.SaleSerializer,
                              **errors(e404="event_not_found, sale_not_configured")})
    def get(self, request: Request, pk: int) -> Response:
        """Read an event's sale window.

        Public: when the sale opens and closes and how many seats one order may take."""
        sale = EventSale.objects.filter(event=_event(pk, request.user)).first()
        if sale is None:
            raise NotFound(gettext("This event is not on sale."), code="sale_not_configured")
        return Response(s.SaleSerializer(sale).data)

    @extend_schema(request=s.SaleSerializer, responses={200: s.SaleSerializer, **errors(
        e400="invalid, invalid_sale_window",
        e409="venue_double_booked (with `event`: another event on sale at this venue "
             "overlaps this one)")})
    def put(self, request: Request, pk: int) -> Response:
        """Set an event's sale window.

        Staff with `ticketing.change_eventsale`. Refused when another event on sale at the venue
        overlaps this one."""
        event = _event(pk, request.user)
        data = s.SaleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sale = layout.sale_configure(event=event, **data.validated_data)
        return Response(s.SaleSerializer(sale).data)


# --- seat map and history ---------------------------------------------------------


# The largest id a query parameter may name: PostgreSQL's bigint (a larger one would
# reach the database as an out-of-range error, a 500).
MAX_ID = 2**63 - 1


class SeatMapQuery(serializers.Serializer):
    section = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                       help_text="Only this section's seats.")


class SeatMapView(APIView):
    # Public like the seat stream: a buyer sees what is free before logging in.
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        parameters=[SeatMapQuery],
        responses={200: SeatMapOutput, **errors(e404="event_not_found")},
    )
    def get(self, request: Request, pk: int) -> Response:
        """Read an event's seat map.

        Public, like the seat stream: every seat with its status (`free`, `held`, `sold`,
        `blocked`) and price, and the stream `seq` the map reflects."""
        query = SeatMapQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        event = _event(pk, request.user)
        try:
            return Response(seat_map(event, section_id=query.validated_data.get("section"),
                                     replica=True))
        except Exception as exc:
            # The map's seq and held seats live in Redis: say which part is down.
            if is_redis_unavailable(exc):
                raise SeatLocksUnavailable() from exc
            raise


class SeatHistoryView(PaginatedListView):
    operation_docs = {
        "GET": """List a seat's history.

        Staff with `ticketing.view_seatstatuschange`: every status change of the seat for the
        event (from, to, reason, hold, order, user, time), newest first.""",
    }

    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("ticketing.view_seatstatuschange",)}
    serializer_class = s.SeatChangeOutput
    filterset_class = filters.SeatHistoryFilters

    def get_queryset(self):
        return selectors.seat_history(event=_event(self.kwargs["pk"], self.request.user),
                                      seat_id=self.kwargs["seat_id"])


# --- holds ---------------------------------------------------------------------


_HOLD_SEATS = [
    {"id": 101, "section_id": 3, "section": "A", "row": "1", "label": "5", "number": 5,
     "price": 5000},
    {"id": 102, "section_id": 3, "section": "A", "row": "1", "label": "6", "number": 6,
     "price": 5000},
]
HOLD_EXAMPLES = [
    OpenApiExample("These seats", request_only=True, value={"seat_ids": [101, 102]}),
    OpenApiExample("The best two adjacent seats in a section", request_only=True,
                   value={"best_available": {"count": 2, "section": 3}}),
    OpenApiExample("Held", response_only=True, status_codes=["201"], value={
        "token": "hq3Zl0v9yQ2l7xkz", "event_id": 12, "seats": [101, 102],
        "seat_details": _HOLD_SEATS, "status": "active", "created_at": "2026-11-30T10:00:00Z",
        "expires_at": "2026-11-30T10:15:00Z", "expires_in_seconds": 900, "total": 10000}),
]
PURCHASE_EXAMPLES = [
    OpenApiExample("Pay the held total", request_only=True, value={}),
    OpenApiExample("Accept a changed price", request_only=True, value={"expected_total": 11000}),
    OpenApiExample("Bought", response_only=True, status_codes=["201"], value={
        "id": 77, "event_id": 12, "status": "paid", "total": 10000,
        "created_at": "2026-11-30T10:05:00Z", "tickets": [
            {"id": 501 + i, "order_id": 77, "event_id": 12, "seat_id": seat["id"],
             "section": "A", "row": "1", "seat": seat["label"], "price": 5000,
             "status": "valid", "created_at": "2026-11-30T10:05:00Z", "cancelled_at": None}
            for i, seat in enumerate(_HOLD_SEATS)]}),
]


class EventHoldsView(APIView):
    throttle_classes = [ScopedThrottle]
    throttle_scope = "seat_holds"
    throttle_unavailable_error = SeatLocksUnavailable

    @extend_schema(request=s.HoldInput, parameters=[QUEUE_PASS], responses={
        201: s.HoldOutput, **errors(
        e400="invalid, too_many_seats (over the sale's max_seats_per_order)",
        e403=QUEUE_ERROR,
        e409="seats_unavailable (with `seats`), not_enough_adjacent_seats, sale_closed, "
             "hold_limit_reached (with `held`, `limit`: the user's live holds for the "
             "event would pass TICKETING_MAX_HELD_SEATS_PER_USER seats), "
             "hold_lifetime_exceeded (the user's hold window for the event is used up: "
             "buy, or hold again after TICKETING_HOLD_COOLDOWN_SECONDS)",
        e503="seat_locks_unavailable: the seat-lock store (Redis) is down; "
             "busy: another request keeps these seats locked, try again")},
        examples=HOLD_EXAMPLES)
    def post(self, request: Request, pk: int) -> Response:
        """Hold seats.

        All or nothing: the seats asked for (`seat_ids`) or the best adjacent ones
        (`best_available`) are held for the caller for `TICKETING_HOLD_TTL_SECONDS`. The answer's
        token buys (`POST /api/holds/{token}/purchase/`), extends or releases the hold."""
        event = _event(pk, request.user)
        data = s.HoldInput(data=request.data)
        data.is_valid(raise_exception=True)
        best = data.validated_data.get("best_available")
        queue_pass = request.headers.get(QUEUE_PASS_HEADER)
        if best is not None:
            hold = holds.hold_create_best_available(
                event=event, user=request.user, count=best["count"], section_id=best["section"],
                queue_pass=queue_pass,
            )
        else:
            hold = holds.hold_create(
                event=event, user=request.user, seat_ids=data.validated_data["seat_ids"],
                queue_pass=queue_pass,
            )
        if queue_pass_checked(event):
            setattr(request._request, QUEUE_EVENT_ATTRIBUTE, event.pk)
        return Response(s.HoldOutput(hold).data, status=status.HTTP_201_CREATED)


class HoldView(APIView):
    @extend_schema(responses={200: s.HoldOutput, **errors(e410="hold_expired")})
    def get(self, request: Request, token: str) -> Response:
        """Read my hold.

        Its seats with section, row, number and price, its total, status and expiry."""
        hold = selectors.hold_for_owner(token=token, user=request.user)
        if hold is None:
            raise HoldNotFound()
        return Response(s.HoldOutput(hold).data)

    @extend_schema(request=None, responses={200: s.HoldOutput, **errors(
        e409="hold_lifetime_exceeded, hold_lost, sale_closed (the sale closed since the "
             "hold was made: the hold is released)",
        e410="hold_expired")})
    def patch(self, request: Request, token: str) -> Response:
        """Extend my hold.

        A fresh TTL, capped by the user's hold window for the event. A hold whose sale closed
        is released instead."""
        hold = holds.hold_extend(token=token, user=request.user)
        return Response(s.HoldOutput(hold).data)

    @extend_schema(responses={204: None, **errors(e410="hold_expired")})
    def delete(self, request: Request, token: str) -> Response:
        """Release my hold.

        The seats go back on sale at once."""
        holds.hold_release(token=token, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HoldPurchaseView(APIView):
    @extend_schema(request=s.PurchaseInput, parameters=[IDEMPOTENCY_KEY, QUEUE_PASS], responses={
        201: s.OrderOutput, **IDEMPOTENCY_ERRORS, **errors(
            e402="insufficient_funds", e410="hold_expired", e403=QUEUE_ERROR,
            e409="hold_lost, seat_already_sold, hold_already_purchased, "
                 "idempotency_request_in_progress, "
                 "sale_closed (the sale closed since the hold was made: the hold is "
                 "released), price_changed (with `old_total`, `new_total`: the seats' total "
                 "is not the hold's nor `expected_total`; nothing charged, the hold stays: "
                 "buy again with expected_total = new_total to accept)",
            e503="seat_locks_unavailable: the seat-lock store (Redis) is down; "
                 "busy: another request keeps the hold or wallet locked, try again")},
        examples=PURCHASE_EXAMPLES)
    @idempotent
    def post(self, request: Request, token: str) -> Response:
        """Buy my hold.

        Turns the live hold into an order with one ticket per seat and debits the wallet, in one
        transaction: all or nothing. Send an `Idempotency-Key` so that a retry answers the first
        result instead of buying twice."""
        data = s.PurchaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = orders.hold_purchase(token=token, user=request.user,
                                     expected_total=data.validated_data["expected_total"],
                                     queue_pass=request.headers.get(QUEUE_PASS_HEADER))
        if order.queue_checked:
            setattr(request._request, QUEUE_EVENT_ATTRIBUTE, order.event_id)
        return Response(s.OrderOutput(order).data, status=status.HTTP_201_CREATED)


# --- wallet, orders, tickets --------------------------------------------------------


class WalletView(APIView):
    @extend_schema(responses=s.WalletOutput)
    def get(self, request: Request) -> Response:
        """Read my wallet.

        The balance in minor units and when it last moved."""
        return Response(s.WalletOutput(selectors.wallet_of(request.user)).data)


class WalletTopUpView(APIView):
    throttle_classes = [ScopedThrottle]
    throttle_scope = "top_up"

    @extend_schema(request=s.TopUpInput, parameters=[IDEMPOTENCY_KEY],
                   responses={201: TopUpOutput, **IDEMPOTENCY_ERRORS, **errors(
                       e400="invalid_amount: more than one payment may be (with `limit`)",
                       e409="top_up_limit_reached: the day's top-ups would pass the daily "
                            "cap (with `limit`, `used`); idempotency_request_in_progress",
                       e503="payment_provider_unavailable: nothing was charged, try again; "
                            "demo_payments_refused: misconfigured deployment")})
    @idempotent
    def post(self, request: Request) -> Response:
        """Start a wallet top-up.

        Starts a payment of `amount` minor units with the deployment's payment provider and
        says what to do next (`next_action`): Stripe: confirm the payment with the
        `client_secret` (the wallet is credited when Stripe's signed webhook says it
        succeeded, never on the client's word); bank transfer: transfer the amount with the
        `reference` (credited when staff confirm receipt); demo (development only): credited
        at once. Capped per payment and per day per account; idempotent with an
        `Idempotency-Key`."""
        data = s.TopUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        started = payments.payment_start(user=request.user, amount=data.validated_data["amount"])
        return Response(
            {"payment": s.PaymentOutput(started.payment).data,
             "next_action": started.next_action, "balance": started.balance},
            status=status.HTTP_201_CREATED,
        )


class WalletTransactionsView(PaginatedListView):
    operation_docs = {
        "GET": """List my wallet's ledger.

        Every movement, newest first: kind, signed amount, balance after it, reference. Filter
        by `kind` and date.""",
    }

    serializer_class = s.WalletTransactionOutput
    filterset_class = filters.WalletTransactionFilters

    def get_queryset(self):
        return selectors.wallet_transactions_of(self.request.user)


class OrderListView(PaginatedListView):
    operation_docs = {
        "GET": """List my orders.

        Newest first, each with its tickets. Filter by `status`, `event` and date.""",
    }

    serializer_class = s.OrderOutput
    filterset_class = filters.OrderFilters

    def get_queryset(self):
        return selectors.orders_of(self.request.user)


class OrderDetailView(APIView):
    @extend_schema(responses={200: s.OrderOutput, **errors(e404="order_not_found")})
    def get(self, request: Request, pk: int) -> Response:
        """Read one of my orders.

        With its tickets; another user's order answers 404."""
        order = selectors.orders_of(request.user).filter(pk=pk).first()
        if order is None:
            raise NotFound(gettext("No such order."), code="order_not_found")
        return Response(s.OrderOutput(order).data)


class TicketListView(PaginatedListView):
    """My tickets, each with its event (title, start, venue and address) and seat."""

    operation_docs = {
        "GET": """List my tickets.

        Each with its event (title, start, venue and address), section, row, seat and price.
        Filter by `event` and `status`; `search` in event and venue names.""",
    }

    serializer_class = s.TicketOutput
    filterset_class = filters.TicketFilters

    def get_queryset(self):
        return selectors.tickets_of(self.request.user)


class TicketDetailView(APIView):
    @extend_schema(responses={200: s.TicketOutput, **errors(e404="ticket_not_found")})
    def get(self, request: Request, pk: int) -> Response:
        """Read one of my tickets.

        With its signed `code` (what the gate scans) and the address of its QR code; another
        user's ticket answers 404."""
        return Response(s.TicketOutput(_my_ticket(request.user, pk)).data)


class TicketQrView(APIView):
    @extend_schema(responses={(200, "image/svg+xml"): OpenApiTypes.STR,
                              **errors(e404="ticket_not_found")})
    def get(self, request: Request, pk: int) -> HttpResponse:
        """My ticket's QR code (SVG).

        The signed code as a QR code, to show at the gate; another user's ticket answers 404.
        """
        svg = ticket_codes.ticket_qr_svg(_my_ticket(request.user, pk), scale=6)
        response = HttpResponse(svg, content_type="image/svg+xml")
        response["Cache-Control"] = "private, no-store"
        return response


PDF_RESPONSE = {(200, "application/pdf"): OpenApiTypes.BINARY}


def pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


class TicketPdfView(APIView):
    @extend_schema(responses={**PDF_RESPONSE, **errors(e404="ticket_not_found")})
    def get(self, request: Request, pk: int) -> HttpResponse:
        """Download my ticket as a PDF.

        One page with the event, the seat, the QR code and the signed code (a cancelled
        ticket's page says it is not valid); another user's ticket answers 404."""
        ticket = _my_ticket(request.user, pk)
        return pdf_response(tickets_pdf([ticket]), f"ticket-{ticket.pk}.pdf")


class OrderPdfView(APIView):
    @extend_schema(responses={**PDF_RESPONSE, **errors(e404="order_not_found")})
    def get(self, request: Request, pk: int) -> HttpResponse:
        """Download my order's tickets as a PDF.

        One page per ticket, as attached to the confirmation email (a cancelled ticket's
        page says it is not valid); another user's order answers 404."""
        tickets = list(selectors.tickets_of(request.user).filter(order_id=pk).order_by("id"))
        if not tickets:  # every order has tickets: not this user's (or no such order)
            raise NotFound(gettext("No such order."), code="order_not_found")
        return pdf_response(tickets_pdf(tickets), f"tickets-order-{pk}.pdf")


def _my_ticket(user, pk: int) -> Ticket:
    ticket = selectors.tickets_of(user).filter(pk=pk).first()
    if ticket is None:
        raise TicketNotFound()
    return ticket


class MyHoldsView(PaginatedListView):
    """My live holds (not bought, released or expired), with their tokens: a client that
    lost a token finds it here, to buy or release the seats."""

    operation_docs = {
        "GET": """List my live holds.

        Holds that still hold seats, with their tokens, seats and expiry: a client that lost a
        token finds it here, to buy or release the seats.""",
    }

    serializer_class = s.HoldOutput
    filterset_class = filters.HoldFilters

    def get_queryset(self):
        return selectors.holds_live_of(self.request.user)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        selectors.holds_seat_lines(page)  # every hold's seats in one go
        return page


class TicketCancelView(APIView):
    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY], responses={
        200: s.TicketOutput, **IDEMPOTENCY_ERRORS, **errors(
            e409="ticket_not_refundable, idempotency_request_in_progress")})
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        """Cancel my ticket.

        Before the event starts: the price goes back to the wallet and the seat back on sale."""
        ticket = orders.ticket_cancel(ticket_id=pk, user=request.user)
        ticket = selectors.tickets_of(request.user).get(pk=ticket.pk)
        return Response(s.TicketOutput(ticket).data)
