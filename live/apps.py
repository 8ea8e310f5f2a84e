from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live draws"

    def ready(self) -> None:
        from core.periodic import register_periodic
        from core.personal_data import register_personal_data
        from core.streams import register_stream_kind
        from live import forwarding, personal_data
        from live.streams import DRAW_KIND, EVENT_KIND

        register_stream_kind(EVENT_KIND)
        register_stream_kind(DRAW_KIND)
        register_periodic("live.forwarding.forward_due", forwarding.forward_due, every_seconds=2)
        register_personal_data(personal_data.SECTION)
