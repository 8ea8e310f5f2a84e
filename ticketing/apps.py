from django.apps import AppConfig


class TicketingConfig(AppConfig):
    name = "ticketing"
    verbose_name = "Ticketing"

    def ready(self) -> None:
        from core import metrics
        from core.periodic import register_periodic
        from core.streams import StreamKind, register_stream_kind
        from ticketing.idempotency import idempotency_keys_purge
        from ticketing.selectors import active_hold_count, seat_map_snapshot
        from ticketing.services.holds import holds_expire

        # The public seat map: the viewer matters only through is_staff (drafts).
        register_stream_kind(StreamKind("seats", snapshot=seat_map_snapshot,
                                        shared_by_audience=True))
        # Read at scrape time: one indexed count, no bookkeeping on the hot path.
        metrics.LIVE_HOLDS.set_function(active_hold_count)
        register_periodic("ticketing.expire_holds", holds_expire, every_seconds=1)
        register_periodic(
            "ticketing.purge_idempotency_keys", idempotency_keys_purge, every_seconds=3600
        )
