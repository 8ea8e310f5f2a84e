from core.api import webhooks
from core.routes import api_path

urlpatterns = [
    api_path("events/<int:event_id>/webhooks/", webhooks.WebhookEndpointList.as_view(),
             name="event-webhooks"),
    api_path("events/<int:event_id>/webhooks/<int:pk>/", webhooks.WebhookEndpointDetail.as_view(),
             name="event-webhook"),
    api_path("events/<int:event_id>/webhooks/<int:pk>/deliveries/",
             webhooks.WebhookDeliveryList.as_view(), name="event-webhook-deliveries"),
]
