from django.apps import AppConfig


class WsE2EConfig(AppConfig):
    name = "tests.ws_e2e"
    label = "ws_e2e"

    def ready(self):
        from core.streams import StreamKind, register_stream_kind

        # Last in INSTALLED_APPS: replaces any "event" kind registered before.
        register_stream_kind(
            StreamKind(name="event", snapshot=lambda event_id, viewer: {"id": event_id})
        )
