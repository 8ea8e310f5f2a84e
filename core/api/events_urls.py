from core.api import events
from core.routes import api_path

urlpatterns: list = [
    api_path("events/", events.EventListView.as_view(), name="event-list"),
    api_path("events/<int:pk>/", events.EventDetailView.as_view(), name="event-detail"),
]
