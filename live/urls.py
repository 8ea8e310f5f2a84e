from core.routes import api_path
from live.exports import FORMATS
from live.views import checkin, draws, lotteries, mine, organiser

DRAW = "events/<int:pk>/draws/<int:draw_id>/"

urlpatterns: list = [
    api_path("events/<int:pk>/checkin/", checkin.CheckinView.as_view(), name="event-checkin"),
    api_path("events/<int:pk>/screen-keys/", checkin.ScreenKeyListView.as_view(),
             name="screen-key-list"),
    api_path("events/<int:pk>/screen-keys/<int:key_id>/revoke/",
             checkin.ScreenKeyRevokeView.as_view(), name="screen-key-revoke"),
    api_path("events/<int:pk>/operator/forward/", organiser.ForwardView.as_view(),
             name="operator-forward"),
    api_path("events/<int:pk>/draws/", draws.DrawListView.as_view(), name="draw-list"),
    api_path(DRAW, draws.DrawDetailView.as_view(), name="draw-detail"),
    api_path(DRAW + "participate/", draws.ParticipateView.as_view(), name="draw-participate"),
    api_path(DRAW + "perform/", draws.PerformView.as_view(), name="draw-perform"),
    api_path(DRAW + "claim/", draws.ClaimView.as_view(), name="draw-claim"),
    api_path(DRAW + "redraw/", draws.RedrawView.as_view(), name="draw-redraw"),
    api_path(DRAW + "proof/", draws.ProofView.as_view(), name="draw-proof"),
    api_path(DRAW + "notify/", draws.NotifyWinnersView.as_view(), name="draw-notify"),
    api_path(DRAW + "results/", draws.ResultLookupView.as_view(), name="draw-results"),
    *[api_path(DRAW + f"participants.{fmt}", organiser.ParticipantsExportView.as_view(),
               name=f"draw-participants-{fmt}", kwargs={"fmt": fmt}) for fmt in FORMATS],
    *[api_path(f"events/<int:pk>/checkins.{fmt}", organiser.CheckinsExportView.as_view(),
               name=f"event-checkins-{fmt}", kwargs={"fmt": fmt}) for fmt in FORMATS],
    api_path("lotteries/", lotteries.LotteryListView.as_view(), name="lottery-list"),
    api_path("lotteries/<int:pk>/", lotteries.LotteryDetailView.as_view(), name="lottery-detail"),
    api_path("winning-ballots/", lotteries.WinningBallotsView.as_view(), name="winning-ballots"),
    api_path("winning-ballots/<int:pk>/", lotteries.WinningBallotDetailView.as_view(),
             name="winning-ballot-detail"),
    api_path("accounts/me/entries/", mine.MyEntriesView.as_view(), name="my-entries"),
]
