from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Accounts and catalog"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

        from core import audit, streams, webhooks
        from core.models import User
        from core.periodic import register_periodic
        from core.services import accounts, waitlist

        register_periodic("core.audit.seal", audit.seal, every_seconds=5)
        register_periodic("core.webhooks.deliver_due", webhooks.deliver_due, every_seconds=1)
        # Messages published by other processes on embedded defaults (the server
        # publishes them; elsewhere, and with Redis, the job does nothing).
        register_periodic("core.streams.outbox_drain", streams.outbox_drain, every_seconds=0)

        # Keep the Redis waitlist ranking in step with every save of a user
        # (registration, waitlist sign-up, createsuperuser, admin edits of
        # staff/active): an index follows its table, whoever writes it.
        post_save.connect(waitlist.on_user_saved, sender=User, dispatch_uid="waitlist_rank_save")
        post_delete.connect(
            waitlist.on_user_deleted, sender=User, dispatch_uid="waitlist_rank_delete"
        )
        # Bearer tokens are authenticated from their claims: a change of what they
        # claim (or a new password, a deactivation, a deletion) revokes them.
        pre_save.connect(accounts.on_user_saving, sender=User, dispatch_uid="tokens_claims")
        post_save.connect(accounts.on_user_saved, sender=User, dispatch_uid="tokens_revoke")
        pre_delete.connect(accounts.on_user_deleting, sender=User, dispatch_uid="tokens_delete")
