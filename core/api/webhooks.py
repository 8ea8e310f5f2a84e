"""Staff manage an event's webhook endpoints and read their delivery log."""

from django.shortcuts import get_object_or_404
from rest_framework import generics, serializers

from core.errors import UnsafeDestination
from core.filters import FilteredListMixin, WebhookDeliveryFilters, WebhookEndpointFilters
from core.models import DeliveryAttempt, Event, WebhookDelivery, WebhookEndpoint
from core.outbound import check_destination
from core.permissions import StaffModelPermission
from core.services.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.Kind.choices),
        required=False, allow_empty=True,
        help_text="Kinds to receive; empty or omitted means all.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "kinds", "is_active", "secret", "created_at"]
        read_only_fields = ["id", "secret", "created_at"]

    def validate_url(self, value: str) -> str:
        try:
            check_destination(value, resolve=False)
        except UnsafeDestination as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value

    def validate_kinds(self, value: list[str]) -> list[str]:
        return sorted(set(value))


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["at", "status_code", "error", "duration_ms", "succeeded"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    attempt_log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "kind", "payload", "status", "attempts", "next_attempt_at", "created_at",
            "delivered_at", "attempt_log",
        ]


class _EventScoped:
    permission_classes = [StaffModelPermission]

    def get_event(self) -> Event:
        return get_object_or_404(Event, pk=self.kwargs["event_id"])


class WebhookEndpointList(_EventScoped, FilteredListMixin, generics.ListCreateAPIView):
    operation_docs = {
        "GET": """List an event's webhooks.

        Staff with `core.view_webhookendpoint`: each endpoint's URL, kinds and state.""",
        "POST": """Add a webhook to an event.

        Staff with `core.add_webhookendpoint`: a public HTTPS URL and the kinds it receives; the
        signing secret is generated.""",
    }

    serializer_class = WebhookEndpointSerializer
    filterset_class = WebhookEndpointFilters
    staff_permissions = {"GET": ("core.view_webhookendpoint",),
                         "POST": ("core.add_webhookendpoint",)}

    def get_queryset(self):
        return WebhookEndpoint.objects.filter(event=self.get_event()).order_by("id")

    def perform_create(self, serializer):
        serializer.instance = webhook_endpoint_create(
            event=self.get_event(), actor=self.request.user, **serializer.validated_data)


class WebhookEndpointDetail(_EventScoped, generics.RetrieveUpdateDestroyAPIView):
    operation_docs = {
        "GET": """Read a webhook.

        Staff with `core.view_webhookendpoint`.""",
        "PUT": """Replace a webhook.

        Staff with `core.change_webhookendpoint`.""",
        "PATCH": """Change a webhook.

        Staff with `core.change_webhookendpoint`, e.g. `is_active` to pause it.""",
        "DELETE": """Delete a webhook.

        Staff with `core.delete_webhookendpoint`; queued deliveries go with it.""",
    }

    serializer_class = WebhookEndpointSerializer
    staff_permissions = {"GET": ("core.view_webhookendpoint",),
                         "PUT": ("core.change_webhookendpoint",),
                         "PATCH": ("core.change_webhookendpoint",),
                         "DELETE": ("core.delete_webhookendpoint",)}

    def get_queryset(self):
        return WebhookEndpoint.objects.filter(event_id=self.kwargs["event_id"])

    def perform_update(self, serializer):
        serializer.instance = webhook_endpoint_update(
            endpoint=serializer.instance, actor=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance):
        webhook_endpoint_delete(endpoint=instance, actor=self.request.user)


class WebhookDeliveryList(_EventScoped, FilteredListMixin, generics.ListAPIView):
    operation_docs = {
        "GET": """List a webhook's deliveries.

        Staff with `core.view_webhookdelivery`: each delivery's kind, status and attempts,
        newest first.""",
    }

    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilters
    staff_permissions = {"GET": ("core.view_webhookdelivery",)}

    def get_queryset(self):
        endpoint = get_object_or_404(
            WebhookEndpoint, pk=self.kwargs["pk"], event_id=self.kwargs["event_id"]
        )
        return endpoint.deliveries.prefetch_related("attempt_log").order_by("-id")
