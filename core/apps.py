from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Accounts and catalog"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from core.models import User
        from core.services import waitlist

        # Keep the Redis waitlist ranking in step with every save of a user.
        post_save.connect(waitlist.on_user_saved, sender=User, dispatch_uid="waitlist_rank_save")
        post_delete.connect(
            waitlist.on_user_deleted, sender=User, dispatch_uid="waitlist_rank_delete"
        )
