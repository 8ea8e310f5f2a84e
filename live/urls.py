from core.routes import api_path
from live import views
from live.exports import FORMATS

DRAW = "events/<int:pk>/draws/<int:draw_id>/"

urlpatterns: list = [
    api_path("events/<int:pk>/checkin/", views.CheckinView.as_view(), name="event-checkin"),
    api_path("events/<int:pk>/screen-keys/", views.ScreenKeyListView.as_view(),
             name="screen-key-list"),
    api_path("events/<int:pk>/screen-keys/<int:key_id>/revoke/",
             views.ScreenKeyRevokeView.as_view(), name="screen-key-revoke"),
    api_path("events/<int:pk>/operator/forward/", views.ForwardView.as_view(),
             name="operator-forward"),
    api_path("events/<int:pk>/draws/", views.DrawListView.as_view(), name="draw-list"),
    api_path(DRAW, views.DrawDetailView.as_view(), name="draw-detail"),
    api_path(DRAW + "participate/", views.ParticipateView.as_view(), name="draw-participate"),
    api_path(DRAW + "perform/", views.PerformView.as_view(), name="draw-perform"),
    api_path(DRAW + "claim/", views.ClaimView.as_view(), name="draw-claim"),
    api_path(DRAW + "redraw/", views.RedrawView.as_view(), name="draw-redraw"),
    api_path(DRAW + "proof/", views.ProofView.as_view(), name="draw-proof"),
    api_path(DRAW + "notify/", views.NotifyWinnersView.as_view(), name="draw-notify"),
    api_path(DRAW + "results/", views.ResultLookupView.as_view(), name="draw-results"),
    *[api_path(DRAW + f"participants.{fmt}", views.ParticipantsExportView.as_view(),
               name=f"draw-participants-{fmt}", kwargs={"fmt": fmt}) for fmt in FORMATS],
    *[api_path(f"events/<int:pk>/checkins.{fmt}", views.CheckinsExportView.as_view(),
               name=f"event-checkins-{fmt}", kwargs={"fmt": fmt}) for fmt in FORMATS],
    api_path("lotteries/", views.LotteryListView.as_view(), name="lottery-list"),
    api_path("lotteries/<int:pk>/", views.LotteryDetailView.as_view(), name="lottery-detail"),
    api_path("winning-ballots/", views.WinningBallotsView.as_view(), name="winning-ballots"),
]
