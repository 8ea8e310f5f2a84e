from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Accounts and catalog"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from core import audit, webhooks
        from core.models import User
        from core.periodic import register_periodic
        from core.services import waitlist

        register_periodic("core.audit.seal", audit.seal, every_seconds=5)
        register_periodic("core.webhooks.deliver_due", webhooks.deliver_due, every_seconds=1)

        # Keep the Redis waitlist ranking in step with every save of a user
        # (registration, waitlist sign-up, createsuperuser, admin edits of
        # staff/active): an index follows its table, whoever writes it.
        post_save.connect(waitlist.on_user_saved, sender=User, dispatch_uid="waitlist_rank_save")
        post_delete.connect(
            waitlist.on_user_deleted, sender=User, dispatch_uid="waitlist_rank_delete"
        )
