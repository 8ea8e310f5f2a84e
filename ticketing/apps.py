from django.apps import AppConfig
from django.conf import settings


class TicketingConfig(AppConfig):
    name = "ticketing"
    verbose_name = "Ticketing"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from core import metrics
        from core.models import Event
        from core.periodic import register_periodic
        from core.personal_data import register_personal_data
        from core.streams import register_stream_kind
        from ticketing import personal_data
        from ticketing.idempotency import idempotency_keys_purge
        from ticketing.selectors import active_hold_count
        from ticketing.services import ticket_codes
        from ticketing.services.holds import holds_expire
        from ticketing.services.order_confirmation import order_confirmations_send
        from ticketing.services.waiting_list import waiting_list_offers_make
        from ticketing.services.waiting_room import (
            observe_request,
            on_event_saved,
            waiting_rooms_admit,
        )
        from ticketing.streams import (
            GATES_KIND,
            QUEUE_KIND,
            QUEUE_STAFF_KIND,
            SEATS_KIND,
            USER_KIND,
        )

        register_stream_kind(SEATS_KIND)
        register_stream_kind(QUEUE_KIND)
        register_stream_kind(QUEUE_STAFF_KIND)
        register_stream_kind(GATES_KIND)
        register_stream_kind(USER_KIND)
        # An event's status decides who may see its line: copied to the line's store.
        post_save.connect(on_event_saved, sender=Event, dispatch_uid="waiting_room_event_saved")
        post_save.connect(ticket_codes.on_event_saved, sender=Event,
                          dispatch_uid="ticket_signing_key_event_saved")
        # Hold and purchase latency made with admission passes: the adaptive rate's input.
        metrics.add_request_observer(observe_request)
        # Read at scrape time: one indexed count, no bookkeeping on the hot path.
        metrics.LIVE_HOLDS.set_function(active_hold_count)
        register_periodic("ticketing.expire_holds", holds_expire, every_seconds=1)
        register_periodic("ticketing.order_confirmations_send", order_confirmations_send,
                          every_seconds=1)
        register_periodic("ticketing.waiting_list_offers", waiting_list_offers_make,
                          every_seconds=1)
        register_periodic("ticketing.waiting_rooms_admit", waiting_rooms_admit,
                          every_seconds=settings.WAITING_ROOM_ADMIT_SECONDS)
        register_periodic(
            "ticketing.purge_idempotency_keys", idempotency_keys_purge, every_seconds=3600
        )
        register_personal_data(personal_data.SECTION)
