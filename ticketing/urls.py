"""Ticketing API, included under /api/ (see README "API: ticketing")."""

from core.routes import api_path
from ticketing import payment_views, queue_views, views, waiting_list_views

urlpatterns = [
    api_path("venues/", views.VenueListView.as_view(), name="venue-list"),
    api_path("venues/<int:pk>/", views.VenueDetailView.as_view(), name="venue-detail"),
    api_path("venues/<int:pk>/layout/", views.VenueLayoutView.as_view(), name="venue-layout"),
    api_path("events/<int:pk>/prices/", views.EventPricesView.as_view(), name="event-prices"),
    api_path("events/<int:pk>/sale/", views.EventSaleView.as_view(), name="event-sale"),
    api_path("events/<int:pk>/seats/", views.SeatMapView.as_view(), name="event-seats"),
    api_path(
        "events/<int:pk>/seats/<int:seat_id>/history/",
        views.SeatHistoryView.as_view(),
        name="seat-history",
    ),
    api_path("events/<int:pk>/holds/", views.EventHoldsView.as_view(), name="event-holds"),
    api_path("events/<int:pk>/queue/", queue_views.QueueView.as_view(), name="event-queue"),
    api_path("events/<int:pk>/waiting-room/", queue_views.WaitingRoomView.as_view(),
             name="waiting-room"),
    *(api_path(f"events/<int:pk>/waiting-room/{action}/",
               queue_views.WaitingRoomActionView.as_view(), name=f"waiting-room-{action}",
               kwargs={"action": action}) for action in queue_views.ACTIONS),
    api_path("events/<int:pk>/waiting-list/", waiting_list_views.WaitingListView.as_view(),
             name="event-waiting-list"),
    api_path("events/<int:pk>/waiting-list/staff/",
             waiting_list_views.WaitingListStaffView.as_view(), name="event-waiting-list-staff"),
    api_path("holds/<str:token>/", views.HoldView.as_view(), name="hold-detail"),
    api_path("holds/<str:token>/purchase/", views.HoldPurchaseView.as_view(), name="hold-purchase"),
    api_path("wallet/", views.WalletView.as_view(), name="wallet"),
    api_path("wallet/top-up/", views.WalletTopUpView.as_view(), name="wallet-top-up"),
    api_path(
        "wallet/transactions/", views.WalletTransactionsView.as_view(), name="wallet-transactions"
    ),
    api_path("payments/", payment_views.PaymentListView.as_view(), name="payment-list"),
    api_path("payments/stripe/webhook/", payment_views.StripeWebhookView.as_view(),
             name="payment-stripe-webhook"),
    api_path("payments/<int:pk>/confirm/", payment_views.PaymentConfirmView.as_view(),
             name="payment-confirm"),
    api_path("payments/<int:pk>/refund/", payment_views.PaymentRefundView.as_view(),
             name="payment-refund"),
    api_path("orders/", views.OrderListView.as_view(), name="order-list"),
    api_path("orders/<int:pk>/", views.OrderDetailView.as_view(), name="order-detail"),
    api_path("orders/<int:pk>/pdf/", views.OrderPdfView.as_view(), name="order-pdf"),
    api_path("tickets/", views.TicketListView.as_view(), name="ticket-list"),
    api_path("tickets/<int:pk>/", views.TicketDetailView.as_view(), name="ticket-detail"),
    api_path("tickets/<int:pk>/qr/", views.TicketQrView.as_view(), name="ticket-qr"),
    api_path("tickets/<int:pk>/pdf/", views.TicketPdfView.as_view(), name="ticket-pdf"),
    # "Mine" lists live under /api/accounts/me/ (docs/architecture.md); /api/tickets/ stays.
    api_path("accounts/me/tickets/", views.TicketListView.as_view(), name="my-tickets"),
    api_path("accounts/me/holds/", views.MyHoldsView.as_view(), name="my-holds"),
    api_path("accounts/me/payments/", payment_views.MyPaymentListView.as_view(),
             name="my-payments"),
    api_path("tickets/<int:pk>/cancel/", views.TicketCancelView.as_view(), name="ticket-cancel"),
]
