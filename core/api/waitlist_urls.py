from core.api import waitlist as views
from core.routes import api_path

# Fixed words before "<code>": a code never equals them (codes are 8 characters).
urlpatterns: list = [
    api_path("waitlist/join/", views.WaitlistJoinView.as_view(), name="waitlist-join"),
    api_path(
        "waitlist/join/<str:code>/",
        views.WaitlistJoinWithCodeView.as_view(),
        name="waitlist-join-code",
    ),
    api_path(
        "waitlist/confirm-email/", views.ConfirmEmailView.as_view(), name="waitlist-confirm-email"
    ),
    api_path(
        "waitlist/confirm-email/resend/",
        views.ConfirmEmailResendView.as_view(),
        name="waitlist-confirm-email-resend",
    ),
    api_path("waitlist/me/", views.WaitlistMeView.as_view(), name="waitlist-me"),
    api_path("accounts/me/referrals/", views.MyReferralsView.as_view(), name="my-referrals"),
    api_path("waitlist/lookup/", views.WaitlistLookupView.as_view(), name="waitlist-lookup"),
    api_path("waitlist/<str:code>/", views.WaitlistByCodeView.as_view(), name="waitlist-code"),
    api_path("stats/", views.StatsView.as_view(), name="stats"),
    api_path("stats/chart/", views.StatsChartView.as_view(), name="stats-chart"),
]
