from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live draws"

    def ready(self) -> None:
        from core.periodic import register_periodic
        from core.streams import StreamKind, register_stream_kind
        from live import forwarding
        from live.selectors import screen_key_valid
        from live.streams import draw_snapshot, event_snapshot

        # Both snapshots depend on the viewer only through is_staff and screen.
        register_stream_kind(StreamKind("event", snapshot=event_snapshot,
                                        screen_key_valid=screen_key_valid,
                                        shared_by_audience=True))
        register_stream_kind(StreamKind("draw", snapshot=draw_snapshot, shared_by_audience=True))
        register_periodic("live.forwarding.forward_due", forwarding.forward_due, every_seconds=2)
