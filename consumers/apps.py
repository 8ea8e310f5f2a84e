from django.apps import AppConfig


class ConsumersConfig(AppConfig):
    name = "consumers"
    verbose_name = "Realtime consumers"

    def ready(self) -> None:
        from consumers import drain
        from core.signals import worker_draining

        # A draining worker (manage.py serve on SIGTERM) closes its sockets with 1012.
        worker_draining.connect(drain.on_worker_draining, dispatch_uid="consumers_drain")
