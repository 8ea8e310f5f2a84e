from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Accounts and catalog"

    def ready(self) -> None:
        from core import audit, webhooks
        from core.periodic import register_periodic

        register_periodic("core.audit.seal", audit.seal, every_seconds=5)
        register_periodic("core.webhooks.deliver_due", webhooks.deliver_due, every_seconds=1)
