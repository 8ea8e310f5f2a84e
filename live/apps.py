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

        register_stream_kind(StreamKind("event", snapshot=event_snapshot,
                                        screen_key_valid=screen_key_valid))
        register_stream_kind(StreamKind("draw", snapshot=draw_snapshot))
        register_periodic("live.forwarding.forward_due", forwarding.forward_due, every_seconds=2)
