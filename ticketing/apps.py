from django.apps import AppConfig


class TicketingConfig(AppConfig):
    name = "ticketing"
    verbose_name = "Ticketing"

    def ready(self) -> None:
        from core import metrics
        from core.periodic import register_periodic
        from core.streams import StreamKind, register_stream_kind
        from ticketing.idempotency import purge_expired_keys
        from ticketing.selectors import active_hold_count, seat_map_snapshot
        from ticketing.services.holds import expire_holds

        # The public seat map: the viewer matters only through is_staff (drafts).
        register_stream_kind(StreamKind("seats", snapshot=seat_map_snapshot,
                                        shared_by_audience=True))
        # Read at scrape time: one indexed count, no bookkeeping on the hot path.
        metrics.LIVE_HOLDS.set_function(active_hold_count)
        register_periodic("ticketing.expire_holds", expire_holds, every_seconds=1)
        register_periodic(
            "ticketing.purge_idempotency_keys", purge_expired_keys, every_seconds=3600
        )
